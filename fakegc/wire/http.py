"""Bounded HTTP/1.1 request reading for the control plane and the RPC proxy (RFC 9112).

Every read has a deadline: the request head (line and fields) must arrive within
``header_timeout`` seconds in total, so a byte trickle does not hold a connection, and a
declared body within ``body_timeout``.  ``Content-Length`` must be decimal digits
(RFC 9112 6.3 item 5: otherwise the message is invalid, answered 400 and closed); a
length over ``max_body`` is answered 413 (RFC 9110 15.5.14).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["HttpError", "HttpLimits", "RequestHead", "content_length", "read_body", "read_head"]


@dataclass(slots=True)
class HttpLimits:
    """Sizes and deadlines for one HTTP listener (README "Limits and defaults")."""

    header_timeout: float = 10.0  # seconds for the whole request head
    body_timeout: float = 30.0  # seconds for a declared body
    max_header: int = 16 * 1024  # bytes of request line + fields
    max_body: int = 1 << 20  # bytes of a declared body


class HttpError(Exception):
    """A request that gets a 4xx answer and a closed connection."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(slots=True)
class RequestHead:
    """The parsed request line and header fields (names lower case)."""

    method: str
    target: str
    headers: dict[str, str]
    size: int


async def read_head(reader: asyncio.StreamReader, limits: HttpLimits) -> RequestHead | None:
    """Read one request head; None on a clean EOF before any byte.

    Raises :class:`HttpError` (400 malformed, 408 too slow, 431 too large) or
    ``asyncio.IncompleteReadError`` when the peer leaves mid-head.
    """
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), limits.header_timeout)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    except asyncio.LimitOverrunError:
        raise HttpError(431, "Request Header Fields Too Large", "request head too large") from None
    except TimeoutError:  # RFC 9110 15.5.9: the server may close a slow request with 408
        raise HttpError(408, "Request Timeout",
                        f"request head not complete within {limits.header_timeout:g} s") from None
    if len(head) > limits.max_header:
        raise HttpError(431, "Request Header Fields Too Large", "request head too large")
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        raise HttpError(400, "Bad Request", "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise HttpError(400, "Bad Request", f"unsupported version {version[:20]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, "Bad Request", "malformed header field")  # RFC 9112 5.1
        key = name.lower()
        if key == "content-length" and key in headers and headers[key] != value.strip():
            raise HttpError(400, "Bad Request", "conflicting Content-Length fields")  # 9112 6.3
        headers[key] = value.strip()
    return RequestHead(method, target, headers, len(head))


def content_length(headers: dict[str, str], limits: HttpLimits, max_body: int | None = None) -> int:
    """The declared body length (0 when absent); 400 when not digits, 413 when over
    ``max_body`` (default ``limits.max_body``)."""
    cap = limits.max_body if max_body is None else max_body
    raw = headers.get("content-length")
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or not raw.isascii() or len(raw) > 19:
        raise HttpError(400, "Bad Request", f"invalid Content-Length {raw[:24]!r}")
    length = int(raw)
    if length > cap:
        raise HttpError(413, "Content Too Large", f"Content-Length {length} over the {cap}-byte limit")
    return length


async def read_body(reader: asyncio.StreamReader, length: int, limits: HttpLimits) -> bytes:
    """Read exactly ``length`` bytes within ``body_timeout`` (408 otherwise)."""
    if not length:
        return b""
    try:
        return await asyncio.wait_for(reader.readexactly(length), limits.body_timeout)
    except TimeoutError:
        raise HttpError(408, "Request Timeout",
                        f"body of {length} bytes not complete within {limits.body_timeout:g} s") from None

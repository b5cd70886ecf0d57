"""RPC over HTTP v2 (MS-RPCH): the Exchange server's RPC proxy, as Outlook Anywhere and
impacket's ``exchanger.py`` reach NSPI (6004) and the referral service (6002).

Each client opens two long-lived HTTP requests, ``RPC_IN_DATA`` and ``RPC_OUT_DATA``
on ``/rpc/rpcproxy.dll?<server>:<port>``, authenticated with NTLM (the 401 challenge
comes on the same keep-alive connection, as IIS sends it) or Basic.  The OUT channel
carries CONN/A1, the IN channel CONN/B1; paired by the virtual-connection cookie, the
proxy answers CONN/A3 and CONN/C2 on the OUT channel (MS-RPCH 3.2.1.5.3) and from
then on RPC PDUs flow client→server on IN and server→client on OUT.  The virtual
connection is handed to the in-process RPC engine (``RpcServer.open_virtual``): no
second TCP hop.  Flow-control acks and pings from the client are accepted; the
proxy never asks the client to recycle a channel (impacket cannot).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import itertools
import ssl
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fakegc.errorlog import ErrorLog
from fakegc.journal import Journal
from fakegc.rpc.auth.base import AuthError
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.sources import SourceCap, default_cap
from fakegc.wire.http import HttpError, HttpLimits, content_length, read_body, read_head

__all__ = ["RpcHttpProxy", "self_signed_cert"]

RTS = 20
MAX_HEADER = 16 * 1024
CHANNEL_LENGTH = 1073741824
CHANNEL_MAX = 1 << 32


def self_signed_cert(common_name: str, directory: str | None = None) -> tuple[str, str]:
    """Generate a self-signed certificate (cryptography); returns (certfile, keyfile)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    out = Path(directory or tempfile.mkdtemp(prefix="fakegc-tls-"))
    certfile, keyfile = out / "cert.pem", out / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)


def _rts(flags: int, commands: list[bytes]) -> bytes:
    body = struct.pack("<HH", flags, len(commands)) + b"".join(commands)
    return struct.pack("<BBBB4sHHI", 5, 0, RTS, 3, b"\x10\x00\x00\x00", 16 + len(body), 0, 0) + body


def conn_a3(timeout_ms: int = 120000) -> bytes:
    """CONN/A3: ConnectionTimeout (MS-RPCH 2.2.4.5)."""
    return _rts(0, [struct.pack("<II", 2, timeout_ms)])


def conn_c2(window: int = 65536, timeout_ms: int = 120000) -> bytes:
    """CONN/C2: Version 1, ReceiveWindowSize, ConnectionTimeout (MS-RPCH 2.2.4.9)."""
    return _rts(0, [struct.pack("<II", 6, 1), struct.pack("<II", 0, window),
                    struct.pack("<II", 2, timeout_ms)])


def _vc_cookie(pdu: bytes) -> bytes:
    """The virtual-connection cookie of CONN/A1 or CONN/B1 (after Version, in a Cookie command)."""
    # header 16, Flags/NumberOfCommands 4, Version command 8, then Cookie: type 4 + 16 bytes
    if len(pdu) < 48 or struct.unpack_from("<I", pdu, 28)[0] != 3:
        raise ValueError("not a CONN/A1 or CONN/B1 RTS PDU")
    return pdu[32:48]


class _OutTransport(asyncio.Transport):
    """What the RPC engine writes to: the OUT channel's HTTP body."""

    def __init__(self, vc: _Virtual) -> None:
        super().__init__()
        self.vc = vc

    def write(self, data: bytes) -> None:  # type: ignore[override]
        if self.vc.out_writer is not None and not self.vc.closed:
            self.vc.out_writer.write(data)

    def close(self) -> None:
        self.vc.close()

    def abort(self) -> None:
        self.vc.close()

    def is_closing(self) -> bool:
        return self.vc.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.vc.peer
        return default


@dataclass(eq=False)
class _Virtual:
    """One virtual connection: its two channels and the engine-side protocol."""

    cookie: bytes
    target: tuple[str, int]
    peer: Any = None
    in_writer: asyncio.StreamWriter | None = None
    out_writer: asyncio.StreamWriter | None = None
    protocol: Any = None
    closed: bool = False
    pending: list[bytes] = field(default_factory=list)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for w in (self.in_writer, self.out_writer):
            if w is not None:
                w.transport.abort()  # a cut, not a polite TLS shutdown: readers see EOF now
        if self.protocol is not None:
            self.protocol.connection_lost(None)


class _Auth(Enum):
    """What an authentication step decided, when it did not name a user."""

    AGAIN = "again"  # a 401 leg was sent; the next request on the connection continues
    REFUSED = "refused"  # answered and closed


@dataclass(slots=True)
class _HttpSession:
    """Per-connection state: the NTLM context across the 401 legs."""

    ntlm: Any = None


class RpcHttpProxy:
    """An RPC-over-HTTP v2 proxy in front of in-process RPC servers."""

    def __init__(self, resolve: Callable[[str, int], Any], journal: Journal | None, creds: Any,
                 host: str = "127.0.0.1", port: int = 0, tls: bool = True,
                 certfile: str | None = None, keyfile: str | None = None, name: str = "ex01",
                 basic: bool = True, limits: HttpLimits | None = None) -> None:
        self.resolve = resolve
        self.journal = journal if journal is not None else Journal()
        self.creds = creds
        self.host = host
        self.port = port
        self.tls = tls
        self.certfile, self.keyfile = certfile, keyfile
        self.name = name
        self.actor = f"{name}-rpchttp"
        self.basic = basic
        self.limits = limits or HttpLimits(max_header=MAX_HEADER)
        self.source_cap: SourceCap | None = default_cap()
        self._server: asyncio.base_events.Server | None = None
        self._virtual: dict[bytes, _Virtual] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self.errors = ErrorLog()  # counters + last summaries, no tracebacks

    async def start(self) -> RpcHttpProxy:
        """Listen (TLS with a generated certificate unless one is given)."""
        ctx = None
        if self.tls:
            if not self.certfile:
                self.certfile, self.keyfile = self_signed_cert(f"{self.name}.contoso.test")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.certfile, self.keyfile)
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=ctx,
                                                  limit=MAX_HEADER * 4)
        self.port = self._server.sockets[0].getsockname()[1]
        self._record("state", None, state="listening", port=self.port, tls=self.tls)
        return self

    async def close(self) -> None:
        """Stop listening and drop every virtual connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.cut_connections("close")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()

    def cut_connections(self, reason: str = "") -> int:
        """Close every channel (clients see their RPC connection fail)."""
        n = len(self._writers)
        for vc in list(self._virtual.values()):
            vc.close()
        self._virtual.clear()
        for w in list(self._writers):
            w.transport.abort()
        return n

    def _record(self, kind: str, conn: int | None, **fields: Any) -> None:
        self.journal.record(self.actor, kind, conn, **fields)

    # -- HTTP ---------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = next(self._ids)
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._record("connect", conn, peer=str(peer))
        release = self.source_cap.admit(peer) if self.source_cap is not None else None
        try:
            if self.source_cap is not None and release is None:  # issue #18: per source
                self._record("protocol_error", conn, error="per-source connection cap")
                writer.transport.abort()
                return
            await self._serve(conn, reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except HttpError as exc:
            self._record("protocol_error", conn, error=exc.detail, status=exc.status)
            self._reply(writer, exc.status, exc.reason, close=True)
        except TimeoutError:
            self._record("protocol_error", conn, error="channel PDU not complete in time")
        except Exception as exc:  # noqa: BLE001 - never let one client hurt the proxy
            self.errors.append(exc)
            self._record("protocol_error", conn, error=repr(exc))
        finally:
            if release is not None:
                release()
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            self._record("disconnect", conn)

    async def _serve(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     peer: Any) -> None:
        """Requests on one HTTP connection until one becomes an RPC channel (MS-RPCH 2.1.2):
        the NTLM legs are answered 401 on the same keep-alive connection (PROTOCOL.md §9)."""
        session = _HttpSession()
        while True:
            try:  # RFC 9112: head within header_timeout, a valid Content-Length
                request = await read_head(reader, self.limits)
                if request is None:
                    return
                # RPC_IN/OUT_DATA declare the channel's lifetime (MS-RPCH 2.1.2.1.1: up
                # to 2 GB); only a body the proxy reads (the 401 legs) meets max_body
                content_length(request.headers, self.limits, max_body=CHANNEL_MAX)
            except HttpError as exc:
                self._record("protocol_error", conn, error=exc.detail, status=exc.status)
                return self._reply(writer, exc.status, exc.reason, close=True)
            method, target, headers = request.method, request.target, request.headers
            self._record("http_request", conn, method=method, target=target[:120])
            if method not in ("RPC_IN_DATA", "RPC_OUT_DATA"):
                return self._reply(writer, 405, "Method Not Allowed", close=True)
            user = await self._authenticate(conn, session, headers, reader, writer)
            if user is _Auth.AGAIN:
                continue
            if user is _Auth.REFUSED:
                return None
            self._record("auth", conn, user=user, channel=method)
            query = urlsplit(target).query
            server, _, port_text = query.rpartition(":")
            try:
                port = int(port_text)
            except ValueError:
                port = -1
            rpc = self.resolve(server, port) if port > 0 else None
            if rpc is None:
                self._record("protocol_error", conn, error=f"no RPC server {query!r}")
                return self._reply(writer, 503, "RPC Error", close=True)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await self._channel(conn, method, reader, writer, rpc, (server, port), peer)
            return None

    async def _authenticate(self, conn: int, session: _HttpSession, headers: dict[str, str],
                            reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> str | None | _Auth:
        """The user, or AGAIN (a 401 leg was sent on this connection), or REFUSED (closed)."""
        auth = headers.get("authorization", "")
        if auth.startswith(("NTLM ", "Negotiate ")):
            return await self._ntlm_leg(conn, session, headers, auth, reader, writer)
        if auth.startswith("Basic ") and self.basic:
            return self._basic(conn, auth, writer)
        await read_body(reader, content_length(headers, self.limits), self.limits)  # dropped
        self._reply(writer, 401, "Unauthorized", extra=self._challenge_headers())
        return _Auth.AGAIN

    async def _ntlm_leg(self, conn: int, session: _HttpSession, headers: dict[str, str], auth: str,
                        reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> str | None | _Auth:
        """HTTP NTLM (MS-RPCH 3.2.5.1.1): NEGOTIATE -> 401 with CHALLENGE, AUTHENTICATE -> user."""
        token = base64.b64decode(auth.split(" ", 1)[1])
        if session.ntlm is None or token[8:9] == b"\x01":
            session.ntlm = NtlmProvider(self.creds, host=self.name, allow_anonymous=False).new_context()
        try:
            step = session.ntlm.step(token)
        except AuthError as exc:
            self._record("auth_failed", conn, reason=exc.reason, scheme="NTLM")
            self._reply(writer, 401, "Unauthorized", close=True, extra=self._challenge_headers())
            return _Auth.REFUSED
        if not step.complete:
            await read_body(reader, content_length(headers, self.limits), self.limits)  # dropped
            self._reply(writer, 401, "Unauthorized",
                        extra=[f"WWW-Authenticate: NTLM {base64.b64encode(step.token or b'').decode()}"])
            return _Auth.AGAIN
        user: str | None = session.ntlm.user
        return user

    def _basic(self, conn: int, auth: str, writer: asyncio.StreamWriter) -> str | _Auth:
        """HTTP Basic (RFC 7617), when the proxy allows it."""
        try:
            raw = base64.b64decode(auth[6:]).decode("utf-8")
            who, _, password = raw.partition(":")
            name = who.split("\\")[-1].split("@")[0]
        except (ValueError, binascii.Error):
            self._reply(writer, 400, "Bad Request", close=True)
            return _Auth.REFUSED
        if not self.creds.check_password(name, password):
            self._record("auth_failed", conn, reason=f"wrong password for {name}", scheme="Basic")
            self._reply(writer, 401, "Unauthorized", close=True, extra=self._challenge_headers())
            return _Auth.REFUSED
        return name

    def _challenge_headers(self) -> list[str]:
        out = ["WWW-Authenticate: NTLM", "WWW-Authenticate: Negotiate"]
        if self.basic:
            out.append('WWW-Authenticate: Basic realm="' + self.name + '"')
        return out

    def _reply(self, writer: asyncio.StreamWriter, code: int, reason: str, close: bool = False,
               extra: list[str] | None = None) -> None:
        head = [f"HTTP/1.1 {code} {reason}", "Server: Microsoft-IIS/10.0", "Content-Length: 0",
                "Connection: " + ("close" if close else "Keep-Alive")] + (extra or [])
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())

    # -- channels -------------------------------------------------------------------------
    async def _read_pdu(self, reader: asyncio.StreamReader, first: bool = False) -> bytes:
        """One PDU from a channel body.  Between PDUs a channel may idle (the RPC engine's
        idle timer closes the virtual connection); once a PDU starts, or for the channel's
        first PDU, the whole PDU must arrive within ``body_timeout``."""
        deadline = self.limits.body_timeout
        if first:
            start = await asyncio.wait_for(reader.readexactly(1), deadline)
        else:
            start = await reader.readexactly(1)

        async def rest() -> bytes:
            head = start + await reader.readexactly(15)
            n = head[8] | head[9] << 8
            if n < 16 or head[0] != 5:
                raise ValueError("not an RPC PDU on the channel")
            return head + await reader.readexactly(n - 16)

        return await asyncio.wait_for(rest(), deadline)

    async def _channel(self, conn: int, method: str, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter, rpc: Any, target: tuple[str, int], peer: Any) -> None:
        first = await self._read_pdu(reader, first=True)
        if first[2] != RTS:
            self._record("protocol_error", conn, error="channel does not start with an RTS PDU")
            return
        cookie = _vc_cookie(first)
        vc = self._virtual.get(cookie)
        if vc is None:
            vc = _Virtual(cookie, target, peer)
            self._virtual[cookie] = vc
        if method == "RPC_OUT_DATA":
            vc.out_writer = writer
        else:
            vc.in_writer = writer
        self._record("rts", conn, pdu="CONN/A1" if method == "RPC_OUT_DATA" else "CONN/B1",
                     cookie=cookie.hex(), target=f"{target[0]}:{target[1]}")
        if vc.in_writer is not None and vc.out_writer is not None and vc.protocol is None:
            vc.out_writer.write(b"HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\n"
                                b"Content-Length: %d\r\n\r\n" % CHANNEL_LENGTH)
            vc.out_writer.write(conn_a3() + conn_c2())
            vc.protocol = rpc.open_virtual(_OutTransport(vc))
            self._record("rts", conn, pdu="CONN/A3+C2", cookie=cookie.hex())
            for pdu in vc.pending:
                vc.protocol.data_received(pdu)
            vc.pending.clear()
        try:
            while not vc.closed:
                try:
                    pdu = await self._read_pdu(reader)
                except asyncio.IncompleteReadError:
                    break
                if method == "RPC_OUT_DATA":
                    continue  # nothing more is expected on OUT
                if pdu[2] == RTS:
                    continue  # flow-control acks, pings: nothing to answer for our window sizes
                if vc.protocol is None:
                    vc.pending.append(pdu)
                else:
                    vc.protocol.data_received(pdu)
        except ValueError as exc:
            self._record("protocol_error", conn, error=str(exc))
        finally:
            vc.close()
            self._virtual.pop(cookie, None)

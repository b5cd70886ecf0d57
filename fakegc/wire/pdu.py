"""Connection-oriented DCE/RPC PDU codec (C706 §12.6, MS-RPCE 2.2.2).

Hand-written with :mod:`struct` for speed (PROTOCOL.md §7); impacket's
``rpcrt`` structures are the reference these are tested against.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "BINDNAK_REASON",
    "HEADER_LEN",
    "PFC",
    "PTYPE",
    "RESULT",
    "BindPdu",
    "CommonHeader",
    "ContextElem",
    "RequestPdu",
    "ResultItem",
    "SecTrailer",
    "pack_bind_ack",
    "pack_bind_nak",
    "pack_fault",
    "pack_header",
    "pack_response_header",
    "pack_sec_trailer",
    "pack_syntax",
    "parse_bind",
    "parse_header",
    "parse_request",
    "parse_sec_trailer",
]

HEADER_LEN = 16
_HDR = struct.Struct("<BBBB4sHHI")
_SYNTAX = struct.Struct("<16sHH")
_SEC_TRAILER = struct.Struct("<BBBBI")


class PTYPE:
    """PDU types (C706 §12.6.4.1)."""

    REQUEST = 0
    PING = 1
    RESPONSE = 2
    FAULT = 3
    BIND = 11
    BIND_ACK = 12
    BIND_NAK = 13
    ALTER_CONTEXT = 14
    ALTER_CONTEXT_RESP = 15
    AUTH3 = 16
    SHUTDOWN = 17
    CO_CANCEL = 18
    ORPHANED = 19

    NAMES: ClassVar[dict[int, str]] = {
        0: "request", 2: "response", 3: "fault", 11: "bind", 12: "bind_ack", 13: "bind_nak",
        14: "alter_context", 15: "alter_context_resp", 16: "auth3", 17: "shutdown",
        18: "co_cancel", 19: "orphaned"}


class PFC:
    """pfc_flags bits (C706 §12.6.3.1, MS-RPCE 2.2.2.3)."""

    FIRST_FRAG = 0x01
    LAST_FRAG = 0x02
    PENDING_CANCEL = 0x04  # request; in bind/bind_ack: SUPPORT_HEADER_SIGN
    SUPPORT_HEADER_SIGN = 0x04
    CONC_MPX = 0x10
    DID_NOT_EXECUTE = 0x20
    MAYBE = 0x40
    OBJECT_UUID = 0x80


class RESULT:
    """p_cont_def_result_t and provider reasons (C706 §12.6.3.1, MS-RPCE 2.2.2.4)."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    PROVIDER_REJECTION = 2
    NEGOTIATE_ACK = 3
    REASON_NOT_SPECIFIED = 0
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 1
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 2
    LOCAL_LIMIT_EXCEEDED = 3


class BINDNAK_REASON:
    """bind_nak provider_reject_reason (C706 §12.6.3.1, MS-RPCE 2.2.2.5)."""

    NOT_SPECIFIED = 0
    TEMPORARY_CONGESTION = 1
    LOCAL_LIMIT_EXCEEDED = 2
    PROTOCOL_VERSION_NOT_SUPPORTED = 4
    AUTHENTICATION_TYPE_NOT_RECOGNIZED = 8
    INVALID_CHECKSUM = 9


class PduError(ValueError):
    """A PDU that cannot be parsed (answered with a protocol error)."""


@dataclass(slots=True)
class CommonHeader:
    """The 16-byte common header."""

    vers: int
    vers_minor: int
    ptype: int
    flags: int
    drep: bytes
    frag_length: int
    auth_length: int
    call_id: int


def parse_header(data: bytes | memoryview) -> CommonHeader:
    """Decode the common header of ``data`` (at least 16 bytes)."""
    if len(data) < HEADER_LEN:
        raise PduError("short header")
    return CommonHeader(*_HDR.unpack_from(data, 0))


def pack_header(ptype: int, flags: int, frag_length: int, auth_length: int, call_id: int,
                drep: bytes = b"\x10\x00\x00\x00") -> bytes:
    """Encode a common header (version 5.0, little-endian NDR by default)."""
    return _HDR.pack(5, 0, ptype, flags, drep, frag_length, auth_length, call_id)


def pack_syntax(syntax: tuple[uuidlib.UUID, int, int] | None) -> bytes:
    """p_syntax_id_t: UUID (LE fields) + major + minor; None → 20 zero bytes."""
    if syntax is None:
        return b"\x00" * 20
    return _SYNTAX.pack(syntax[0].bytes_le, syntax[1], syntax[2])


def _unpack_syntax(data: bytes | memoryview, off: int) -> tuple[uuidlib.UUID, int, int]:
    raw, major, minor = _SYNTAX.unpack_from(data, off)
    return (uuidlib.UUID(bytes_le=bytes(raw)), major, minor)


@dataclass(slots=True)
class ContextElem:
    """One presentation context offered in a bind / alter_context."""

    ctx_id: int
    abstract: tuple[uuidlib.UUID, int, int]
    transfers: list[tuple[uuidlib.UUID, int, int]]
    raw_transfers: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class BindPdu:
    """A decoded bind or alter_context body."""

    max_xmit_frag: int
    max_recv_frag: int
    assoc_group_id: int
    contexts: list[ContextElem]


def parse_bind(body: bytes | memoryview) -> BindPdu:
    """Decode a bind/alter_context body (after the common header, before auth)."""
    if len(body) < 12:
        raise PduError("short bind")
    max_xmit, max_recv, group, n_ctx = struct.unpack_from("<HHIB", body, 0)
    off = 12
    contexts: list[ContextElem] = []
    for _ in range(n_ctx):
        if off + 24 > len(body):
            raise PduError("bind context list truncated")
        ctx_id, n_ts = struct.unpack_from("<HB", body, off)
        abstract = _unpack_syntax(body, off + 4)
        off += 24
        transfers = []
        raws = []
        for _ in range(n_ts):
            if off + 20 > len(body):
                raise PduError("bind transfer syntaxes truncated")
            raws.append(bytes(body[off:off + 20]))
            transfers.append(_unpack_syntax(body, off))
            off += 20
        if n_ts == 0:
            raise PduError("presentation context without transfer syntax")
        contexts.append(ContextElem(ctx_id, abstract, transfers, raws))
    return BindPdu(max_xmit, max_recv, group, contexts)


@dataclass(slots=True)
class ResultItem:
    """One p_result_t of a bind_ack / alter_context_resp."""

    result: int
    reason: int
    syntax: tuple[uuidlib.UUID, int, int] | None


def pack_bind_ack(max_xmit: int, max_recv: int, assoc_group: int, sec_addr: bytes,
                  results: list[ResultItem]) -> bytes:
    """Body of a bind_ack / alter_context_resp (without common header or auth).

    ``sec_addr`` is the port spec *including* its NUL, or empty (alter_context_resp).
    The result list starts 4-aligned relative to the PDU start (C706 §12.6.4.4).
    """
    head = struct.pack("<HHIH", max_xmit, max_recv, assoc_group, len(sec_addr)) + sec_addr
    pad = (4 - (HEADER_LEN + len(head)) % 4) % 4
    out = [head, b"\x00" * pad, struct.pack("<BBH", len(results), 0, 0)]
    for item in results:
        out.append(struct.pack("<HH", item.result, item.reason))
        out.append(pack_syntax(item.syntax))
    return b"".join(out)


def pack_bind_nak(reason: int) -> bytes:
    """Body of a bind_nak: reason + the one protocol version we support (5.0)."""
    return struct.pack("<HBBB", reason, 1, 5, 0) + b"\x00" * 3


@dataclass(slots=True)
class RequestPdu:
    """A decoded request fragment header."""

    alloc_hint: int
    ctx_id: int
    opnum: int
    object: uuidlib.UUID | None
    stub_offset: int  # offset of the stub within the PDU


def parse_request(pdu: bytes | memoryview, flags: int) -> RequestPdu:
    """Decode a request's 8 (or 24 with object UUID) header bytes after the common header."""
    if len(pdu) < 24:
        raise PduError("short request")
    alloc_hint, ctx_id, opnum = struct.unpack_from("<IHH", pdu, 16)
    if flags & PFC.OBJECT_UUID:
        if len(pdu) < 40:
            raise PduError("short request with object uuid")
        return RequestPdu(alloc_hint, ctx_id, opnum, uuidlib.UUID(bytes_le=bytes(pdu[24:40])), 40)
    return RequestPdu(alloc_hint, ctx_id, opnum, None, 24)


def pack_response_header(alloc_hint: int, ctx_id: int) -> bytes:
    """The 8 bytes after the common header in a response."""
    return struct.pack("<IHBB", alloc_hint, ctx_id, 0, 0)


def pack_fault(call_id: int, ctx_id: int, status: int, did_not_execute: bool = False) -> bytes:
    """A complete 32-byte fault PDU."""
    flags = PFC.FIRST_FRAG | PFC.LAST_FRAG | (PFC.DID_NOT_EXECUTE if did_not_execute else 0)
    return (pack_header(PTYPE.FAULT, flags, 32, 0, call_id)
            + struct.pack("<IHBBII", 32, ctx_id, 0, 0, status, 0))


@dataclass(slots=True)
class SecTrailer:
    """sec_trailer (MS-RPCE 2.2.2.11)."""

    auth_type: int
    auth_level: int
    pad_length: int
    reserved: int
    context_id: int


def parse_sec_trailer(data: bytes | memoryview, off: int) -> SecTrailer:
    """Decode the 8-byte sec_trailer at ``off``."""
    if off < 0 or off + 8 > len(data):
        raise PduError("sec_trailer out of bounds")
    return SecTrailer(*_SEC_TRAILER.unpack_from(data, off))


def pack_sec_trailer(auth_type: int, level: int, pad: int, context_id: int) -> bytes:
    """Encode a sec_trailer."""
    return _SEC_TRAILER.pack(auth_type, level, pad, 0, context_id)

"""Data representation of connection-oriented PDUs: "receiver makes it right" (C706 §12.6.3.1, §14.1).

A PDU's integer fields (common header and the PDU-type-specific body, C706
§12.6.4) are in the byte order its ``packed_drep[0]`` announces: 0x10 little-endian,
0x00 big-endian.  :func:`to_little_endian` turns a big-endian PDU into the
little-endian form the rest of the engine parses, leaving the stub and the
auth_value untouched (the stub stays in the sender's order; the call layer
decodes it with ``big_endian=True``).  Character sets other than ASCII and
floating-point formats other than IEEE are not accepted (:func:`supported`).
"""

from __future__ import annotations

import struct

from fakegc.wire.pdu import PFC, PTYPE

__all__ = ["call_id", "frag_length", "is_big_endian", "supported", "to_little_endian"]

def is_big_endian(hdr: bytes | bytearray) -> bool:
    """Whether the PDU starting at ``hdr`` announces big-endian integers (drep[0] high nibble 0)."""
    return hdr[4] & 0xF0 == 0x00


def supported(hdr: bytes | bytearray) -> bool:
    """Integer order little or big endian, ASCII characters, IEEE floats (C706 §14.2)."""
    return hdr[4] & 0xF0 in (0x00, 0x10) and hdr[4] & 0x0F == 0 and hdr[5] == 0


def frag_length(hdr: bytes | bytearray) -> int:
    """frag_length of the PDU starting at ``hdr`` (16 bytes available) in its own order."""
    if is_big_endian(hdr):
        return (hdr[8] << 8) | hdr[9]
    return hdr[8] | (hdr[9] << 8)


def call_id(hdr: bytes | bytearray) -> int:
    """call_id of the PDU starting at ``hdr`` in its own order (0 when too short)."""
    if len(hdr) < 16:
        return 0
    return int(struct.unpack_from(">I" if is_big_endian(hdr) else "<I", hdr, 12)[0])


def _swap(buf: bytearray, off: int, size: int) -> None:
    if off + size <= len(buf):
        buf[off:off + size] = buf[off:off + size][::-1]


def _swap_syntax(buf: bytearray, off: int) -> None:
    """p_syntax_id_t: uuid_t (u32, u16, u16, 8 bytes) then u32 if_version (C706 §12.6.3.1)."""
    _swap(buf, off, 4)
    _swap(buf, off + 4, 2)
    _swap(buf, off + 6, 2)
    _swap(buf, off + 16, 4)


def _swap_bind(buf: bytearray, end: int) -> None:
    """rpcconn_bind_hdr_t / alter_context body up to ``end`` (C706 §12.6.4.3)."""
    for off, size in ((16, 2), (18, 2), (20, 4)):
        _swap(buf, off, size)
    if len(buf) < 28:
        return
    count = buf[24]
    off = 28
    for _ in range(count):
        if off + 24 > end:
            return
        _swap(buf, off, 2)  # p_cont_id
        n_ts = buf[off + 2]
        _swap_syntax(buf, off + 4)
        off += 24
        for _ in range(n_ts):
            if off + 20 > end:
                return
            _swap_syntax(buf, off)
            off += 20


def _swap_request(buf: bytearray) -> None:
    """rpcconn_request_hdr_t: alloc_hint, p_cont_id, opnum, optional object uuid (C706 §12.6.4.9)."""
    _swap(buf, 16, 4)
    _swap(buf, 20, 2)
    _swap(buf, 22, 2)
    if buf[3] & PFC.OBJECT_UUID:
        _swap(buf, 24, 4)
        _swap(buf, 28, 2)
        _swap(buf, 30, 2)


def to_little_endian(pdu: bytes) -> bytes:
    """The PDU with header, body fields and sec_trailer in little-endian order, drep 0x10."""
    buf = bytearray(pdu)
    if len(buf) < 16 or not is_big_endian(buf):
        return pdu
    auth_len = (buf[10] << 8) | buf[11]
    for off, size in ((8, 2), (10, 2), (12, 4)):
        _swap(buf, off, size)
    buf[4] = (buf[4] & 0x0F) | 0x10
    auth_off = len(buf) - auth_len - 8 if auth_len else len(buf)
    ptype = buf[2]
    if ptype in (PTYPE.BIND, PTYPE.ALTER_CONTEXT):
        _swap_bind(buf, auth_off)
    elif ptype == PTYPE.REQUEST:
        _swap_request(buf)
    if auth_len and auth_off >= 16:
        _swap(buf, auth_off + 4, 4)  # sec_trailer.auth_context_id (MS-RPCE 2.2.2.11)
    return bytes(buf)

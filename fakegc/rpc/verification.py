"""The verification trailer (MS-RPCE 2.2.2.13, 3.3.1.5.7 / Samba's dcesrv_check_verification_trailer).

At packet integrity and privacy, a client may append to the request stub the
magic ``8a e3 13 71 02 f4 36 71`` (4-aligned) followed by commands:

* BITMASK1 (1): u32 bits; 0x1 = client supports header signing.
* PCONTEXT (2): the interface syntax (20 bytes) and transfer syntax (20 bytes).
* HEADER2  (3): ptype, 3 reserved, drep[4], call_id u32, p_cont_id u16, opnum u16.

Flags on a command: 0x4000 END (last command), 0x8000 MUST_PROCESS.  The server
finds it, checks it and strips it before NDR decoding; a failed check is fault 5.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = bytes.fromhex("8ae3137102f43671")
CMD_BITMASK1 = 0x0001
CMD_PCONTEXT = 0x0002
CMD_HEADER2 = 0x0003
FLAG_END = 0x4000
FLAG_MUST_PROCESS = 0x8000

__all__ = ["MAGIC", "Expected", "VerificationError", "build", "check_and_strip"]


class VerificationError(Exception):
    """The verification trailer failed a check (answered with fault 5)."""


@dataclass(slots=True)
class Expected:
    """What the trailer must agree with."""

    header_signing: bool
    abstract: bytes  # 20-byte p_syntax_id_t
    transfer: bytes  # 20-byte p_syntax_id_t
    ptype: int
    drep: bytes
    call_id: int
    ctx_id: int
    opnum: int


def _find(stub: bytes) -> int:
    """Offset of the magic (4-aligned, within the last 1024 bytes) or -1."""
    start = max(0, len(stub) - 1024)
    pos = stub.rfind(MAGIC, start)
    while pos >= 0 and pos % 4:
        pos = stub.rfind(MAGIC, start, pos + len(MAGIC) - 1)
    return pos


def check_and_strip(stub: bytes, want: Expected) -> tuple[bytes, list[str]]:
    """Return (stub without the trailer, command names seen); raise on a failed check.

    A stub without the magic is returned unchanged with no commands.
    """
    pos = _find(stub)
    if pos < 0:
        return stub, []
    off = pos + len(MAGIC)
    seen: list[str] = []
    while True:
        if off + 4 > len(stub):
            raise VerificationError("truncated verification trailer command")
        command, length = struct.unpack_from("<HH", stub, off)
        value = stub[off + 4: off + 4 + length]
        if len(value) != length:
            raise VerificationError("truncated verification trailer value")
        kind = command & 0x3FFF
        if kind == CMD_BITMASK1:
            if length != 4:
                raise VerificationError("BITMASK1 length")
            bits = struct.unpack("<I", value)[0]
            if bits & 0x1 and not want.header_signing:
                raise VerificationError("BITMASK1 claims header signing that was not negotiated")
            seen.append("BITMASK1")
        elif kind == CMD_PCONTEXT:
            if length != 40 or value[:20] != want.abstract or value[20:] != want.transfer:
                raise VerificationError("PCONTEXT does not match the presentation context")
            seen.append("PCONTEXT")
        elif kind == CMD_HEADER2:
            if length != 16:
                raise VerificationError("HEADER2 length")
            ptype = value[0]
            drep = value[4:8]
            call_id, ctx_id, opnum = struct.unpack_from("<IHH", value, 8)
            if (ptype, drep, call_id, ctx_id, opnum) != (
                want.ptype, want.drep, want.call_id, want.ctx_id, want.opnum
            ):
                raise VerificationError("HEADER2 does not match the request header")
            seen.append("HEADER2")
        elif command & FLAG_MUST_PROCESS:
            raise VerificationError(f"unknown must-process command 0x{command:04x}")
        else:
            seen.append(f"0x{kind:04x}")
        off += 4 + length
        if command & FLAG_END:
            break
    if len(stub) - off > 16:
        raise VerificationError("data after the verification trailer")
    return stub[:pos], seen


def build(commands: list[tuple[int, bytes]]) -> bytes:
    """Encode a trailer (for tests and our own clients): magic + commands, END on the last."""
    out = [MAGIC]
    for i, (command, value) in enumerate(commands):
        if i == len(commands) - 1:
            command |= FLAG_END
        out.append(struct.pack("<HH", command, len(value)) + value)
    return b"".join(out)

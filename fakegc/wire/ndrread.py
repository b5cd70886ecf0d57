"""A small NDR reader for request stubs in NDR 2.0 or NDR64, either byte order.

NDR 2.0 (C706 ch. 14): pointers (referent ids) and conformance/variance counts
are 4 bytes; NDR64 (MS-RPCE 2.2.5.1-2.2.5.3): 8 bytes, 8-aligned.  Integers are
in the sender's order (C706 §14.2.5 "receiver makes it right"); a GUID is NDR's
struct {u32, u16, u16, byte[8]}, so its first three fields follow that order.
Only what the EPM and management requests need; every read is bounded by the
stub and raises ``struct.error`` / ``ValueError`` past its end.
"""

from __future__ import annotations

import struct
import uuid as uuidlib

__all__ = ["NdrReader"]


class NdrReader:
    """Sequential reads over ``data`` with NDR alignment."""

    __slots__ = ("_e", "data", "ndr64", "off")

    def __init__(self, data: bytes, *, ndr64: bool = False, big_endian: bool = False) -> None:
        self.data = data
        self.off = 0
        self.ndr64 = ndr64
        self._e = ">" if big_endian else "<"

    def align(self, n: int) -> None:
        """Skip padding to a multiple of ``n``."""
        self.off += -self.off % n

    def _take(self, fmt: str, size: int) -> int:
        self.align(size)
        value = struct.unpack_from(self._e + fmt, self.data, self.off)[0]
        self.off += size
        return int(value)

    def u16(self) -> int:
        """unsigned short."""
        return self._take("H", 2)

    def u32(self) -> int:
        """unsigned long / boolean32 / error_status_t."""
        return self._take("I", 4)

    def u64(self) -> int:
        """hyper."""
        return self._take("Q", 8)

    def pointer(self) -> int:
        """A unique/full pointer's referent id (0 = NULL)."""
        return self.u64() if self.ndr64 else self.u32()

    def count(self) -> int:
        """A conformance (max_count), offset or actual_count."""
        return self.u64() if self.ndr64 else self.u32()

    def raw(self, n: int) -> bytes:
        """``n`` bytes as they are (byte arrays, context handles)."""
        if n < 0 or self.off + n > len(self.data):
            raise ValueError("NDR read past the end of the stub")
        out = self.data[self.off:self.off + n]
        self.off += n
        return out

    def uuid(self) -> uuidlib.UUID:
        """A GUID (4-aligned struct of u32, u16, u16 and 8 bytes)."""
        self.align(4)
        a = self.u32()
        b = self.u16()
        c = self.u16()
        tail = self.raw(8)
        return uuidlib.UUID(fields=(a, b, c, tail[0], tail[1], int.from_bytes(tail[2:], "big")))

    def handle(self) -> bytes:
        """A context handle {u32 attributes; GUID} (C706 §14.3.11), as little-endian bytes.

        A big-endian client re-encodes the handle it got from us in its own order;
        normalising gives back the 20 bytes we issued.
        """
        self.align(4)
        attributes = self.u32()
        return struct.pack("<I", attributes) + self.uuid().bytes_le

    def tower(self) -> bytes:
        """twr_t: a conformant struct {u32 tower_length; byte octets[tower_length]}."""
        self.count()  # max_count of the conformant array, hoisted to the front
        length = self.u32()
        return self.raw(length)

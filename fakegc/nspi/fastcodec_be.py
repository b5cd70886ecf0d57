"""NSPI request stubs in big-endian NDR 2.0 (drep 0x00), read as MS-OXNSPI's IDL lays them out.

C706 14.1 / 14.2.5 "receiver makes it right": a client may marshal in its own byte order
and the server converts.  The layout is the one :mod:`fakegc.nspi.fastcodec` reads
(docs/PROTOCOL.md §13); only the integers differ: every ``short``, ``long`` and every
conformance, variance and referent ID is big-endian, a ``wchar_t`` string is UTF-16BE,
and a context handle (C706 14.3.11: {long; GUID}) has its integer fields swapped.  Byte
arrays (``FlatUID_r``, ``Binary_r``) are as sent.  The handle is normalised to the
little-endian bytes the server issued.  Answers are always little-endian.
"""

from __future__ import annotations

import struct

from fakegc.nspi.fastcodec import MAX_COUNT, Reader
from fakegc.nspi.table import Stat

__all__ = ["BigEndianReader"]

_U16 = struct.Struct(">H")
_I16 = struct.Struct(">h")
_U32 = struct.Struct(">I")
_STAT = struct.Struct(">9I")
_3U32 = struct.Struct(">3I")
_4U32 = struct.Struct(">4I")
_HANDLE = struct.Struct(">IIHH")
_HANDLE_LE = struct.Struct("<IIHH")


class BigEndianReader(Reader):
    """:class:`~fakegc.nspi.fastcodec.Reader` over a big-endian NDR 2.0 stub."""

    __slots__ = ()

    def u16(self) -> int:
        self.align(2)
        (v,) = _U16.unpack_from(self.buf, self.off)
        self.off += 2
        return int(v)

    def i16(self) -> int:
        self.align(2)
        (v,) = _I16.unpack_from(self.buf, self.off)
        self.off += 2
        return int(v)

    def u32(self) -> int:
        self.align(4)
        v: int = _U32.unpack_from(self.buf, self.off)[0]
        self.off += 4
        return v

    def u32s(self, n: int) -> list[int]:
        self.align(4)
        return list(struct.unpack(f">{n}I", self.raw(4 * n)))

    def handle(self) -> bytes:
        """A context handle {long; GUID}, given back in the little-endian form we issued."""
        self.align(4)
        head = self.raw(12)
        return _HANDLE_LE.pack(*_HANDLE.unpack(head)) + self.raw(8)

    def stat(self) -> Stat:
        """STAT (MS-OXNSPI 2.2.8): nine 32-bit fields, Delta signed."""
        self.align(4)
        v = _STAT.unpack_from(self.buf, self.off)
        self.off += 36
        delta = v[3] - (1 << 32) if v[3] >= 0x80000000 else v[3]
        return Stat(v[0], v[1], v[2], delta, v[4], v[5], v[6], v[7], v[8])

    def tag_array(self) -> list[int]:
        """PropertyTagArray_r (MS-OXNSPI 2.2.2.2): size_is(cValues+1), length_is(cValues)."""
        self.align(4)
        size, c_values, offset, length = _4U32.unpack_from(self.buf, self.off)
        self.off += 16
        if c_values > MAX_COUNT + 1 or size != c_values + 1 or offset != 0 or length != c_values:
            raise ValueError("PropertyTagArray_r conformance/variance does not match cValues")
        if 4 * length > len(self.buf) - self.off:
            raise ValueError("PropertyTagArray_r longer than the stub")
        return self.u32s(length)

    def _cv(self, width: int) -> bytes:
        self.align(4)
        size, offset, length = _3U32.unpack_from(self.buf, self.off)
        self.off += 12
        if offset != 0 or length > size or length == 0:
            raise ValueError("irregular [string] conformance/variance")
        data = self.raw(width * length)
        if data[-width:] != b"\x00" * width:
            raise ValueError("[string] without its terminating NUL")
        return data[:-width]

    def wstring(self) -> str:
        """A [string] wchar_t* referent: unsigned shorts, so UTF-16BE here."""
        return self._cv(2).decode("utf-16be", "surrogatepass")

"""NSPI request stubs in NDR64 (MS-RPCE 2.2.5), read as MS-OXNSPI's IDL lays them out.

The layout is the one :mod:`fakegc.nspi.fastcodec` reads (docs/PROTOCOL.md §13) with
NDR64's differences: referent IDs are 8 bytes (2.2.5.3.3); conformance, offset and
actual counts are 8 bytes (2.2.5.3.4); each is 8-aligned.  Structures holding a pointer
(``PropertyRow_r``, ``Binary_r``, ``PropertyName_r``, ``StringsArray_r``...) align to 8,
and a union's arm is aligned to the largest alignment of all its arms (8 for
``PROP_VAL_UNION`` and ``RestrictionUnion_r``), so ``Reader.a8`` pads here.  Integers
stay 4 bytes; NDR64 is read little-endian.
"""

from __future__ import annotations

import struct

from fakegc.nspi.fastcodec import MAX_COUNT, Reader

__all__ = ["Ndr64Reader"]

_U64 = struct.Struct("<Q")


class Ndr64Reader(Reader):
    """:class:`~fakegc.nspi.fastcodec.Reader` over an NDR64 stub."""

    __slots__ = ()

    def u64(self) -> int:
        self.align(8)
        v: int = _U64.unpack_from(self.buf, self.off)[0]
        self.off += 8
        return v

    def ptr(self) -> int:
        """A referent ID: 8 bytes, 8-aligned (MS-RPCE 2.2.5.3.3)."""
        return self.u64()

    def conf(self) -> int:
        """A conformance, offset or actual count: 8 bytes, 8-aligned (MS-RPCE 2.2.5.3.4)."""
        return self.u64()

    def a8(self) -> None:
        self.align(8)

    def tag_array(self) -> list[int]:
        """PropertyTagArray_r (MS-OXNSPI 2.2.2.2): size_is(cValues+1), length_is(cValues)."""
        size = self.u64()
        c_values = self.u32()
        offset, length = self.u64(), self.u64()
        if c_values > MAX_COUNT + 1 or size != c_values + 1 or offset != 0 or length != c_values:
            raise ValueError("PropertyTagArray_r conformance/variance does not match cValues")
        if 4 * length > len(self.buf) - self.off:
            raise ValueError("PropertyTagArray_r longer than the stub")
        return self.u32s(length)

    def _cv(self, width: int) -> bytes:
        size, offset, length = self.u64(), self.u64(), self.u64()
        if offset != 0 or length > size or length == 0:
            raise ValueError("irregular [string] conformance/variance")
        data = self.raw(width * length)
        if data[-width:] != b"\x00" * width:
            raise ValueError("[string] without its terminating NUL")
        return data[:-width]

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

from fakegc.nspi.fastcodec import Reader

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

    def _tag_array_head(self) -> tuple[int, int, int, int]:
        """PropertyTagArray_r's head: 8-byte size, offset and length around cValues."""
        return self.u64(), self.u32(), self.u64(), self.u64()

    def _cv_head(self) -> tuple[int, int, int]:
        """A [string]'s conformance, offset and actual count: 8 bytes each."""
        return self.u64(), self.u64(), self.u64()

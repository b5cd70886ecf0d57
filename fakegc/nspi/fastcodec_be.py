"""NSPI request stubs in big-endian NDR 2.0 (drep 0x00), read as MS-OXNSPI's IDL lays them out.

C706 14.1 / 14.2.5 "receiver makes it right": a client may marshal in its own byte order
and the server converts.  The layout is the one :mod:`fakegc.nspi.fastcodec` reads
(docs/PROTOCOL.md §13); only the integers differ: every ``short``, ``long`` and every
conformance, variance and referent ID is big-endian, a ``wchar_t`` string is UTF-16BE,
and a context handle (C706 14.3.11: {long; GUID}) has its integer fields swapped.  Byte
arrays (``FlatUID_r``, ``Binary_r``) are as sent.  The handle is normalised to the
little-endian bytes the server issued.  Answers are always little-endian.

The base :class:`~fakegc.nspi.fastcodec.Reader` takes its byte order from its class
structs, so this reader swaps those and reads the handle; every walk is the base's.
"""

from __future__ import annotations

import struct

from fakegc.nspi.fastcodec import Reader

__all__ = ["BigEndianReader"]

_HANDLE = struct.Struct(">IIHH")
_HANDLE_LE = struct.Struct("<IIHH")


class BigEndianReader(Reader):
    """:class:`~fakegc.nspi.fastcodec.Reader` over a big-endian NDR 2.0 stub."""

    __slots__ = ()
    _U16, _I16, _U32 = struct.Struct(">H"), struct.Struct(">h"), struct.Struct(">I")
    _STAT, _3U32, _4U32 = struct.Struct(">9I"), struct.Struct(">3I"), struct.Struct(">4I")
    _ORDER, _WIDE = ">", "utf-16be"

    def handle(self) -> bytes:
        """A context handle {long; GUID}, given back in the little-endian form we issued."""
        self.align(4)
        head = self.raw(12)
        return _HANDLE_LE.pack(*_HANDLE.unpack(head)) + self.raw(8)

"""NDR64 flavour of :class:`fakegc.wire.ndr.NdrWriter` (MS-RPCE 2.2.5).

NDR64 differs from NDR 2.0 in what our answers use by: referent ids of 8 bytes
(2.2.5.3.3), conformance, offset and actual counts of 8 bytes (2.2.5.3.4), each
8-aligned.  A subclass so the NDR 2.0 hot paths keep their speed; impacket's
NDR64 decoder is the oracle in the tests.
"""

from __future__ import annotations

import struct

from fakegc.wire.ndr import Deferred, NdrWriter

__all__ = ["Ndr64Writer"]

_U64 = struct.Struct("<Q")


class Ndr64Writer(NdrWriter):
    """An :class:`NdrWriter` writing NDR64 pointers and array counts."""

    __slots__ = ()

    def u64(self, v: int) -> None:
        """hyper, 8-aligned."""
        self.align(8)
        self.buf += _U64.pack(v)

    def conf(self, v: int) -> None:
        """A conformance, offset or actual count: 8 bytes, 8-aligned (MS-RPCE 2.2.5.3.4)."""
        self.u64(v)

    def a8(self) -> None:
        """Structures holding pointers and unions with 8-aligned arms align to 8."""
        self.align(8)

    def pointer(self, write: Deferred | None) -> None:
        """An embedded unique pointer: 8-byte id now, referent deferred (NULL if None)."""
        if write is None:
            self.u64(0)
            return
        self.u64(self.ref())
        self._deferred.append(write)

    def top_pointer(self, write: Deferred | None) -> None:
        """A top-level unique pointer: 8-byte id, then its referent at once."""
        if write is None:
            self.u64(0)
            return
        self.u64(self.ref())
        self.construct(write)

    def cv_string8(self, data: bytes) -> None:
        """Conformant varying byte string: max, offset, actual as 8-byte counts."""
        self.u64(len(data))
        self.u64(0)
        self.u64(len(data))
        self.raw(data)

    def cv_wstring(self, text: str) -> None:
        """Conformant varying UTF-16LE string with its NUL, 8-byte counts."""
        raw = text.encode("utf-16le") + b"\x00\x00"
        n = len(raw) // 2
        self.u64(n)
        self.u64(0)
        self.u64(n)
        self.raw(raw)

    def conformant_bytes(self, data: bytes) -> None:
        """Conformant array of bytes, 8-byte count."""
        self.u64(len(data))
        self.raw(data)

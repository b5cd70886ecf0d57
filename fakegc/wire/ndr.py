"""A small, fast NDR 2.0 marshaller (C706 ch. 14) for the structures fakegc sends.

Only what our answers need: primitives, conformant(-varying) arrays, strings,
unique/full pointers with deferred referents.  Deferred referents are written
after the construct that holds their pointers, each followed by its own
deferred referents (depth-first), which is how MIDL and impacket lay them out.
impacket's NDR decoder is the oracle these encoders are tested against.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["Deferred", "NdrWriter"]

Deferred = Callable[["NdrWriter"], None]

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_CV = struct.Struct("<III")


class NdrWriter:
    """Append-only NDR little-endian buffer with referent ids and a deferral queue."""

    __slots__ = ("_deferred", "_ref", "buf")

    def __init__(self) -> None:
        self.buf = bytearray()
        self._ref = 0x00020000
        self._deferred: list[Deferred] = []

    def align(self, n: int) -> None:
        """Pad with zeros to a multiple of ``n``."""
        pad = -len(self.buf) % n
        if pad:
            self.buf += b"\x00" * pad

    def u8(self, v: int) -> None:
        self.buf.append(v & 0xFF)

    def u16(self, v: int) -> None:
        self.align(2)
        self.buf += _U16.pack(v & 0xFFFF)

    def u32(self, v: int) -> None:
        buf = self.buf
        pad = -len(buf) & 3
        if pad:
            buf += b"\x00" * pad
        buf += _U32.pack(v & 0xFFFFFFFF)

    def raw(self, data: bytes) -> None:
        self.buf += data

    def conf(self, v: int) -> None:
        """A conformance, offset or actual count (4 bytes; NDR64: 8, MS-RPCE 2.2.5.3.4)."""
        self.u32(v)

    def a8(self) -> None:
        """Alignment of a construct holding pointers: none in NDR 2.0 (NDR64: 8)."""

    def ref(self) -> int:
        """A fresh non-zero referent id."""
        self._ref += 4
        return self._ref

    def pointer(self, write: Deferred | None) -> None:
        """An embedded unique pointer: its id now, its referent deferred (NULL if None)."""
        if write is None:
            self.u32(0)
            return
        self.u32(self.ref())
        self._deferred.append(write)

    def top_pointer(self, write: Deferred | None) -> None:
        """A top-level unique pointer: id, then the referent and its deferrals at once."""
        if write is None:
            self.u32(0)
            return
        self.u32(self.ref())
        self.construct(write)

    def construct(self, write: Deferred) -> None:
        """Write a construct, then flush the referents it deferred (recursively)."""
        outer = self._deferred
        self._deferred = []
        write(self)
        pending = self._deferred
        self._deferred = outer
        for item in pending:
            self.construct(item)

    # -- common shapes ---------------------------------------------------------------
    def cv_string8(self, data: bytes) -> None:
        """Conformant varying string of bytes (``data`` includes its NUL)."""
        self.u32(len(data))
        self.u32(0)
        self.u32(len(data))
        self.raw(data)

    def cv_wstring(self, text: str) -> None:
        """Conformant varying UTF-16LE string with its NUL."""
        raw = text.encode("utf-16le") + b"\x00\x00"
        n = len(raw) // 2
        self.align(4)
        self.buf += _CV.pack(n, 0, n) + raw

    def conformant_bytes(self, data: bytes) -> None:
        """Conformant array of bytes."""
        self.u32(len(data))
        self.raw(data)

    def getvalue(self) -> bytes:
        """The encoded bytes (call after every construct was flushed)."""
        return bytes(self.buf)

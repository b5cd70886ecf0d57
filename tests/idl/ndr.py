"""A small NDR 2.0 interpreter driven by an IDL type table (C706 chapter 14).

Independent of impacket and of fakegc's codecs: the test oracle for the NSPI wire.
Types are built from :class:`Prim`, :class:`Bytes`, :class:`Struct`, :class:`Ptr`,
:class:`Array`, :class:`String`, :class:`Union` and :class:`Count`; values are plain
Python (ints, bytes, str, lists, dicts; a unique pointer is ``None`` or its referent).

The rules implemented (C706 14.3):
- primitives aligned to their size; a structure to its largest member; a union's
  discriminant (``switch_type(long)``) is marshalled before its arm;
- a conformant array's size (``size_is``) precedes it; inside a structure it is
  hoisted before the structure; a varying array carries offset 0 and its length
  (``length_is``) inline; ``[string]`` is conformant and varying, NUL included;
- top-level reference pointers have no representation, top-level unique pointers a
  referent ID followed at once by the referent; pointers embedded in a construct
  (structure or array) carry a referent ID, and their referents follow that construct
  in order, each followed by its own referents.
Byte order (C706 14.2.5, drep): the encoder writes little- or big-endian integers
(``order`` "<" or ">"); in big-endian a ``wchar_t`` string is UTF-16BE and the
integer fields of a structure written as :class:`Bytes` (``ints``: a context handle
is {long; GUID {long; short; short; byte[8]}}) are swapped too; byte arrays never are.
The decoder checks what a strict unmarshaller checks: sizes and lengths equal to
their ``size_is``/``length_is`` expressions, offset 0, the discriminant equal to
``switch_is``, strings ending in NUL.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Expr = Callable[[dict[str, Any]], int]


@dataclass(frozen=True)
class Prim:
    fmt: str  # struct format: I i H h B

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.fmt)


@dataclass(frozen=True)
class Bytes:
    """A fixed array of bytes (alignment ``align``)."""

    n: int
    align: int = 1
    #: sizes of the leading integer fields of the structure these bytes stand for
    ints: tuple[int, ...] = ()


@dataclass(frozen=True)
class Count:
    """A 32-bit field whose value follows from its siblings (``cValues`` of an array)."""

    expr: Expr


@dataclass(frozen=True)
class Ptr:
    target: Any
    kind: str = "unique"  # "ref" | "unique"


@dataclass(frozen=True)
class Array:
    elem: Any
    size: Expr | None = None  # size_is: conformant
    length: Expr | None = None  # length_is: varying


@dataclass(frozen=True)
class String:
    width: int  # 1: char, 2: wchar_t


@dataclass(frozen=True)
class Union:
    switch: Expr  # switch_is over the enclosing structure
    arms: dict[int, Any]


@dataclass(frozen=True, eq=False, repr=False)
class Struct:
    name: str
    fields: tuple[tuple[str, Any], ...]

    def __repr__(self) -> str:
        return f"Struct({self.name})"

    @property
    def conformant(self) -> Array | None:
        last = self.fields[-1][1]
        return last if isinstance(last, Array) and last.size is not None else None


U32, I32, U16, I16, U64 = Prim("I"), Prim("i"), Prim("H"), Prim("h"), Prim("Q")


def align_of(t: Any, ndr64: bool = False) -> int:
    """NDR alignment of ``t``; in NDR64 pointers and array counts are 8 (MS-RPCE 2.2.5.3)."""
    wide = 8 if ndr64 else 4
    if isinstance(t, Prim):
        return t.size
    if isinstance(t, Bytes):
        return t.align
    if isinstance(t, Count):
        return 4
    if isinstance(t, Ptr):
        return wide
    if isinstance(t, Array):
        return max(wide if t.size or t.length else 1, align_of(t.elem, ndr64))
    if isinstance(t, Union):
        return max([4, *(align_of(a, ndr64) for a in t.arms.values())])
    if isinstance(t, Struct):
        return max(align_of(f, ndr64) for _, f in t.fields)
    raise TypeError(t)


def arm_align(t: Union, ndr64: bool) -> int:
    """NDR64 aligns a union (before its discriminant) to its largest alignment and the arm
    after the discriminant to the largest alignment of all arms (MS-RPCE 2.2.4.5 says
    ms_union does this in NDR 2.0 and is ignored in NDR64, whose union rule is this one;
    impacket's NDRUNION writes NDR64 so); NDR 2.0 aligns the arm to its own alignment."""
    return max(align_of(a, True) for a in t.arms.values()) if ndr64 else 1


# -- encoder ------------------------------------------------------------------------------
@dataclass
class Encoder:
    buf: bytearray = field(default_factory=bytearray)
    pending: list[tuple[Any, Any, dict[str, Any]]] = field(default_factory=list)
    next_ref: int = 0x00020000
    order: str = "<"  # ">": big-endian (drep 0x00)
    ndr64: bool = False  # MS-RPCE 2.2.5: 8-byte referent IDs and array counts

    def align(self, n: int) -> None:
        self.buf += b"\x00" * (-len(self.buf) % n)

    def wide(self, v: int) -> None:
        """A referent ID, conformance, offset or actual count (NDR64: 8 bytes)."""
        self.prim(U64 if self.ndr64 else U32, v)

    def prim(self, t: Prim, v: int) -> None:
        self.align(t.size)
        self.buf += struct.pack(self.order + t.fmt, v)

    def fixed(self, t: Bytes, v: bytes) -> bytes:
        """``v`` (given little-endian) with its integer fields in the stub's order."""
        if self.order == "<":
            return v
        out, off = bytearray(), 0
        for size in t.ints:
            out += v[off:off + size][::-1]
            off += size
        return bytes(out + v[off:])

    def ref_id(self) -> int:
        self.next_ref += 4
        return self.next_ref

    def param(self, t: Any, v: Any, ctx: dict[str, Any]) -> None:
        """A top-level parameter."""
        if isinstance(t, Ptr):
            if t.kind == "unique":
                self.wide(0 if v is None else self.ref_id())
                if v is None:
                    return
            self.construct(t.target, v, ctx)
        else:
            self.construct(t, v, ctx)

    def construct(self, t: Any, v: Any, ctx: dict[str, Any]) -> None:
        saved, self.pending = self.pending, []
        if isinstance(t, Ptr):  # a pointer to a pointer: the inner one is written here
            self.wide(0 if v is None else self.ref_id())
            if v is not None:
                self.pending.append((t.target, v, ctx))
        elif isinstance(t, Struct) and t.conformant is not None:
            self.wide(t.conformant.size(complete(t, v)))  # hoisted conformance
            self.inline(t, v, ctx)
        elif isinstance(t, Array):
            if t.size is not None:
                self.wide(t.size(ctx))
            self.array_body(t, v, ctx)
        elif isinstance(t, String):
            wide = "utf-16le" if self.order == "<" else "utf-16be"
            data = (v.encode(wide) if t.width == 2 else v) + b"\x00" * t.width
            n = len(data) // t.width
            for x in (n, 0, n):
                self.wide(x)
            self.buf += data
        else:
            self.inline(t, v, ctx)
        pending, self.pending = self.pending, saved
        for pt, pv, pctx in pending:
            self.construct(pt, pv, pctx)

    def array_body(self, t: Array, v: list[Any], ctx: dict[str, Any]) -> None:
        if t.length is not None:
            self.wide(0)
            self.wide(t.length(ctx))
        for item in v:
            self.inline(t.elem, item, ctx)

    def inline(self, t: Any, v: Any, ctx: dict[str, Any]) -> None:
        if isinstance(t, Prim):
            self.prim(t, v)
        elif isinstance(t, Bytes):
            self.align(t.align)
            assert len(v) == t.n
            self.buf += self.fixed(t, v)
        elif isinstance(t, Count):
            self.prim(U32, t.expr(ctx))
        elif isinstance(t, Ptr):
            if t.kind == "ref":
                raise TypeError("embedded reference pointers are not used by this IDL")
            self.wide(0 if v is None else self.ref_id())
            if v is not None:
                self.pending.append((t.target, v, ctx))
        elif isinstance(t, Struct):
            self.align(align_of(t, self.ndr64))
            v = complete(t, v)
            for name, ft in t.fields:
                if ft is t.conformant:
                    self.array_body(ft, v[name], v)
                else:
                    self.inline(ft, v.get(name), v)
        elif isinstance(t, Union):
            disc = t.switch(ctx)
            self.align(align_of(t, self.ndr64))
            self.prim(U32, disc)
            self.align(arm_align(t, self.ndr64))
            self.inline(t.arms[disc], v, ctx)
        else:
            raise TypeError(f"cannot inline {t!r}")


def complete(t: Struct, v: dict[str, Any]) -> dict[str, Any]:
    """``v`` with its :class:`Count` fields computed from their siblings."""
    out = dict(v)
    for name, ft in t.fields:
        if isinstance(ft, Count):
            out[name] = ft.expr(out)
    return out


def encode_params(params: list[tuple[str, Any]], values: dict[str, Any],
                  order: str = "<", ndr64: bool = False) -> bytes:
    """The stub of a call's parameters, in order (:class:`Count` parameters computed);
    ``order`` ">" writes big-endian NDR (C706 14.2.5), ``ndr64`` NDR64 (MS-RPCE 2.2.5)."""
    e = Encoder(order=order, ndr64=ndr64)
    values = dict(values)
    for name, t in params:
        if isinstance(t, Count):
            values[name] = t.expr(values)
    for name, t in params:
        e.param(t, values.get(name), values)
    return bytes(e.buf)


# -- decoder ------------------------------------------------------------------------------
class StubError(ValueError):
    """The bytes do not follow the IDL."""


@dataclass
class Decoder:
    buf: bytes
    off: int = 0
    pending: list[tuple[Any, Callable[[Any], None], dict[str, Any]]] = field(default_factory=list)
    ndr64: bool = False

    def wide(self) -> int:
        """A referent ID, conformance, offset or actual count (NDR64: 8 bytes)."""
        return self.prim(U64 if self.ndr64 else U32)

    def align(self, n: int) -> None:
        self.off += -self.off % n

    def prim(self, t: Prim) -> int:
        self.align(t.size)
        if self.off + t.size > len(self.buf):
            raise StubError("short stub")
        (v,) = struct.unpack_from("<" + t.fmt, self.buf, self.off)
        self.off += t.size
        return int(v)

    def raw(self, n: int) -> bytes:
        if self.off + n > len(self.buf):
            raise StubError("short stub")
        out = self.buf[self.off: self.off + n]
        self.off += n
        return out

    def param(self, t: Any, ctx: dict[str, Any]) -> Any:
        if isinstance(t, Ptr):
            if t.kind == "unique" and not self.wide():
                return None
            return self.construct(t.target, ctx)
        return self.construct(t, ctx)

    def construct(self, t: Any, ctx: dict[str, Any]) -> Any:
        saved, self.pending = self.pending, []
        out: Any
        if isinstance(t, Ptr):
            box: list[Any] = [None]
            if self.wide():
                self.pending.append((t.target, lambda v: box.__setitem__(0, v), ctx))
            self.flush(saved)
            return box[0]
        if isinstance(t, Struct) and t.conformant is not None:
            size = self.wide()
            out = self.inline(t, ctx, hoisted=size)
        elif isinstance(t, Array):
            size = self.wide() if t.size is not None else None
            if t.size is not None and size != t.size(ctx):
                raise StubError("array size differs from its size_is")
            out = self.array_body(t, ctx, size)
        elif isinstance(t, String):
            size, offset, length = self.wide(), self.wide(), self.wide()
            if offset != 0 or length > size or length == 0:
                raise StubError("irregular [string]")
            data = self.raw(length * t.width)
            if data[-t.width:] != b"\x00" * t.width:
                raise StubError("[string] without NUL")
            out = data[:-t.width].decode("utf-16le") if t.width == 2 else data[:-1]
        else:
            out = self.inline(t, ctx)
        self.flush(saved)
        return out

    def flush(self, saved: list[Any]) -> None:
        pending, self.pending = self.pending, saved
        for pt, setter, pctx in pending:
            setter(self.construct(pt, pctx))

    def array_body(self, t: Array, ctx: dict[str, Any], size: int | None) -> list[Any]:
        n = size if size is not None else 0
        if t.length is not None:
            offset, length = self.wide(), self.wide()
            if offset != 0 or length != t.length(ctx) or (size is not None and length > size):
                raise StubError("array offset/length differ from length_is")
            n = length
        if n > len(self.buf):
            raise StubError("count larger than the stub")
        out: list[Any] = [None] * n
        for i in range(n):
            out[i] = self.inline(t.elem, ctx, slot=(out, i))
        return out

    def inline(self, t: Any, ctx: dict[str, Any], hoisted: int | None = None,
               slot: tuple[Any, Any] | None = None) -> Any:
        if isinstance(t, Prim):
            return self.prim(t)
        if isinstance(t, Bytes):
            self.align(t.align)
            return self.raw(t.n)
        if isinstance(t, Count):
            return self.prim(U32)
        if isinstance(t, Ptr):
            if not self.wide():
                return None
            assert slot is not None
            container, key = slot
            self.pending.append((t.target, lambda v: container.__setitem__(key, v), ctx))
            return _PENDING
        if isinstance(t, Struct):
            self.align(align_of(t, self.ndr64))
            out: dict[str, Any] = {}
            for name, ft in t.fields:
                if ft is t.conformant:
                    if hoisted != ft.size(out):
                        raise StubError(f"{t.name}: conformance differs from size_is")
                    out[name] = self.array_body(ft, out, hoisted)
                else:
                    out[name] = self.inline(ft, out, slot=(out, name))
            return out
        if isinstance(t, Union):
            self.align(align_of(t, self.ndr64))
            disc = self.prim(U32)
            self.align(arm_align(t, self.ndr64))
            if disc != t.switch(ctx):
                raise StubError("union discriminant differs from switch_is")
            if disc not in t.arms:
                raise StubError(f"no union arm {disc:#x}")
            return self.inline(t.arms[disc], ctx, slot=slot)
        raise TypeError(f"cannot read {t!r}")


_PENDING = object()


def decode_params(params: list[tuple[str, Any]], stub: bytes,
                  ndr64: bool = False) -> tuple[dict[str, Any], int]:
    """(values by name, bytes left over) of a call's parameters (``ndr64``: MS-RPCE 2.2.5)."""
    d = Decoder(stub, ndr64=ndr64)
    values: dict[str, Any] = {}
    for name, t in params:
        values[name] = d.param(t, values)
    return values, len(stub) - d.off

"""NDR encoders for NSPI answers (MS-NSPI 2.3: PropertyValue_r, PropertyRow_r, PropertyRowSet_r,
PropertyTagArray_r, STAT); the request classes impacket lacks are in
:mod:`fakegc.wire.impacket_ndr`.

Requests are decoded with impacket's structures (lenient, well tested); answers
are encoded by hand with :class:`~fakegc.wire.ndr.NdrWriter` (fast, exact), and
tests decode them with impacket's response classes, as real clients do.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any

from fakegc.directory import props as P
from fakegc.nspi.rows import Missing, encode_8bit
from fakegc.wire.ndr import NdrWriter
from fakegc.wire.ndr64 import Ndr64Writer

__all__ = ["STAT_FIELDS", "Row", "row_blob", "write_row", "write_rowset", "write_rowset_blobs",
           "write_stat", "write_tag_array", "write_value"]

Row = Sequence[tuple[int, Any]]
STAT_FIELDS = ("SortType", "ContainerID", "CurrentRec", "Delta", "NumPos", "TotalRecs",
               "CodePage", "TemplateLocale", "SortLocale")
_STAT = struct.Struct("<9I")


def write_stat(w: NdrWriter, stat: Sequence[int]) -> None:
    """STAT: nine 32-bit fields."""
    w.align(4)
    w.raw(_STAT.pack(*(v & 0xFFFFFFFF for v in stat)))


def _wstring(text: str) -> Callable[[NdrWriter], None]:
    return lambda w: w.cv_wstring(text)


def _string8(data: bytes) -> Callable[[NdrWriter], None]:
    return lambda w: w.cv_string8(data)


def _bytes(blob: bytes) -> Callable[[NdrWriter], None]:
    return lambda w: w.conformant_bytes(blob)


def _value(w: NdrWriter, tag: int, value: Any, code_page: int) -> None:
    """One PropertyValue_r inline (embedded pointers deferred)."""
    ptype = tag & 0xFFFF
    if isinstance(value, Missing):
        tag, ptype, value = (tag & 0xFFFF0000) | P.PT_ERROR, P.PT_ERROR, value.code
    elif ptype in P.RPC_UNSAFE_TYPES:
        tag, ptype, value = (tag & 0xFFFF0000) | P.PT_NULL, P.PT_NULL, 0
    w.a8()  # NDR64: PropertyValue_r holds pointers
    w.u32(tag)
    w.u32(0)  # ulReserved
    w.u32(ptype)  # union discriminant
    w.a8()  # NDR64: the arm at the largest arm alignment (MS-RPCE 2.2.5.3.4)
    if ptype in (P.PT_LONG, P.PT_ERROR, P.PT_NULL, P.PT_UNSPECIFIED, P.PT_OBJECT):
        w.u32(int(value) if ptype != P.PT_OBJECT else 0)
    elif ptype in (P.PT_SHORT, P.PT_BOOLEAN):
        w.u16(int(value))
    elif ptype == P.PT_UNICODE:
        text = str(value)
        w.pointer(lambda w: w.cv_wstring(text))
    elif ptype == P.PT_STRING8:
        data = (value if isinstance(value, bytes) else encode_8bit(str(value), code_page)) + b"\x00"
        w.pointer(lambda w: w.cv_string8(data))
    elif ptype == P.PT_BINARY:
        data = bytes(value)
        w.u32(len(data))
        w.pointer(lambda w: w.conformant_bytes(data))
    elif ptype == P.PT_CLSID:
        raw = value.bytes_le if isinstance(value, uuidlib.UUID) else bytes(value)
        w.pointer(lambda w: w.raw(raw))
    elif ptype == P.PT_SYSTIME:
        w.u32(int(value) & 0xFFFFFFFF)
        w.u32(int(value) >> 32)
    elif ptype == P.PT_MV_LONG:
        items = [int(v) for v in value]
        w.u32(len(items))

        def longs(w: NdrWriter) -> None:
            w.conf(len(items))
            for v in items:
                w.u32(v)
        w.pointer(longs)
    elif ptype in (P.PT_MV_UNICODE, P.PT_MV_STRING8):
        texts = [str(v) for v in value]
        w.u32(len(texts))
        wide = ptype == P.PT_MV_UNICODE

        def strings(w: NdrWriter) -> None:
            w.conf(len(texts))
            for text in texts:
                if wide:
                    w.pointer(_wstring(text))
                else:
                    w.pointer(_string8(encode_8bit(text, code_page) + b"\x00"))
        w.pointer(strings)
    elif ptype == P.PT_MV_BINARY:
        blobs = [bytes(v) for v in value]
        w.u32(len(blobs))

        def binaries(w: NdrWriter) -> None:
            w.conf(len(blobs))
            for blob in blobs:
                w.a8()  # NDR64: Binary_r holds a pointer
                w.u32(len(blob))
                w.pointer(_bytes(blob))
        w.pointer(binaries)
    else:
        raise ValueError(f"cannot encode property type 0x{ptype:04X}")


def write_value(w: NdrWriter, tag: int, value: Any, code_page: int) -> None:
    """One PropertyValue_r as a construct (a top-level ``[in] PropertyValue_r*``): the
    inline part, then its referents."""
    w.construct(lambda w: _value(w, tag, value, code_page))


def row_blob(row: Row, code_page: int, ndr64: bool = False) -> tuple[bytes, bytes]:
    """(inline 12 bytes, deferred part padded to 4) of one PropertyRow_r, for caching.

    Unique-pointer referent ids need only be non-zero, so a row encoded once can
    be spliced into any row set; the deferred part is padded to 4, which is what
    NDR does anyway before the next 4-aligned item.  ``ndr64``: inline 16 bytes
    (an 8-byte referent ID), the deferred part written in NDR64 (padded to 4 as well:
    whoever splices pads to 8 between rows, PROTOCOL.md §13.1).
    """
    w = Ndr64Writer() if ndr64 else NdrWriter()
    w.conf(len(row))

    def _props() -> None:
        for tag, value in row:
            _value(w, tag, value, code_page)
    w.construct(lambda w: _props())
    w.align(4)
    if ndr64:
        return struct.pack("<IIQ", 0, len(row), 0x00020000), w.getvalue()
    return struct.pack("<III", 0, len(row), 0x00020000), w.getvalue()


def write_rowset_blobs(w: NdrWriter, blobs: Sequence[tuple[bytes, bytes]] | None) -> None:
    """A top-level ``PropertyRowSet_r*`` from pre-encoded rows (see :func:`row_blob`)."""
    if blobs is None:
        w.u32(0)
        return
    w.u32(w.ref())
    w.align(4)
    w.raw(struct.pack("<II", len(blobs), len(blobs)))
    w.raw(b"".join(inline for inline, _ in blobs))
    w.raw(b"".join(deferred for _, deferred in blobs))


def _row_inline(w: NdrWriter, row: Row, code_page: int) -> None:
    """PropertyRow_r inline: Reserved, cValues, lpProps (deferred)."""
    w.a8()  # NDR64: PropertyRow_r holds a pointer
    w.u32(0)
    w.u32(len(row))

    def props(w: NdrWriter) -> None:
        w.conf(len(row))
        for tag, value in row:
            _value(w, tag, value, code_page)
    w.pointer(props)


def write_row(w: NdrWriter, row: Row | None, code_page: int) -> None:
    """A top-level ``PropertyRow_r*`` (NULL when ``row`` is None)."""
    if row is None:
        w.top_pointer(None)
        return
    w.top_pointer(lambda w: _row_inline(w, row, code_page))


def write_rowset(w: NdrWriter, rows: Sequence[Row] | None, code_page: int) -> None:
    """A top-level ``PropertyRowSet_r*`` (NULL when ``rows`` is None)."""
    if rows is None:
        w.top_pointer(None)
        return

    def rowset(w: NdrWriter) -> None:
        w.conf(len(rows))  # conformance of aRow, hoisted
        w.a8()
        w.u32(len(rows))  # cRows
        for row in rows:
            _row_inline(w, row, code_page)
    w.top_pointer(rowset)


def write_tag_array(w: NdrWriter, tags: Sequence[int] | None) -> None:
    """A top-level ``PropertyTagArray_r*`` (size_is cValues+1, length_is cValues)."""
    if tags is None:
        w.top_pointer(None)
        return

    def array(w: NdrWriter) -> None:
        w.conf(len(tags) + 1)
        w.u32(len(tags))
        w.conf(0)
        w.conf(len(tags))
        for tag in tags:
            w.u32(tag)
    w.top_pointer(array)

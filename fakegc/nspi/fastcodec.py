"""Hand-written decoders for the hottest NSPI requests (PROTOCOL.md §7, issue #8).

NspiQueryRows (MS-NSPI 3.1.4.1.8) and NspiResolveNamesW (3.1.4.1.20) requests decoded
with :mod:`struct`; anything unexpected raises :class:`ValueError` and the caller falls
back to impacket's decoder.  Property tests check both decoders agree on random
requests built by impacket.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["QueryRowsRequest", "ResolveNamesWRequest", "decode_query_rows", "decode_resolve_names_w"]

_STAT = struct.Struct("<9I")
_U32 = struct.Struct("<I")


@dataclass(slots=True)
class QueryRowsRequest:
    """The fields of an NspiQueryRows request."""

    handle: bytes
    flags: int
    stat: tuple[int, ...]
    etable: list[int] | None
    count: int
    tags: list[int] | None


@dataclass(slots=True)
class ResolveNamesWRequest:
    """The fields of an NspiResolveNamesW request."""

    handle: bytes
    stat: tuple[int, ...]
    tags: list[int] | None
    names: list[str]


def _tag_array(stub: bytes, off: int) -> tuple[list[int], int]:
    """A PropertyTagArray_r referent at ``off``: (tags, offset after)."""
    max_count, _c_values, offset, actual = struct.unpack_from("<4I", stub, off)
    off += 16
    if offset != 0 or actual > max_count or actual > 100_000:
        raise ValueError("irregular PropertyTagArray_r")
    end = off + 4 * actual
    if end > len(stub):
        raise ValueError("truncated PropertyTagArray_r")
    return list(struct.unpack_from(f"<{actual}I", stub, off)), end


def decode_query_rows(stub: bytes) -> QueryRowsRequest:
    """Decode an NspiQueryRows request stub."""
    if len(stub) < 76:
        raise ValueError("short NspiQueryRows")
    handle = stub[:20]
    flags = _U32.unpack_from(stub, 20)[0]
    stat = _STAT.unpack_from(stub, 24)
    off = 60
    _count_e, etable_ref = struct.unpack_from("<II", stub, off)
    off += 8
    etable = None
    if etable_ref:
        n = _U32.unpack_from(stub, off)[0]
        off += 4
        if n > 100_000 or off + 4 * n > len(stub):
            raise ValueError("irregular lpETable")
        etable = list(struct.unpack_from(f"<{n}I", stub, off))
        off += 4 * n
    count, tags_ref = struct.unpack_from("<II", stub, off)
    off += 8
    tags = None
    if tags_ref:
        tags, off = _tag_array(stub, off)
    return QueryRowsRequest(handle, flags, stat, etable, count, tags)


def decode_resolve_names_w(stub: bytes) -> ResolveNamesWRequest:
    """Decode an NspiResolveNamesW request stub."""
    if len(stub) < 72:
        raise ValueError("short NspiResolveNamesW")
    handle = stub[:20]
    stat = _STAT.unpack_from(stub, 24)
    off = 60
    tags_ref = _U32.unpack_from(stub, off)[0]
    off += 4
    tags = None
    if tags_ref:
        tags, off = _tag_array(stub, off)
    off += -off & 3
    max_count, count = struct.unpack_from("<II", stub, off)
    off += 8
    if count > max_count or count > 10_000:
        raise ValueError("irregular WStringsArray_r")
    refs = struct.unpack_from(f"<{count}I", stub, off)
    off += 4 * count
    names = []
    for ref in refs:
        if not ref:
            names.append("")
            continue
        off += -off & 3
        n_max, n_off, n_actual = struct.unpack_from("<3I", stub, off)
        off += 12
        if n_off != 0 or n_actual > n_max or off + 2 * n_actual > len(stub):
            raise ValueError("irregular wide string")
        names.append(stub[off: off + 2 * n_actual].decode("utf-16le").rstrip("\x00"))
        off += 2 * n_actual
    return ResolveNamesWRequest(handle, stat, tags, names)

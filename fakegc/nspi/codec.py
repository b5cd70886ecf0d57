"""NSPI stubs to typed messages and back (MS-OXNSPI 3.1.4.1; docs/PROTOCOL.md "NSPI wire layout").

Requests are decoded in the IDL's form by :mod:`fakegc.nspi.fastcodec` (``DECODERS``).
``encode_<op>(request, result, session, gc) -> bytes`` writes the answer in the IDL's
form (NDR 2.0) through :mod:`fakegc.nspi.ndr`'s writers.  Results reach the encoders
with wire MIds already (the boundary translated them).
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any

from fakegc.directory.index import row_cache
from fakegc.nspi import fastcodec as F
from fakegc.nspi import messages as M
from fakegc.nspi import ndr as N
from fakegc.nspi.fastcodec64 import Ndr64Reader
from fakegc.nspi.fastcodec_be import BigEndianReader
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.rows import object_row
from fakegc.nspi.table import Stat
from fakegc.rpc.registry import CallContext
from fakegc.wire.ndr import NdrWriter

__all__ = ["DECODERS", "ENCODERS", "cached_rows", "decoder_in"]


# -- row cache ---------------------------------------------------------------------------
def cached_rows(gc: NspiHost, session: NspiSession, refs: M.RowRefs,
                code_page: int, ndr64: bool = False) -> list[tuple[bytes, bytes]]:
    """Encoded rows, kept on the directory per view (columns, IDs kind, container, code page,
    GC) for as long as the directory is unchanged (fakegc.directory.index.RowCache).

    A hot path: rows of an unchanged directory are encoded once, at any directory size.
    """
    d, guid = gc.directory, session.server_guid
    cols = tuple(refs.columns)
    view = row_cache(d).view((cols, guid, refs.ephemeral, refs.container_id, code_page,
                              session.mid_offset, ndr64))
    get = view.get
    out = []
    for mid in refs.mids:
        blob = get(mid)
        if blob is None:
            blob = view[mid] = N.row_blob(object_row(d, d.get(mid), cols, guid, refs.ephemeral,
                                                     refs.container_id, session.mid_offset), code_page,
                                           ndr64)
        out.append(blob)
    return out


# -- encoders ---------------------------------------------------------------------------
Part = Callable[[NdrWriter], None]


def _encode(*parts: Part) -> bytes:
    w = NdrWriter()
    for part in parts:
        part(w)
    return w.getvalue()


def _u32(value: int) -> Part:
    return lambda w: w.u32(value)


def _stat_part(stat: Stat) -> Part:
    return lambda w: N.write_stat(w, stat.values())


def _unique_u32(present: bool, value: int) -> Part:
    def part(w: NdrWriter) -> None:
        if present:
            w.top_pointer(lambda w: w.u32(value & 0xFFFFFFFF))
        else:
            w.u32(0)
    return part


def _tags_part(tags: Sequence[int] | None) -> Part:
    return lambda w: N.write_tag_array(w, tags)


def encode_bind(req: M.NspiBind, res: M.BindResult, session: Any, gc: NspiHost) -> bytes:
    if res.session is None:
        return _encode(_u32(0), lambda w: w.raw(b"\x00" * 20), _u32(res.status))
    guid: uuidlib.UUID | None = res.server_guid

    def guid_part(w: NdrWriter) -> None:
        if guid is not None:
            w.top_pointer(lambda w: w.raw(guid.bytes_le))
        else:
            w.u32(0)
    return _encode(guid_part, lambda w: w.raw(res.handle), _u32(res.status))


def encode_unbind(req: M.NspiUnbind, res: M.UnbindResult, session: NspiSession,
                  gc: NspiHost) -> bytes:
    return _encode(lambda w: w.raw(b"\x00" * 20), _u32(res.status))


def encode_update_stat(req: M.NspiUpdateStat, res: M.UpdateStatResult, session: NspiSession,
                       gc: NspiHost) -> bytes:
    return _encode(_stat_part(res.stat), _unique_u32(req.want_delta, res.delta), _u32(res.status))


def _code_page(stat: Stat | None, session: NspiSession) -> int:
    return stat.CodePage if stat is not None and stat.CodePage else session.code_page


_STAT = struct.Struct("<9I")
_U32 = struct.Struct("<I")


def _tag_array_bytes(tags: Sequence[int] | None, ref: int) -> bytes:
    """A top-level unique ``PropertyTagArray_r*`` (PROTOCOL.md §13.1), at a 4-aligned offset."""
    if tags is None:
        return b"\x00\x00\x00\x00"
    n = len(tags)
    return struct.pack(f"<5I{n}I", ref, n + 1, n, 0, n, *tags)


def _rowset_bytes(blobs: Sequence[tuple[bytes, bytes]] | None, ref: int) -> bytes:
    """A top-level unique ``PropertyRowSet_r*`` of pre-encoded rows (ndr.row_blob)."""
    if blobs is None:
        return b"\x00\x00\x00\x00"
    n = len(blobs)
    return b"".join((struct.pack("<3I", ref, n, n), *(i for i, _ in blobs), *(d for _, d in blobs)))


def encode_query_rows(req: M.NspiQueryRows, res: M.QueryRowsResult, session: NspiSession,
                      gc: NspiHost) -> bytes:
    blobs = None if res.rows is None else cached_rows(gc, session, res.rows,
                                                       _code_page(req.stat, session))
    stat = _STAT.pack(*(v & 0xFFFFFFFF for v in res.stat.values()))
    return b"".join((stat, _rowset_bytes(blobs, 0x00020004), _U32.pack(res.status & 0xFFFFFFFF)))


def encode_seek_entries(req: M.NspiSeekEntries, res: M.SeekEntriesResult, session: NspiSession,
                        gc: NspiHost) -> bytes:
    return _encode(_stat_part(res.stat), lambda w: N.write_rowset(w, res.rows, session.code_page),
                   _u32(res.status))


def encode_get_matches(req: M.NspiGetMatches, res: M.GetMatchesResult, session: NspiSession,
                       gc: NspiHost) -> bytes:
    return _encode(_stat_part(res.stat), _tags_part(res.mids),
                   lambda w: N.write_rowset(w, res.rows, session.code_page), _u32(res.status))


def encode_resort_restriction(req: M.NspiResortRestriction, res: M.ResortRestrictionResult,
                              session: NspiSession, gc: NspiHost) -> bytes:
    return _encode(_stat_part(res.stat), _tags_part(res.mids), _u32(res.status))


def encode_dn_to_mid(req: M.NspiDNToMId, res: M.DNToMIdResult, session: NspiSession,
                     gc: NspiHost) -> bytes:
    return _encode(_tags_part(res.mids), _u32(res.status))


def encode_get_prop_list(req: M.NspiGetPropList, res: M.GetPropListResult, session: NspiSession,
                         gc: NspiHost) -> bytes:
    return _encode(_tags_part(res.tags), _u32(res.status))


def encode_get_props(req: M.NspiGetProps, res: M.GetPropsResult, session: NspiSession,
                     gc: NspiHost) -> bytes:
    cp = _code_page(req.stat, session)
    return _encode(lambda w: N.write_row(w, res.row, cp), _u32(res.status))


def encode_compare_mids(req: M.NspiCompareMIds, res: M.CompareMIdsResult, session: NspiSession,
                        gc: NspiHost) -> bytes:
    return _encode(_u32(res.result & 0xFFFFFFFF), _u32(res.status))


def encode_status(req: Any, res: Any, session: NspiSession, gc: NspiHost) -> bytes:
    """Methods whose only [out] is the return value (NspiModProps, NspiModLinkAtt)."""
    return _encode(_u32(res.status))


def encode_get_special_table(req: M.NspiGetSpecialTable, res: M.GetSpecialTableResult,
                             session: NspiSession, gc: NspiHost) -> bytes:
    # [in, out] DWORD* lpVersion: a reference pointer, so the DWORD itself
    return _encode(_u32(res.version),
                   lambda w: N.write_rowset(w, res.rows, session.code_page), _u32(res.status))


def encode_get_template_info(req: M.NspiGetTemplateInfo, res: M.GetTemplateInfoResult,
                             session: NspiSession, gc: NspiHost) -> bytes:
    return _encode(lambda w: N.write_row(w, res.row, session.code_page), _u32(res.status))


def encode_query_columns(req: M.NspiQueryColumns, res: M.QueryColumnsResult, session: NspiSession,
                         gc: NspiHost) -> bytes:
    return _encode(_tags_part(res.tags), _u32(res.status))


def _raw_part(data: bytes) -> Part:
    return lambda w: w.raw(data)


def _names_part(names: list[M.PropName] | None) -> Part:
    def part(w: NdrWriter) -> None:
        if names is None:
            w.u32(0)
            return

        def nameset(w: NdrWriter) -> None:
            w.u32(len(names))
            w.u32(len(names))
            for guid, lid in names:
                w.pointer(_raw_part(guid))
                w.u32(0)
                w.u32(lid)
        w.top_pointer(nameset)
    return part


def encode_get_names_from_ids(req: M.NspiGetNamesFromIDs, res: M.GetNamesFromIDsResult,
                              session: NspiSession, gc: NspiHost) -> bytes:
    return _encode(_tags_part(res.tags), _names_part(res.names), _u32(res.status))


def encode_get_ids_from_names(req: M.NspiGetIDsFromNames, res: M.GetIDsFromNamesResult,
                              session: NspiSession, gc: NspiHost) -> bytes:
    return _encode(_tags_part(res.tags), _u32(res.status))


def encode_resolve_names(req: M.NspiResolveNames | M.NspiResolveNamesW, res: M.ResolveNamesResult,
                         session: NspiSession, gc: NspiHost) -> bytes:
    blobs = None if res.rows is None else cached_rows(gc, session, res.rows,
                                                       _code_page(req.stat, session))
    return b"".join((_tag_array_bytes(res.mids, 0x00020004), _rowset_bytes(blobs, 0x00020008),
                     _U32.pack(res.status & 0xFFFFFFFF)))


def _decoder(opnum: int) -> Callable[[bytes], Any]:
    return lambda stub: F.decode(opnum, stub)


DECODERS: dict[int, Callable[[bytes], Any]] = {opnum: _decoder(opnum) for opnum in F.DECODERS}


def decoder_in(opnum: int) -> Callable[[CallContext, bytes], Any]:
    """The decoder of ``opnum`` for the call's transfer syntax and byte order (MS-RPCE
    2.2.5, C706 14.2.5; PROTOCOL.md §13)."""

    def decode(ctx: CallContext, stub: bytes) -> Any:
        if ctx.ndr64:
            if ctx.big_endian:
                raise ValueError("big-endian NDR64 is not read")
            return F.decode(opnum, stub, Ndr64Reader)
        return F.decode(opnum, stub, BigEndianReader if ctx.big_endian else F.Reader)

    return decode

ENCODERS: dict[int, Callable[[Any, Any, Any, NspiHost], bytes]] = {
    0: encode_bind, 1: encode_unbind, 2: encode_update_stat, 3: encode_query_rows,
    4: encode_seek_entries, 5: encode_get_matches, 6: encode_resort_restriction,
    7: encode_dn_to_mid, 8: encode_get_prop_list, 9: encode_get_props, 10: encode_compare_mids,
    11: encode_status, 12: encode_get_special_table, 13: encode_get_template_info,
    14: encode_status, 16: encode_query_columns, 17: encode_get_names_from_ids,
    18: encode_get_ids_from_names, 19: encode_resolve_names, 20: encode_resolve_names,
}

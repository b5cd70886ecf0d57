"""NSPI stubs to typed messages and back (MS-OXNSPI 3.1.4.1; docs/PROTOCOL.md "NSPI wire layout").

``decode_<op>(stub) -> request``: the hand-written decoder of :mod:`fakegc.nspi.fastcodec`
first where there is one, impacket's request classes otherwise (or when the fast
decoder finds anything irregular).  ``encode_<op>(request, result, session, gc) ->
bytes``: the answer in NDR 2.0 through :mod:`fakegc.nspi.ndr`'s writers.  Results
reach the encoders with wire MIds already (the boundary translated them).
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any

from impacket.dcerpc.v5 import nspi as inspi

from fakegc.nspi import fastcodec as F
from fakegc.nspi import messages as M
from fakegc.nspi import ndr as N
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.restrictions import TooComplex, _prop_value, from_impacket
from fakegc.nspi.rows import object_row
from fakegc.nspi.table import Stat
from fakegc.wire import impacket_ndr as W
from fakegc.wire.ndr import NdrWriter

__all__ = ["DECODERS", "ENCODERS", "cached_rows"]


# -- impacket helpers -------------------------------------------------------------------
def _int(value: Any) -> int:
    """An int from an impacket NDR primitive or a plain int."""
    if hasattr(value, "fields") and "Data" in value.fields:
        return int(value["Data"])
    return int(value)


def _is_null_ptr(ptr: Any) -> bool:
    try:
        return bool(ptr.fields.get("ReferentID", 1) == 0)
    except AttributeError:
        return ptr is None


def _tags(ptr: Any) -> list[int] | None:
    """A PropertyTagArray_r (or pointer) as a list; None when NULL.

    impacket sends cValues one larger than the tags that follow: the array's own
    length wins.
    """
    if ptr is None:
        return None
    try:
        data = ptr["Data"] if "Data" in getattr(ptr, "fields", {}) else ptr
    except (KeyError, TypeError):
        return None
    if data is None or data == b"" or not hasattr(data, "fields"):
        return None
    try:
        values = data["aulPropTag"]
    except KeyError:
        return None
    return [_int(v) for v in values]


def _raw8(value: Any) -> bytes:
    """An 8-bit string as sent (impacket hands some back as latin-1 text)."""
    data = value["Data"] if hasattr(value, "fields") else value
    raw = data if isinstance(data, bytes) else str(data).encode("latin-1", "replace")
    return raw.rstrip(b"\x00")


def _handle(value: Any) -> bytes:
    return bytes(value.getData() if hasattr(value, "getData") else value)


def _stat(s: Any) -> Stat:
    return Stat.from_impacket(s)


# -- decoders ---------------------------------------------------------------------------
def decode_bind(stub: bytes) -> M.NspiBind:
    req = inspi.NspiBind(stub)
    return M.NspiBind(req["dwFlags"], _stat(req["pStat"]),
                      not _is_null_ptr(req.fields["pServerGuid"]))


def decode_unbind(stub: bytes) -> M.NspiUnbind:
    req = inspi.NspiUnbind(stub)
    return M.NspiUnbind(_handle(req["contextHandle"]), req["Reserved"])


def decode_update_stat(stub: bytes) -> M.NspiUpdateStat:
    req = inspi.NspiUpdateStat(stub)
    return M.NspiUpdateStat(_handle(req["hRpc"]), _stat(req["pStat"]),
                            not _is_null_ptr(req.fields["plDelta"]), req["Reserved"])


def decode_query_rows(stub: bytes) -> M.NspiQueryRows:
    try:  # the hand-written decoder; impacket's when anything is irregular
        fast = F.decode_query_rows(stub)
        stat = Stat(*fast.stat)
        if stat.Delta >= 0x80000000:
            stat.Delta -= 1 << 32
        return M.NspiQueryRows(fast.handle, fast.flags, stat, fast.etable, fast.count, fast.tags)
    except (ValueError, struct.error):
        pass
    req = inspi.NspiQueryRows(stub)
    etable = None if _is_null_ptr(req.fields["lpETable"]) else [_int(v) for v in req["lpETable"]]
    return M.NspiQueryRows(_handle(req["hRpc"]), req["dwFlags"], _stat(req["pStat"]), etable,
                           req["Count"], _tags(req["pPropTags"]))


def decode_seek_entries(stub: bytes) -> M.NspiSeekEntries:
    req = inspi.NspiSeekEntries(stub)
    return M.NspiSeekEntries(_handle(req["hRpc"]), _stat(req["pStat"]), _prop_value(req["pTarget"]),
                             _tags(req["lpETable"]) or None, _tags(req["pPropTags"]),
                             req["Reserved"])


def decode_get_matches(stub: bytes) -> M.NspiGetMatches:
    req = W.NspiGetMatches(stub)
    restriction: Any = None
    if not _is_null_ptr(req.fields["Filter"]):
        try:
            restriction = from_impacket(req["Filter"])
        except TooComplex:
            restriction = M.TOO_COMPLEX
    return M.NspiGetMatches(_handle(req["hRpc"]), _stat(req["pStat"]), restriction,
                            req["ulRequested"], _tags(req["pPropTags"]), req["Reserved1"],
                            req["Reserved2"])


def decode_resort_restriction(stub: bytes) -> M.NspiResortRestriction:
    req = W.NspiResortRestriction(stub)
    return M.NspiResortRestriction(_handle(req["hRpc"]), _stat(req["pStat"]),
                                   [_int(v) for v in req["pInMIds"]["aulPropTag"]], req["Reserved"])


def decode_dn_to_mid(stub: bytes) -> M.NspiDNToMId:
    req = inspi.NspiDNToMId(stub)
    return M.NspiDNToMId(_handle(req["hRpc"]), [_raw8(s) for s in req["pNames"]["Strings"]],
                         req["Reserved"])


def decode_get_prop_list(stub: bytes) -> M.NspiGetPropList:
    req = inspi.NspiGetPropList(stub)
    return M.NspiGetPropList(_handle(req["hRpc"]), req["dwFlags"], req["dwMId"], req["CodePage"])


def decode_get_props(stub: bytes) -> M.NspiGetProps:
    req = inspi.NspiGetProps(stub)
    stat = None if _is_null_ptr(req.fields["pStat"]) else _stat(req["pStat"])
    return M.NspiGetProps(_handle(req["hRpc"]), req["dwFlags"], stat, _tags(req["pPropTags"]))


def decode_compare_mids(stub: bytes) -> M.NspiCompareMIds:
    req = inspi.NspiCompareMIds(stub)
    return M.NspiCompareMIds(_handle(req["hRpc"]), _stat(req["pStat"]), req["MId1"], req["MId2"],
                             req["Reserved"])


def decode_mod_props(stub: bytes) -> M.NspiModProps:
    req = W.NspiModProps(stub)
    row = [_prop_value(pv) for pv in req["pRow"]["lpProps"]]
    return M.NspiModProps(_handle(req["hRpc"]), _stat(req["pStat"]), _tags(req["pPropTags"]), row,
                          req["Reserved"])


def decode_get_special_table(stub: bytes) -> M.NspiGetSpecialTable:
    req = inspi.NspiGetSpecialTable(stub)
    return M.NspiGetSpecialTable(_handle(req["hRpc"]), req["dwFlags"], _stat(req["pStat"]),
                                 not _is_null_ptr(req.fields["lpVersion"]))


def decode_get_template_info(stub: bytes) -> M.NspiGetTemplateInfo:
    req = inspi.NspiGetTemplateInfo(stub)
    dn = None if _is_null_ptr(req.fields["pDN"]) else _raw8(req["pDN"])
    return M.NspiGetTemplateInfo(_handle(req["hRpc"]), req["dwFlags"], req["ulType"], dn,
                                 req["dwCodePage"], req["dwLocaleID"])


def decode_mod_link_att(stub: bytes) -> M.NspiModLinkAtt:
    req = inspi.NspiModLinkAtt(stub)
    entries = [b"".join(entry["lpb"]) for entry in req["lpEntryIds"]["lpbin"]]
    return M.NspiModLinkAtt(_handle(req["hRpc"]), req["dwFlags"], req["ulPropTag"], req["dwMId"],
                            entries)


def decode_query_columns(stub: bytes) -> M.NspiQueryColumns:
    req = inspi.NspiQueryColumns(stub)
    return M.NspiQueryColumns(_handle(req["hRpc"]), req["dwFlags"], req["Reserved"])


def decode_get_names_from_ids(stub: bytes) -> M.NspiGetNamesFromIDs:
    req = inspi.NspiGetNamesFromIDs(stub)
    guid = None if _is_null_ptr(req.fields["lpguid"]) else bytes(req["lpguid"])
    return M.NspiGetNamesFromIDs(_handle(req["hRpc"]), guid, _tags(req["pPropTags"]),
                                 req["Reserved"])


def decode_get_ids_from_names(stub: bytes) -> M.NspiGetIDsFromNames:
    req = inspi.NspiGetIDsFromNames(stub)
    names = [(bytes(n["lpguid"]) if n["lpguid"] else b"\x00" * 16, _int(n["lID"]))
             for n in req["pNames"]]
    return M.NspiGetIDsFromNames(_handle(req["hRpc"]), req["dwFlags"], names)


def decode_resolve_names(stub: bytes) -> M.NspiResolveNames:
    req = inspi.NspiResolveNames(stub)
    return M.NspiResolveNames(_handle(req["hRpc"]), _stat(req["pStat"]), _tags(req["pPropTags"]),
                              [_raw8(s) for s in req["paStr"]["Strings"]], req["Reserved"])


def decode_resolve_names_w(stub: bytes) -> M.NspiResolveNamesW:
    try:
        fast = F.decode_resolve_names_w(stub)
        return M.NspiResolveNamesW(fast.handle, Stat(*fast.stat), fast.tags, fast.names)
    except (ValueError, struct.error, UnicodeDecodeError):
        pass
    req = inspi.NspiResolveNamesW(stub)
    names = [str(s["Data"]).rstrip("\x00") for s in req["paStr"]["Strings"]]
    return M.NspiResolveNamesW(_handle(req["hRpc"]), _stat(req["pStat"]), _tags(req["pPropTags"]),
                               names, req["Reserved"])


# -- row cache ---------------------------------------------------------------------------
_ROW_CACHE: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
_ROW_CACHE_MAX = 100_000


def cached_rows(gc: NspiHost, session: NspiSession, refs: M.RowRefs,
                code_page: int) -> list[tuple[bytes, bytes]]:
    """Encoded rows, cached per (directory version, object, columns, IDs kind, code page).

    A hot path: rows of an unchanged directory are encoded once.
    """
    d, guid = gc.directory, session.server_guid
    cols = tuple(refs.columns)
    out = []
    for mid in refs.mids:
        key = (id(d), d.version, mid, cols, guid, refs.ephemeral, refs.container_id, code_page,
               session.mid_offset)
        blob = _ROW_CACHE.get(key)
        if blob is None:
            if len(_ROW_CACHE) >= _ROW_CACHE_MAX:
                _ROW_CACHE.clear()
            blob = N.row_blob(object_row(d, d.get(mid), cols, guid, refs.ephemeral,
                                         refs.container_id, session.mid_offset), code_page)
            _ROW_CACHE[key] = blob
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


def encode_query_rows(req: M.NspiQueryRows, res: M.QueryRowsResult, session: NspiSession,
                      gc: NspiHost) -> bytes:
    blobs = None if res.rows is None else cached_rows(gc, session, res.rows,
                                                       _code_page(req.stat, session))
    return _encode(_stat_part(res.stat), lambda w: N.write_rowset_blobs(w, blobs), _u32(res.status))


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
    return _encode(_unique_u32(req.want_version, res.version),
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
    return _encode(_tags_part(res.mids), lambda w: N.write_rowset_blobs(w, blobs), _u32(res.status))


DECODERS: dict[int, Callable[[bytes], Any]] = {
    0: decode_bind, 1: decode_unbind, 2: decode_update_stat, 3: decode_query_rows,
    4: decode_seek_entries, 5: decode_get_matches, 6: decode_resort_restriction,
    7: decode_dn_to_mid, 8: decode_get_prop_list, 9: decode_get_props, 10: decode_compare_mids,
    11: decode_mod_props, 12: decode_get_special_table, 13: decode_get_template_info,
    14: decode_mod_link_att, 16: decode_query_columns, 17: decode_get_names_from_ids,
    18: decode_get_ids_from_names, 19: decode_resolve_names, 20: decode_resolve_names_w,
}

ENCODERS: dict[int, Callable[[Any, Any, Any, NspiHost], bytes]] = {
    0: encode_bind, 1: encode_unbind, 2: encode_update_stat, 3: encode_query_rows,
    4: encode_seek_entries, 5: encode_get_matches, 6: encode_resort_restriction,
    7: encode_dn_to_mid, 8: encode_get_prop_list, 9: encode_get_props, 10: encode_compare_mids,
    11: encode_status, 12: encode_get_special_table, 13: encode_get_template_info,
    14: encode_status, 16: encode_query_columns, 17: encode_get_names_from_ids,
    18: encode_get_ids_from_names, 19: encode_resolve_names, 20: encode_resolve_names,
}

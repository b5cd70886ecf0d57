"""NSPI answers in NDR64 (MS-RPCE 2.2.5), in MS-OXNSPI's IDL form (docs/PROTOCOL.md §13).

The same parameters as :mod:`fakegc.nspi.codec`'s NDR 2.0 encoders, written through
:class:`~fakegc.wire.ndr64.Ndr64Writer`: referent IDs and array counts of 8 bytes,
structures holding pointers and the ``PROP_VAL_UNION`` arm aligned to 8 (the writers
of :mod:`fakegc.nspi.ndr` call ``conf`` / ``a8``, which NDR 2.0 writes as before).
NspiQueryRows and NspiResolveNames[W] splice rows from the row cache (NDR64 blobs, kept
beside the NDR 2.0 ones) as the NDR 2.0 encoders do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fakegc.nspi import messages as M
from fakegc.nspi import ndr as N
from fakegc.nspi.codec import cached_rows
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.table import Stat
from fakegc.wire.ndr import NdrWriter
from fakegc.wire.ndr64 import Ndr64Writer

__all__ = ["ENCODERS64"]

Part = Callable[[NdrWriter], None]


def _encode(*parts: Part) -> bytes:
    w = Ndr64Writer()
    for part in parts:
        part(w)
    return w.getvalue()


def _u32(value: int) -> Part:
    return lambda w: w.u32(value & 0xFFFFFFFF)


def _stat(stat: Stat) -> Part:
    return lambda w: N.write_stat(w, stat.values())


def _tags(tags: Sequence[int] | None) -> Part:
    return lambda w: N.write_tag_array(w, tags)


def _rows(rows: Sequence[M.Row] | None, code_page: int) -> Part:
    return lambda w: N.write_rowset(w, rows, code_page)


def _code_page(stat: Stat | None, session: NspiSession) -> int:
    return stat.CodePage if stat is not None and stat.CodePage else session.code_page


def _cached(gc: NspiHost, session: NspiSession, refs: M.RowRefs | None, code_page: int) -> Part:
    """A PropertyRowSet_r* of the rows ``refs`` names, from the row cache's NDR64 blobs."""
    if refs is None:
        return lambda w: w.top_pointer(None)
    blobs = cached_rows(gc, session, refs, code_page, ndr64=True)

    def rowset(w: NdrWriter) -> None:
        w.conf(len(blobs))  # conformance of aRow, hoisted
        w.u32(len(blobs))  # cRows; the rows follow 8-aligned (the inline blobs are 16 bytes)
        if blobs:
            w.align(8)
        w.raw(b"".join(inline for inline, _ in blobs))
        for _, deferred in blobs:  # each row's referents start 8-aligned (its conformance)
            w.align(8)
            w.raw(deferred)
    return lambda w: w.top_pointer(rowset)


def encode_bind(req: M.NspiBind, res: M.BindResult, session: Any, gc: NspiHost) -> bytes:
    if res.session is None:
        return _encode(lambda w: w.top_pointer(None), lambda w: w.raw(b"\x00" * 20),
                       _u32(res.status))
    raw = None if res.server_guid is None else res.server_guid.bytes_le

    def guid(w: NdrWriter) -> None:
        w.top_pointer(None if raw is None else (lambda w: w.raw(raw)))
    return _encode(guid, lambda w: w.raw(res.handle), _u32(res.status))


def encode_unbind(req: Any, res: M.UnbindResult, session: Any, gc: NspiHost) -> bytes:
    return _encode(lambda w: w.raw(b"\x00" * 20), _u32(res.status))


def encode_update_stat(req: M.NspiUpdateStat, res: M.UpdateStatResult, session: Any,
                       gc: NspiHost) -> bytes:
    delta = res.delta & 0xFFFFFFFF

    def pl_delta(w: NdrWriter) -> None:
        w.top_pointer((lambda w: w.u32(delta)) if req.want_delta else None)
    return _encode(_stat(res.stat), pl_delta, _u32(res.status))


def encode_query_rows(req: M.NspiQueryRows, res: M.QueryRowsResult, session: NspiSession,
                      gc: NspiHost) -> bytes:
    rows = _cached(gc, session, res.rows, _code_page(req.stat, session))
    return _encode(_stat(res.stat), rows, _u32(res.status))


def encode_seek_entries(req: Any, res: M.SeekEntriesResult, session: NspiSession,
                        gc: NspiHost) -> bytes:
    return _encode(_stat(res.stat), _rows(res.rows, session.code_page), _u32(res.status))


def encode_get_matches(req: Any, res: M.GetMatchesResult, session: NspiSession,
                       gc: NspiHost) -> bytes:
    return _encode(_stat(res.stat), _tags(res.mids), _rows(res.rows, session.code_page),
                   _u32(res.status))


def encode_resort_restriction(req: Any, res: M.ResortRestrictionResult, session: Any,
                              gc: NspiHost) -> bytes:
    return _encode(_stat(res.stat), _tags(res.mids), _u32(res.status))


def encode_mids(req: Any, res: Any, session: Any, gc: NspiHost) -> bytes:
    """A PropertyTagArray_r** and the status (DNToMId ``mids``; others ``tags``)."""
    tags = res.mids if isinstance(res, M.DNToMIdResult) else res.tags
    return _encode(_tags(tags), _u32(res.status))


def encode_get_props(req: M.NspiGetProps, res: M.GetPropsResult, session: NspiSession,
                     gc: NspiHost) -> bytes:
    cp = _code_page(req.stat, session)
    return _encode(lambda w: N.write_row(w, res.row, cp), _u32(res.status))


def encode_compare_mids(req: Any, res: M.CompareMIdsResult, session: Any, gc: NspiHost) -> bytes:
    return _encode(_u32(res.result), _u32(res.status))


def encode_status(req: Any, res: Any, session: Any, gc: NspiHost) -> bytes:
    """NspiModProps, NspiModLinkAtt: the return value only."""
    return _encode(_u32(res.status))


def encode_get_special_table(req: Any, res: M.GetSpecialTableResult, session: NspiSession,
                             gc: NspiHost) -> bytes:
    return _encode(_u32(res.version), _rows(res.rows, session.code_page), _u32(res.status))


def encode_get_template_info(req: Any, res: M.GetTemplateInfoResult, session: NspiSession,
                             gc: NspiHost) -> bytes:
    return _encode(lambda w: N.write_row(w, res.row, session.code_page), _u32(res.status))


def _raw(data: bytes) -> Part:
    return lambda w: w.raw(data)


def encode_get_names_from_ids(req: Any, res: M.GetNamesFromIDsResult, session: Any,
                              gc: NspiHost) -> bytes:
    names = res.names

    def nameset(w: NdrWriter) -> None:
        assert names is not None
        w.conf(len(names))  # PropertyNameSet_r: conformance of aNames, hoisted
        w.a8()
        w.u32(len(names))
        for guid, lid in names:
            w.a8()  # PropertyName_r holds a pointer
            w.pointer(_raw(guid))
            w.u32(0)
            w.u32(lid)

    def part(w: NdrWriter) -> None:
        w.top_pointer(None if names is None else nameset)
    return _encode(_tags(res.tags), part, _u32(res.status))


def encode_resolve_names(req: Any, res: M.ResolveNamesResult, session: NspiSession,
                         gc: NspiHost) -> bytes:
    rows = _cached(gc, session, res.rows, _code_page(req.stat, session))
    return _encode(_tags(res.mids), rows, _u32(res.status))


ENCODERS64: dict[int, Callable[[Any, Any, Any, NspiHost], bytes]] = {
    0: encode_bind, 1: encode_unbind, 2: encode_update_stat, 3: encode_query_rows,
    4: encode_seek_entries, 5: encode_get_matches, 6: encode_resort_restriction,
    7: encode_mids, 8: encode_mids, 9: encode_get_props, 10: encode_compare_mids,
    11: encode_status, 12: encode_get_special_table, 13: encode_get_template_info,
    14: encode_status, 16: encode_mids, 17: encode_get_names_from_ids, 18: encode_mids,
    19: encode_resolve_names, 20: encode_resolve_names,
}

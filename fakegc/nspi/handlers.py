"""NSPI handlers, part 1: sessions and tables (MS-OXNSPI 3.1.4.1).

Every handler is a pure function ``op(request, session, gc) -> result`` of the typed
messages in :mod:`fakegc.nspi.messages`: no sockets, no call context, directory MIds
in and out (the boundary translates wire MIds).  Only the return values MS-OXNSPI
allows are used (:class:`fakegc.codes.NspiStatus`).  Properties, names and name
resolution are in :mod:`fakegc.nspi.handlers_props`.
"""

from __future__ import annotations

from typing import Any

from fakegc.codes import NspiStatus as S
from fakegc.directory import props as P
from fakegc.directory.index import anr_mids, seek
from fakegc.directory.model import Container, Directory, sort_key
from fakegc.nspi import messages as M
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.restrictions import TooComplex, matches
from fakegc.nspi.rows import codec_for, hierarchy_row, object_row
from fakegc.nspi.table import MID_BEGINNING_OF_TABLE, Stat, position_stat, resolve_position
from fakegc.rpc.registry import AuthInfo

__all__ = [
    "CP_WINUNICODE",
    "MAX_TAGS",
    "bind",
    "code_page_ok",
    "compare_mids",
    "get_matches",
    "get_special_table",
    "materialize",
    "query_rows",
    "resort_restriction",
    "seek_entries",
    "unbind",
    "update_stat",
]

fAnonymousLogin = 0x20
fEphID = 0x2
NspiAddressCreationTemplates = 0x2
NspiUnicodeStrings = 0x4
CP_WINUNICODE = 1200
#: most columns a row request may name (MS-OXNSPI 3.1.4.1.8: TableTooBig above)
MAX_TAGS = 100


def code_page_ok(cp: int) -> bool:
    """A code page this server can convert strings to (MS-OXNSPI 3.1.4.1.1)."""
    return cp == CP_WINUNICODE or codec_for(cp) is not None


def _container(d: Directory, stat: Stat) -> Container | None:
    return d.container(stat.ContainerID)


def materialize(d: Directory, session: NspiSession, refs: M.RowRefs | None) -> list[M.Row] | None:
    """The value rows ``refs`` names (what the codec encodes for it)."""
    if refs is None:
        return None
    return [object_row(d, d.get(m), refs.columns, session.server_guid, refs.ephemeral,
                       refs.container_id, session.mid_offset) for m in refs.mids]


# -- 0 NspiBind / 1 NspiUnbind --------------------------------------------------------
def bind(req: M.NspiBind, caller: AuthInfo | None, gc: NspiHost) -> M.BindResult:
    """MS-OXNSPI 3.1.4.1.1: open a session; LogonFailed while the GC shuts down."""
    stat = req.stat
    status: int = S.Success
    if not gc.accepting_binds or req.flags & fAnonymousLogin and not gc.allow_anonymous or caller is None and not gc.allow_anonymous:
        status = S.LogonFailed
    elif stat.CodePage == CP_WINUNICODE:
        status = S.NotSupported
    elif not code_page_ok(stat.CodePage):
        status = S.InvalidCodepage
    if status != S.Success:
        return M.BindResult(status, notes={"server_guid": None})
    session = NspiSession(gc.server_guid, stat.CodePage or 1252, stat.TemplateLocale,
                          stat.SortLocale or 0x409, req.flags,
                          caller.principal if caller else None, gc.directory.version,
                          mid_offset=int(getattr(gc, "mid_offset", 0)))
    return M.BindResult(S.Success, session, gc.server_guid if req.want_guid else None,
                        notes={"server_guid": str(gc.server_guid), "gc": gc.name})


def unbind(req: M.NspiUnbind, session: NspiSession, gc: NspiHost) -> M.UnbindResult:
    """MS-OXNSPI 3.1.4.1.2: the boundary already closed the handle."""
    return M.UnbindResult(S.UnbindSuccess)


# -- 2 NspiUpdateStat -----------------------------------------------------------------
def update_stat(req: M.NspiUpdateStat, session: NspiSession, gc: NspiHost) -> M.UpdateStatResult:
    """MS-OXNSPI 3.1.4.1.4: apply Delta, report how far it moved."""
    d, stat = gc.directory, req.stat
    c = _container(d, stat)
    if c is None:
        return M.UpdateStatResult(S.InvalidBookmark, stat, notes={"total": stat.TotalRecs})
    before = resolve_position(d, c, Stat(stat.SortType, stat.ContainerID, stat.CurrentRec, 0,
                                         stat.NumPos, stat.TotalRecs, stat.CodePage,
                                         stat.TemplateLocale, stat.SortLocale))
    pos = resolve_position(d, c, stat)
    out = position_stat(d, c, stat, pos)
    return M.UpdateStatResult(S.Success, out, pos - before, notes={"total": out.TotalRecs})


# -- 3 NspiQueryRows ------------------------------------------------------------------
def query_rows(req: M.NspiQueryRows, session: NspiSession, gc: NspiHost) -> M.QueryRowsResult:
    """MS-OXNSPI 3.1.4.1.8: never more than Count rows from a container (newer Outlook
    crashes on more, gromox nsp_interface_query_rows); an unknown bookmark reads as row 0."""
    d, stat, etable, count = gc.directory, req.stat, req.etable, req.count

    def done(status: int, stat: Stat, refs: M.RowRefs | None = None) -> M.QueryRowsResult:
        return M.QueryRowsResult(status, stat, refs,
                                 notes={"rows": len(refs.mids) if refs is not None else 0})

    if count == 0 and not etable:
        return done(S.InvalidParameter, stat)
    columns = list(P.DEFAULT_COLUMNS) if req.tags is None else req.tags
    if len(columns) > MAX_TAGS:
        return done(S.TableTooBig, stat)
    eph = bool(req.flags & fEphID)
    if etable:
        # an explicit table is answered whole, one row per MId, whatever Count says
        # (gromox nsp_interface_query_rows; exchanger.py dnt-lookup sends 350 MIds with
        # Count 50 and relies on it); Count bounds only the rows read from a container
        return done(S.Success, stat, M.RowRefs(list(etable), columns, eph, stat.ContainerID))
    c = _container(d, stat)
    if c is None:
        return done(S.InvalidBookmark, stat)
    table = d.table(c, stat.SortLocale)
    pos = resolve_position(d, c, stat)
    mids = table[pos: pos + count]
    return done(S.Success, position_stat(d, c, stat, pos + len(mids)),
                M.RowRefs(mids, columns, eph, c.container_id))


# -- 4 NspiSeekEntries ----------------------------------------------------------------
def seek_entries(req: M.NspiSeekEntries, session: NspiSession, gc: NspiHost) -> M.SeekEntriesResult:
    """MS-OXNSPI 3.1.4.1.9: the first row whose display name sorts at or after the target."""
    d, stat, etable, tags = gc.directory, req.stat, req.etable, req.tags
    tag, value = req.target
    if P.canonical(tag) != P.PR_DISPLAY_NAME or not isinstance(value, str):
        return M.SeekEntriesResult(S.TooComplex, stat)
    c = _container(d, stat)
    if c is None:
        return M.SeekEntriesResult(S.InvalidBookmark, stat)
    if etable:  # the client's own list: a scan bounded by its size
        key = sort_key(value, stat.SortLocale)
        mids = etable
        pos = next((i for i, mid in enumerate(mids) if (obj := d.get(mid)) is not None
                    and sort_key(obj.display_name, stat.SortLocale) >= key), None)
    else:  # the container's sorted table: binary search over its collation keys
        mids = d.table(c, stat.SortLocale)
        pos = seek(d, c, value, stat.SortLocale)
    if pos is None:
        return M.SeekEntriesResult(S.NotFound, stat)
    if etable:
        stat.CurrentRec, stat.NumPos, stat.TotalRecs, stat.Delta = mids[pos], pos, len(mids), 0
    else:
        stat = position_stat(d, c, stat, pos)
    rows = None
    if tags is not None:
        if len(tags) > MAX_TAGS:
            return M.SeekEntriesResult(S.TableTooBig, stat)
        # an Explicit Table: its rows from the new position on; a container's table: the row
        # at the new position only (gromox nsp_interface_seek_entries), never the whole tail
        chosen = mids[pos:] if etable else mids[pos:pos + 1]
        rows = [object_row(d, d.get(m), tags, session.server_guid, False, c.container_id,
                           session.mid_offset) for m in chosen]
    return M.SeekEntriesResult(S.Success, stat, rows)


# -- 5 NspiGetMatches -----------------------------------------------------------------
def get_matches(req: M.NspiGetMatches, session: NspiSession, gc: NspiHost) -> M.GetMatchesResult:
    """MS-OXNSPI 3.1.4.1.10: rows matching a restriction, or a DL's members (PR_EMS_AB_MEMBER)."""
    d, stat, tags = gc.directory, req.stat, req.tags

    def fail(status: int) -> M.GetMatchesResult:
        return M.GetMatchesResult(status, stat, notes={"matches": 0})

    if req.restriction is None:
        # the ContainerID names an object-valued property of the object at CurrentRec
        if P.canonical(stat.ContainerID) != P.PR_EMS_AB_MEMBER:
            return fail(S.NotSupported)
        obj = d.get(stat.CurrentRec)
        if obj is None:
            return fail(S.InvalidBookmark)
        found = sorted(obj.members, key=lambda m: sort_key(d.objects[m].display_name, stat.SortLocale))
        container_id = 0
    else:
        c = _container(d, stat)
        if c is None:
            return fail(S.InvalidBookmark)
        if req.restriction == M.TOO_COMPLEX:
            return fail(S.TooComplex)
        try:
            r = req.restriction
            if r[0] in ("property", "content") and P.canonical(r[2]) == P.PR_ANR:
                found = anr_mids(d, str(r[3]), c, stat.SortLocale)  # the index, in table order
            else:
                found = [m for m in d.table(c, stat.SortLocale) if matches(d, d.objects[m], r)]
        except TooComplex:
            return fail(S.TooComplex)
        container_id = c.container_id
    if req.requested and len(found) > req.requested:
        return fail(S.TableTooBig)
    rows = None
    if tags is not None:
        if len(tags) > MAX_TAGS:
            return fail(S.TableTooBig)
        rows = [object_row(d, d.objects[m], tags, session.server_guid, False, container_id,
                           session.mid_offset) for m in found]
    stat.CurrentRec, stat.NumPos, stat.TotalRecs, stat.Delta = MID_BEGINNING_OF_TABLE, 0, len(found), 0
    return M.GetMatchesResult(S.Success, stat, found, rows, notes={"matches": len(found)})


# -- 6 NspiResortRestriction ----------------------------------------------------------
def resort_restriction(req: M.NspiResortRestriction, session: NspiSession,
                       gc: NspiHost) -> M.ResortRestrictionResult:
    """MS-OXNSPI 3.1.4.1.11: sort MIds by display name under the STAT's SortLocale."""
    d, stat = gc.directory, req.stat
    known = [m for m in req.mids if m in d.objects]
    known.sort(key=lambda m: (sort_key(d.objects[m].display_name, stat.SortLocale), m))
    stat.TotalRecs = len(known)
    stat.NumPos = known.index(stat.CurrentRec) if stat.CurrentRec in known else 0
    return M.ResortRestrictionResult(S.Success, stat, known)


# -- 10 NspiCompareMIds ---------------------------------------------------------------
def compare_mids(req: M.NspiCompareMIds, session: NspiSession, gc: NspiHost) -> M.CompareMIdsResult:
    """MS-OXNSPI 3.1.4.1.12: compare two MIds' positions in a table (-1, 0, 1)."""
    d, stat = gc.directory, req.stat
    c = _container(d, stat)
    if c is None:
        return M.CompareMIdsResult(S.InvalidBookmark)
    p1, p2 = d.position(c, req.mid1, stat.SortLocale), d.position(c, req.mid2, stat.SortLocale)
    if p1 is None or p2 is None:
        return M.CompareMIdsResult(S.GeneralFailure)
    return M.CompareMIdsResult(S.Success, (p1 > p2) - (p1 < p2))


# -- 12 NspiGetSpecialTable -----------------------------------------------------------
def get_special_table(req: M.NspiGetSpecialTable, session: NspiSession,
                      gc: NspiHost) -> M.GetSpecialTableResult:
    """MS-OXNSPI 3.1.4.1.3: the hierarchy table (or the empty address-creation templates)."""
    d = gc.directory
    rows: list[Any]
    if req.flags & NspiAddressCreationTemplates:
        rows = []
    else:
        unicode = bool(req.flags & NspiUnicodeStrings)
        rows = [hierarchy_row(d, c, session.server_guid, unicode) for c in d.containers]
    return M.GetSpecialTableResult(S.Success, d.version, rows)

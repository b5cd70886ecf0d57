"""NSPI operations, opnums 0–20 (MS-NSPI 3.1.4.1; MS-OXNSPI; DESIGN.md §5, §9, §11).

Each registered operation decodes its request with impacket's structures, calls a
pure handler of (request values, session, host), and encodes the answer with the
hand-written NDR encoders of :mod:`fakegc.nspi.ndr`.  Only the return values
MS-NSPI allows are used (:class:`fakegc.codes.NspiStatus`).
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any

from impacket.dcerpc.v5 import nspi as inspi

from fakegc.codes import NspiStatus as S
from fakegc.codes import RpcStatus
from fakegc.directory import props as P
from fakegc.directory.model import AbObject, Container, Directory, sort_key
from fakegc.nspi import fastcodec as F
from fakegc.nspi import ndr as N
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.restrictions import TooComplex, anr_match, from_impacket, matches
from fakegc.nspi.rows import (MISSING, Missing, all_tags, codec_for, hierarchy_row, object_value,
                              parse_entry_id)
from fakegc.nspi.table import (MID_BEGINNING_OF_TABLE, Stat, position_stat,
                               resolve_position)
from fakegc.rpc.registry import CallContext, Interface, RpcFault
from fakegc.wire.ndr import NdrWriter

__all__ = ["NSPI", "MAX_TAGS"]

NSPI = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0), spec="MS-NSPI")

fAnonymousLogin = 0x20
fSkipObjects = 0x1
fEphID = 0x2
NspiAddressCreationTemplates = 0x2
NspiUnicodeStrings = 0x4
NspiUnicodeProptypes = 0x80000000
NspiVerifyNames = 0x2
TI_TEMPLATE = 0x1
TI_SCRIPT = 0x4
fDelete = 0x1
CP_WINUNICODE = 1200
MAX_TAGS = 100
MID_UNRESOLVED = 0
MID_AMBIGUOUS = 1
KNOWN_LOCALES = {0x409, 0x407, 0x40C, 0x410, 0x411, 0x41D, 0x40B, 0x809, 0x413, 0x415, 0x416,
                 0x419, 0x804, 0x406, 0x414, 0x40A, 0xC0A}
NAMED_BASE = 0xA000


# -- helpers ----------------------------------------------------------------------------
def _status(ctx: CallContext, code: int) -> int:
    ctx.notes["status"] = int(code)
    return int(code)


def _session(ctx: CallContext, handle: Any) -> NspiSession:
    raw = handle.getData() if hasattr(handle, "getData") else bytes(handle)
    obj = ctx.handles.get(raw)
    if not isinstance(obj, NspiSession):
        raise RpcFault(RpcStatus.nca_s_fault_context_mismatch, "not an NSPI context handle")
    return obj


def _host(ctx: CallContext) -> NspiHost:
    host = ctx.actor
    if host is None or not hasattr(host, "directory"):
        raise RpcFault(RpcStatus.nca_s_fault_cant_perform, "no directory behind this server")
    return host  # type: ignore[no-any-return]


def _tags(ptr: Any) -> list[int] | None:
    """A PropertyTagArray_r (or pointer) as a list; None when NULL.

    impacket sends cValues one larger than the tags that follow (DESIGN.md §9):
    the array's own length wins.
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


def _int(value: Any) -> int:
    """An int from an impacket NDR primitive or a plain int."""
    if hasattr(value, "fields") and "Data" in value.fields:
        return int(value["Data"])
    return int(value)


def _is_null_ptr(ptr: Any) -> bool:
    try:
        return ptr.fields.get("ReferentID", 1) == 0
    except AttributeError:
        return ptr is None


def _string(value: Any, code_page: int) -> str:
    data = value["Data"] if hasattr(value, "fields") else value
    if isinstance(data, bytes):
        return data.decode(codec_for(code_page) or "cp1252", "replace").rstrip("\x00")
    text = str(data)
    if code_page not in (0, 28591, 0x4F25):
        try:
            text = text.encode("latin-1").decode(codec_for(code_page) or "cp1252")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return text.rstrip("\x00")


def object_row(d: Directory, obj: AbObject | None, tags: Sequence[int], guid: uuidlib.UUID,
               eph: bool, container_id: int = 0, mid_offset: int = 0) -> list[tuple[int, Any]]:
    """Pure: the row for ``obj`` with ``tags`` (all NotFound when obj is None)."""
    row: list[tuple[int, Any]] = []
    for tag in tags:
        if obj is None:
            row.append((tag, MISSING))
            continue
        value = object_value(d, obj, tag, guid, eph, container_id, mid_offset)
        ptype = tag & 0xFFFF
        if not isinstance(value, Missing) and ptype == P.PT_UNSPECIFIED:
            tag = _infer_type(tag, value)
        row.append((tag, value))
    return row


_ROW_CACHE: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
_ROW_CACHE_MAX = 100_000


def cached_rows(d: Directory, mids: Sequence[int], columns: Sequence[int], guid: uuidlib.UUID,
                eph: bool, container_id: int, code_page: int,
                mid_offset: int = 0) -> list[tuple[bytes, bytes]]:
    """Encoded rows, cached per (directory version, object, columns, IDs kind, code page).

    A hot path (DESIGN.md §7): rows of an unchanged directory are encoded once.
    """
    cols = tuple(columns)
    out = []
    for mid in mids:
        key = (id(d), d.version, mid, cols, guid, eph, container_id, code_page, mid_offset)
        blob = _ROW_CACHE.get(key)
        if blob is None:
            if len(_ROW_CACHE) >= _ROW_CACHE_MAX:
                _ROW_CACHE.clear()
            blob = N.row_blob(object_row(d, d.get(mid), cols, guid, eph, container_id, mid_offset),
                              code_page)
            _ROW_CACHE[key] = blob
        out.append(blob)
    return out


def _infer_type(tag: int, value: Any) -> int:
    if isinstance(value, bool):
        return P.with_type(tag, P.PT_BOOLEAN)
    if isinstance(value, int):
        return P.with_type(tag, P.PT_LONG)
    if isinstance(value, str):
        return P.with_type(tag, P.PT_UNICODE)
    if isinstance(value, bytes):
        return P.with_type(tag, P.PT_BINARY)
    if isinstance(value, list):
        return P.with_type(tag, P.PT_MV_UNICODE if value and isinstance(value[0], str) else P.PT_MV_BINARY)
    return tag


INVALID_MID = 0xFFFFFFFF


def to_wire(session: NspiSession, d: Directory, mid: int) -> int:
    """A directory MId as this GC names it (objects only; positions and containers as they are)."""
    return mid + session.mid_offset if mid in d.objects else mid


def from_wire(session: NspiSession, d: Directory, mid: int) -> int:
    """A client's MId back to the directory's; an MId of another GC's space → INVALID_MID."""
    if mid < 0x10:
        return mid
    local = mid - session.mid_offset
    if local in d.objects:
        return local
    if any(c.mid == mid for c in d.containers):
        return mid
    return INVALID_MID


def _stat_in(session: NspiSession, d: Directory, stat: Stat) -> Stat:
    stat.CurrentRec = from_wire(session, d, stat.CurrentRec)
    return stat


def _open(ctx: CallContext, cls: Any, stub: bytes) -> tuple[Any, NspiSession, Directory, Stat]:
    """Decode a request that carries hRpc and pStat: (request, session, directory, STAT in
    directory MIds)."""
    req = cls(stub)
    session = _session(ctx, req["hRpc"])
    d = _host(ctx).directory
    return req, session, d, _stat_in(session, d, Stat.from_impacket(req["pStat"]))


def _container(d: Directory, stat: Stat) -> Container | None:
    return d.container(stat.ContainerID)


def _encode(*parts: Callable[[NdrWriter], None]) -> bytes:
    w = NdrWriter()
    for part in parts:
        part(w)
    return w.getvalue()


def _u32(value: int) -> Callable[[NdrWriter], None]:
    return lambda w: w.u32(value)


def _stat_out(stat: Stat, session: NspiSession | None = None,
              d: Directory | None = None) -> Callable[[NdrWriter], None]:
    if session is not None and d is not None:
        stat = Stat(*stat.values())
        stat.CurrentRec = to_wire(session, d, stat.CurrentRec)
    return lambda w: N.write_stat(w, stat.values())


def _code_page_ok(cp: int) -> bool:
    return cp == CP_WINUNICODE or codec_for(cp) is not None


# -- 0 NspiBind -------------------------------------------------------------------------
def bind(host: NspiHost, flags: int, stat: Stat, authenticated: bool, user: str | None) -> tuple[int, NspiSession | None]:
    """Pure NspiBind (MS-NSPI 3.1.4.1.1, MS-OXNSPI 3.1.4.1.1)."""
    if not host.accepting_binds:
        return S.LogonFailed, None
    if flags & fAnonymousLogin and not host.allow_anonymous:
        return S.LogonFailed, None
    if not authenticated and not host.allow_anonymous:
        return S.LogonFailed, None
    if stat.CodePage == CP_WINUNICODE:
        return S.NotSupported, None
    if not _code_page_ok(stat.CodePage):
        return S.InvalidCodepage, None
    session = NspiSession(host.server_guid, stat.CodePage or 1252, stat.TemplateLocale,
                          stat.SortLocale or 0x409, flags, user, host.directory.version,
                          mid_offset=int(getattr(host, "mid_offset", 0)))
    return S.Success, session


@NSPI.operation(0, "NspiBind", request=inspi.NspiBind, response=inspi.NspiBindResponse,
                spec="MS-NSPI 3.1.4.1.1")
def _op_bind(ctx: CallContext, stub: bytes) -> bytes:
    """Open a session: code page, locales, server GUID (only when asked); LogonFailed while the GC shuts down."""
    req = inspi.NspiBind(stub)
    host = _host(ctx)
    want_guid = not _is_null_ptr(req.fields["pServerGuid"])
    if ctx.forced_status is not None:
        status, session = ctx.forced_status, None
    else:
        status, session = bind(host, req["dwFlags"], Stat.from_impacket(req["pStat"]),
                               ctx.auth is not None, ctx.auth.principal if ctx.auth else None)
    _status(ctx, status)
    if session is None:
        ctx.notes["server_guid"] = None
        return _encode(_u32(0), lambda w: w.raw(b"\x00" * 20), _u32(status))
    handle = ctx.handles.new(session)
    ctx.notes["server_guid"] = str(host.server_guid)
    ctx.notes["gc"] = host.name
    guid = host.server_guid.bytes_le

    def guid_part(w: NdrWriter) -> None:
        if want_guid:
            w.top_pointer(lambda w: w.raw(guid))
        else:
            w.u32(0)
    return _encode(guid_part, lambda w: w.raw(handle), _u32(S.Success))


# -- 1 NspiUnbind -----------------------------------------------------------------------
@NSPI.operation(1, "NspiUnbind", request=inspi.NspiUnbind, response=inspi.NspiUnbindResponse,
                spec="MS-NSPI 3.1.4.1.2")
def _op_unbind(ctx: CallContext, stub: bytes) -> bytes:
    """Close the session; answers UnbindSuccess and a zeroed handle."""
    req = inspi.NspiUnbind(stub)
    raw = req["contextHandle"].getData()
    _session(ctx, raw)
    ctx.handles.close(raw)
    status = _status(ctx, ctx.forced_status if ctx.forced_status is not None else S.UnbindSuccess)
    return _encode(lambda w: w.raw(b"\x00" * 20), _u32(status))


# -- 2 NspiUpdateStat -------------------------------------------------------------------
def update_stat(d: Directory, stat: Stat) -> tuple[int, Stat, int]:
    """Pure NspiUpdateStat: apply Delta, report how far it moved."""
    c = _container(d, stat)
    if c is None:
        return S.InvalidBookmark, stat, 0
    before = resolve_position(d, c, Stat(stat.SortType, stat.ContainerID, stat.CurrentRec, 0,
                                         stat.NumPos, stat.TotalRecs, stat.CodePage,
                                         stat.TemplateLocale, stat.SortLocale))
    pos = resolve_position(d, c, stat)
    return S.Success, position_stat(d, c, stat, pos), pos - before


@NSPI.operation(2, "NspiUpdateStat", request=inspi.NspiUpdateStat,
                response=inspi.NspiUpdateStatResponse, spec="MS-NSPI 3.1.4.1.4")
def _op_update_stat(ctx: CallContext, stub: bytes) -> bytes:
    """Move in a table by Delta; answers the position, TotalRecs and how far it moved."""
    req, session, d, stat = _open(ctx, inspi.NspiUpdateStat, stub)
    want_delta = not _is_null_ptr(req.fields["plDelta"])
    if ctx.forced_status is not None:
        status, moved = ctx.forced_status, 0
    else:
        status, stat, moved = update_stat(d, stat)
    _status(ctx, status)
    ctx.notes["total"] = stat.TotalRecs

    def delta(w: NdrWriter) -> None:
        if want_delta:
            w.top_pointer(lambda w: w.u32(moved & 0xFFFFFFFF))
        else:
            w.u32(0)
    return _encode(_stat_out(stat, session, d), delta, _u32(status))


# -- 3 NspiQueryRows --------------------------------------------------------------------
def query_rows_plan(d: Directory, flags: int, stat: Stat, etable: list[int] | None, count: int,
                    tags: list[int] | None) -> tuple[int, Stat, list[int] | None, list[int], int]:
    """Pure NspiQueryRows (MS-NSPI 3.1.4.1.8) without encoding: (status, stat, MIds, columns,
    container id).  Never more than ``count`` rows; an unknown bookmark reads as row 0."""
    if count == 0 and not etable:
        return S.InvalidParameter, stat, None, [], 0
    columns = list(P.DEFAULT_COLUMNS) if tags is None else tags
    if len(columns) > MAX_TAGS:
        return S.TableTooBig, stat, None, columns, 0
    if etable:
        return S.Success, stat, list(etable[:count] if count else etable), columns, stat.ContainerID
    c = _container(d, stat)
    if c is None:
        return S.InvalidBookmark, stat, None, columns, 0
    table = d.table(c, stat.SortLocale)
    pos = resolve_position(d, c, stat)
    mids = table[pos: pos + count]
    return S.Success, position_stat(d, c, stat, pos + len(mids)), mids, columns, c.container_id


def query_rows(d: Directory, session: NspiSession, flags: int, stat: Stat, etable: list[int] | None,
               count: int, tags: list[int] | None) -> tuple[int, Stat, list[list[tuple[int, Any]]] | None]:
    """Pure NspiQueryRows returning the rows as values (see :func:`query_rows_plan`)."""
    status, stat, mids, columns, cid = query_rows_plan(d, flags, stat, etable, count, tags)
    if mids is None:
        return status, stat, None
    eph = bool(flags & fEphID)
    return status, stat, [object_row(d, d.get(m), columns, session.server_guid, eph, cid) for m in mids]


@NSPI.operation(3, "NspiQueryRows", request=inspi.NspiQueryRows, response=inspi.NspiQueryRowsResponse,
                spec="MS-NSPI 3.1.4.1.8")
def _op_query_rows(ctx: CallContext, stub: bytes) -> bytes:
    """Rows from the current position (never more than Count) or from an explicit MId table."""
    try:  # the hand-written decoder; impacket's when anything is irregular
        fast = F.decode_query_rows(stub)
        handle, flags, count, tags = fast.handle, fast.flags, fast.count, fast.tags
        raw_stat, raw_etable = Stat(*fast.stat), fast.etable
    except (ValueError, struct.error):
        req = inspi.NspiQueryRows(stub)
        handle, flags, count, tags = req["hRpc"], req["dwFlags"], req["Count"], _tags(req["pPropTags"])
        raw_stat = Stat.from_impacket(req["pStat"])
        raw_etable = None if _is_null_ptr(req.fields["lpETable"]) else [_int(v) for v in req["lpETable"]]
    session = _session(ctx, handle)
    d = _host(ctx).directory
    if raw_stat.Delta >= 0x80000000:
        raw_stat.Delta -= 1 << 32
    stat = _stat_in(session, d, raw_stat)
    etable = None if raw_etable is None else [from_wire(session, d, m) for m in raw_etable]
    cp = stat.CodePage or session.code_page
    blobs = None
    if ctx.forced_status is not None:
        status = ctx.forced_status
    else:
        status, stat, mids, columns, cid = query_rows_plan(d, flags, stat, etable, count, tags)
        if mids is not None:
            blobs = cached_rows(d, mids, columns, session.server_guid, bool(flags & fEphID),
                                cid, cp, session.mid_offset)
    _status(ctx, status)
    ctx.notes["rows"] = len(blobs) if blobs is not None else 0
    return _encode(_stat_out(stat, session, d), lambda w: N.write_rowset_blobs(w, blobs), _u32(status))


# -- 4 NspiSeekEntries ------------------------------------------------------------------
def seek_entries(d: Directory, session: NspiSession, stat: Stat, target: tuple[int, Any],
                 etable: list[int] | None, tags: list[int] | None) -> tuple[int, Stat, list[Any] | None]:
    """Pure NspiSeekEntries (MS-NSPI 3.1.4.1.9): first row whose display name sorts >= target."""
    tag, value = target
    if P.canonical(tag) != P.PR_DISPLAY_NAME or not isinstance(value, str):
        return S.TooComplex, stat, None
    c = _container(d, stat)
    if c is None:
        return S.InvalidBookmark, stat, None
    mids = etable if etable else d.table(c, stat.SortLocale)
    key = sort_key(value, stat.SortLocale)
    for pos, mid in enumerate(mids):
        obj = d.get(mid)
        if obj is not None and sort_key(obj.display_name, stat.SortLocale) >= key:
            break
    else:
        return S.NotFound, stat, None
    if etable:
        stat.CurrentRec, stat.NumPos, stat.TotalRecs, stat.Delta = mids[pos], pos, len(mids), 0
    else:
        stat = position_stat(d, c, stat, pos)
    rows = None
    if tags is not None:
        if len(tags) > MAX_TAGS:
            return S.TableTooBig, stat, None
        rows = [object_row(d, d.get(m), tags, session.server_guid, False, c.container_id,
                           session.mid_offset) for m in mids[pos:]]
    return S.Success, stat, rows


@NSPI.operation(4, "NspiSeekEntries", request=inspi.NspiSeekEntries,
                response=inspi.NspiSeekEntriesResponse, spec="MS-NSPI 3.1.4.1.9")
def _op_seek_entries(ctx: CallContext, stub: bytes) -> bytes:
    """Position at the first row whose display name sorts at or after the target."""
    from fakegc.nspi.restrictions import _prop_value

    req, session, d, stat = _open(ctx, inspi.NspiSeekEntries, stub)
    if ctx.forced_status is not None:
        status, rows = ctx.forced_status, None
    else:
        etable = [from_wire(session, d, m) for m in (_tags(req["lpETable"]) or [])] or None
        status, stat, rows = seek_entries(d, session, stat,
                                          _prop_value(req["pTarget"]), etable,
                                          _tags(req["pPropTags"]))
    _status(ctx, status)
    return _encode(_stat_out(stat, session, d), lambda w: N.write_rowset(w, rows, session.code_page),
                   _u32(status))


# -- 5 NspiGetMatches -------------------------------------------------------------------
def get_matches(d: Directory, session: NspiSession, stat: Stat, restriction: Any,
                requested: int, tags: list[int] | None) -> tuple[int, Stat, list[int] | None, list[Any] | None]:
    """Pure NspiGetMatches (MS-NSPI 3.1.4.1.10; DL members via PR_EMS_AB_MEMBER)."""
    if restriction is None:
        # the ContainerID names an object-valued property of the object at CurrentRec
        if P.canonical(stat.ContainerID) != P.PR_EMS_AB_MEMBER:
            return S.NotSupported, stat, None, None
        obj = d.get(stat.CurrentRec)
        if obj is None:
            return S.InvalidBookmark, stat, None, None
        found = sorted(obj.members, key=lambda m: sort_key(d.objects[m].display_name, stat.SortLocale))
        container_id = 0
    else:
        c = _container(d, stat)
        if c is None:
            return S.InvalidBookmark, stat, None, None
        try:
            found = [m for m in d.table(c, stat.SortLocale) if matches(d, d.objects[m], restriction)]
        except TooComplex:
            return S.TooComplex, stat, None, None
        container_id = c.container_id
    if requested and len(found) > requested:
        return S.TableTooBig, stat, None, None
    rows = None
    if tags is not None:
        if len(tags) > MAX_TAGS:
            return S.TableTooBig, stat, None, None
        rows = [object_row(d, d.objects[m], tags, session.server_guid, False, container_id,
                           session.mid_offset) for m in found]
    stat.CurrentRec, stat.NumPos, stat.TotalRecs, stat.Delta = MID_BEGINNING_OF_TABLE, 0, len(found), 0
    return S.Success, stat, found, rows


@NSPI.operation(5, "NspiGetMatches", request=N.NspiGetMatches, response=N.NspiGetMatchesResponse,
                spec="MS-NSPI 3.1.4.1.10")
def _op_get_matches(ctx: CallContext, stub: bytes) -> bytes:
    """Rows matching a restriction (PR_ANR included) or a DL's members (PR_EMS_AB_MEMBER)."""
    req, session, d, stat = _open(ctx, N.NspiGetMatches, stub)
    if ctx.forced_status is not None:
        status, mids, rows = ctx.forced_status, None, None
    else:
        restriction = None
        if not _is_null_ptr(req.fields["Filter"]):
            restriction = from_impacket(req["Filter"])
        status, stat, mids, rows = get_matches(d, session, stat, restriction,
                                               req["ulRequested"], _tags(req["pPropTags"]))
    _status(ctx, status)
    ctx.notes["matches"] = len(mids) if mids is not None else 0
    if mids is not None:
        mids = [to_wire(session, d, m) for m in mids]
    return _encode(_stat_out(stat, session, d), lambda w: N.write_tag_array(w, mids),
                   lambda w: N.write_rowset(w, rows, session.code_page), _u32(status))


# -- 6 NspiResortRestriction --------------------------------------------------------------
@NSPI.operation(6, "NspiResortRestriction", request=N.NspiResortRestriction,
                response=N.NspiResortRestrictionResponse, spec="MS-NSPI 3.1.4.1.11")
def _op_resort(ctx: CallContext, stub: bytes) -> bytes:
    """Sort a list of MIds by display name under the STAT's SortLocale."""
    req, session, d, stat = _open(ctx, N.NspiResortRestriction, stub)
    mids = [from_wire(session, d, _int(v)) for v in req["pInMIds"]["aulPropTag"]]
    known = [m for m in mids if m in d.objects]
    known.sort(key=lambda m: (sort_key(d.objects[m].display_name, stat.SortLocale), m))
    stat.TotalRecs = len(known)
    stat.NumPos = known.index(stat.CurrentRec) if stat.CurrentRec in known else 0
    status = _status(ctx, ctx.forced_status if ctx.forced_status is not None else S.Success)
    out = [to_wire(session, d, m) for m in known] if status == S.Success else None
    return _encode(_stat_out(stat, session, d), lambda w: N.write_tag_array(w, out), _u32(status))


# -- 7 NspiDNToMId ----------------------------------------------------------------------
def dn_to_mids(d: Directory, names: list[str]) -> list[int]:
    """Pure NspiDNToMId: MIds of objects (or containers) by DN; 0 when unknown."""
    out = []
    for dn in names:
        obj = d.find_dn(dn)
        if obj is not None:
            out.append(obj.mid)
            continue
        cont = next((c for c in d.containers if c.dn.lower() == dn.lower()), None)
        out.append(cont.mid if cont else 0)
    return out


@NSPI.operation(7, "NspiDNToMId", request=inspi.NspiDNToMId, response=inspi.NspiDNToMIdResponse,
                spec="MS-NSPI 3.1.4.1.13")
def _op_dn_to_mid(ctx: CallContext, stub: bytes) -> bytes:
    """MIds for legacy DNs (and /guid= forms); 0 for unknown DNs."""
    req = inspi.NspiDNToMId(stub)
    session = _session(ctx, req["hRpc"])
    names = [_string(s, session.code_page) for s in req["pNames"]["Strings"]]
    status = ctx.forced_status if ctx.forced_status is not None else S.Success
    d = _host(ctx).directory
    mids = [to_wire(session, d, m) for m in dn_to_mids(d, names)] if status == S.Success else None
    _status(ctx, status)
    ctx.notes["names"] = names[:4]
    return _encode(lambda w: N.write_tag_array(w, mids), _u32(status))


# -- 8 NspiGetPropList ------------------------------------------------------------------
@NSPI.operation(8, "NspiGetPropList", request=inspi.NspiGetPropList,
                response=inspi.NspiGetPropListResponse, spec="MS-NSPI 3.1.4.1.6")
def _op_get_prop_list(ctx: CallContext, stub: bytes) -> bytes:
    """The property tags an object has (strings as PT_UNICODE for code page 1200)."""
    req = inspi.NspiGetPropList(stub)
    session = _session(ctx, req["hRpc"])
    d = _host(ctx).directory
    obj = d.get(from_wire(session, d, req["dwMId"]))
    tags = None
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif obj is None:
        status = S.NotFound
    else:
        status = S.Success
        unicode = req["CodePage"] == CP_WINUNICODE
        tags = []
        for tag in all_tags(obj):
            t = tag & 0xFFFF
            if not unicode and t == P.PT_UNICODE:
                tag = P.with_type(tag, P.PT_STRING8)
            elif not unicode and t == P.PT_MV_UNICODE:
                tag = P.with_type(tag, P.PT_MV_STRING8)
            if req["dwFlags"] & fSkipObjects and t == P.PT_OBJECT:
                continue
            tags.append(tag)
    _status(ctx, status)
    return _encode(lambda w: N.write_tag_array(w, tags), _u32(status))


# -- 9 NspiGetProps ---------------------------------------------------------------------
def get_props(d: Directory, session: NspiSession, flags: int, stat: Stat,
              tags: list[int] | None) -> tuple[int, list[tuple[int, Any]] | None]:
    """Pure NspiGetProps (MS-NSPI 3.1.4.1.7): ErrorsReturned when a named property is missing."""
    obj = d.get(stat.CurrentRec)
    if tags is not None and len(tags) > MAX_TAGS:
        return S.TableTooBig, None
    eph = bool(flags & fEphID)
    if tags is None:
        if obj is None:
            return S.ErrorsReturned, [(P.PR_DISPLAY_NAME, MISSING)]
        cols = [t for t in all_tags(obj) if (t & 0xFFFF) != P.PT_OBJECT]
        return S.Success, object_row(d, obj, cols, session.server_guid, eph, stat.ContainerID,
                                     session.mid_offset)
    row = object_row(d, obj, tags, session.server_guid, eph, stat.ContainerID, session.mid_offset)
    missing = any(isinstance(v, Missing) for _, v in row)
    return (S.ErrorsReturned if missing else S.Success), row


@NSPI.operation(9, "NspiGetProps", request=inspi.NspiGetProps, response=inspi.NspiGetPropsResponse,
                spec="MS-NSPI 3.1.4.1.7")
def _op_get_props(ctx: CallContext, stub: bytes) -> bytes:
    """An object's properties; missing ones as PT_ERROR and ErrorsReturned."""
    req = inspi.NspiGetProps(stub)
    session = _session(ctx, req["hRpc"])
    if _is_null_ptr(req.fields["pStat"]):
        status, row = S.InvalidParameter, None
        stat = None
    else:
        stat = _stat_in(session, _host(ctx).directory, Stat.from_impacket(req["pStat"]))
        if ctx.forced_status is not None:
            status, row = ctx.forced_status, None
        else:
            tags = _tags(req["pPropTags"])
            # impacket's hNspiGetProps sends cValues one larger than the tags (DESIGN.md §9)
            status, row = get_props(_host(ctx).directory, session, req["dwFlags"], stat, tags)
    _status(ctx, status)
    cp = (stat.CodePage if stat and stat.CodePage else session.code_page)
    return _encode(lambda w: N.write_row(w, row, cp), _u32(status))


# -- 10 NspiCompareMIds -----------------------------------------------------------------
@NSPI.operation(10, "NspiCompareMIds", request=inspi.NspiCompareMIds,
                response=inspi.NspiCompareMIdsResponse, spec="MS-NSPI 3.1.4.1.12")
def _op_compare_mids(ctx: CallContext, stub: bytes) -> bytes:
    """Compare two MIds' positions in a table (-1, 0, 1)."""
    req = inspi.NspiCompareMIds(stub)
    session = _session(ctx, req["hRpc"])
    d = _host(ctx).directory
    stat = Stat.from_impacket(req["pStat"])
    c = _container(d, stat)
    result, status = 0, S.Success
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif c is None:
        status = S.InvalidBookmark
    else:
        m1, m2 = from_wire(session, d, req["MId1"]), from_wire(session, d, req["MId2"])
        p1, p2 = d.position(c, m1, stat.SortLocale), d.position(c, m2, stat.SortLocale)
        if p1 is None or p2 is None:
            status = S.GeneralFailure
        else:
            result = (p1 > p2) - (p1 < p2)
    _status(ctx, status)
    return _encode(_u32(result & 0xFFFFFFFF), _u32(status))


# -- 11 NspiModProps --------------------------------------------------------------------
@NSPI.operation(11, "NspiModProps", request=N.NspiModProps, response=N.NspiModPropsResponse,
                spec="MS-NSPI 3.1.4.1.14")
def _op_mod_props(ctx: CallContext, stub: bytes) -> bytes:
    """Modify properties (AccessDenied when the GC is read-only)."""
    from fakegc.nspi.restrictions import _prop_value

    req = N.NspiModProps(stub)
    session = _session(ctx, req["hRpc"])
    host = _host(ctx)
    d = host.directory
    stat = _stat_in(session, d, Stat.from_impacket(req["pStat"]))
    obj = d.get(stat.CurrentRec)
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif host.read_only:
        status = S.AccessDenied
    elif obj is None:
        status = S.InvalidParameter
    else:
        changed = []
        obj = d.writable(obj)  # copy-on-write directory: this GC's own copy of the object
        for pv in req["pRow"]["lpProps"]:
            tag, value = _prop_value(pv)
            if value is None:
                continue
            obj.props[P.canonical(tag)] = value
            if P.canonical(tag) == P.PR_DISPLAY_NAME:
                obj.display_name = str(value)
            changed.append(tag)
        d.touch()
        ctx.notes["changed"] = [f"0x{t:08X}" for t in changed]
        status = S.Success
    _status(ctx, status)
    return _encode(_u32(status))


# -- 12 NspiGetSpecialTable -------------------------------------------------------------
@NSPI.operation(12, "NspiGetSpecialTable", request=inspi.NspiGetSpecialTable,
                response=inspi.NspiGetSpecialTableResponse, spec="MS-NSPI 3.1.4.1.3")
def _op_get_special_table(ctx: CallContext, stub: bytes) -> bytes:
    """The hierarchy table (or the empty address-creation templates table)."""
    req = inspi.NspiGetSpecialTable(stub)
    session = _session(ctx, req["hRpc"])
    d = _host(ctx).directory
    flags = req["dwFlags"]
    want_version = not _is_null_ptr(req.fields["lpVersion"])
    rows: list[Any] | None
    if ctx.forced_status is not None:
        status, rows = ctx.forced_status, None
    elif flags & NspiAddressCreationTemplates:
        status, rows = S.Success, []
    else:
        unicode = bool(flags & NspiUnicodeStrings)
        rows = [hierarchy_row(d, c, session.server_guid, unicode) for c in d.containers]
        status = S.Success
    _status(ctx, status)

    def version(w: NdrWriter) -> None:
        if want_version:
            w.top_pointer(lambda w: w.u32(d.version))
        else:
            w.u32(0)
    return _encode(version, lambda w: N.write_rowset(w, rows, session.code_page), _u32(status))


# -- 13 NspiGetTemplateInfo -------------------------------------------------------------
def template_blob(display_type: int) -> bytes:
    """A display template (MS-OXOABKT 2.2.2): header, controls, string table."""
    controls = [("Name:", 0, P.PR_DISPLAY_NAME), ("Alias:", 0, P.PR_ACCOUNT),
                ("E-mail:", 0, P.PR_SMTP_ADDRESS), ("Title:", 0, P.PR_TITLE),
                ("Department:", 0, P.PR_DEPARTMENT_NAME), ("Phone:", 0, P.PR_BUSINESS_TELEPHONE_NUMBER)]
    header = struct.pack("<II", 1, len(controls) * 2)
    strings = b""
    rows = b""
    offset = 8 + len(controls) * 2 * 36
    for i, (label, _flags, tag) in enumerate(controls):
        text = label.encode("utf-16le") + b"\x00\x00"
        y = 10 + i * 14
        rows += struct.pack("<9I", 6, 60, y, 8, 0x0, 0, 0, 0, offset + len(strings))  # label
        strings += text
        rows += struct.pack("<9I", 70, 200, y, 8, 0x1, 0, tag, 256, 0)  # edit bound to tag
    return header + rows + strings


@NSPI.operation(13, "NspiGetTemplateInfo", request=inspi.NspiGetTemplateInfo,
                response=inspi.NspiGetTemplateInfoResponse, spec="MS-NSPI 3.1.4.1.18")
def _op_get_template_info(ctx: CallContext, stub: bytes) -> bytes:
    """A display template blob for a display type and locale; InvalidLocale otherwise."""
    req = inspi.NspiGetTemplateInfo(stub)
    session = _session(ctx, req["hRpc"])
    flags, ul_type, locale, cp = req["dwFlags"], req["ulType"], req["dwLocaleID"], req["dwCodePage"]
    row = None
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif not _code_page_ok(cp) or cp == CP_WINUNICODE:
        status = S.InvalidCodepage
    elif flags & TI_TEMPLATE and not flags & TI_SCRIPT and locale in KNOWN_LOCALES and \
            ul_type in (P.DT_MAILUSER, P.DT_DISTLIST, P.DT_FORUM, P.DT_REMOTE_MAILUSER,
                        P.DT_ROOM, P.DT_EQUIPMENT, P.DT_AGENT, P.DT_ORGANIZATION):
        status = S.Success
        row = [(P.PR_TEMPLATE_DATA, template_blob(ul_type))]
    else:
        status = S.InvalidLocale
    _status(ctx, status)
    return _encode(lambda w: N.write_row(w, row, session.code_page), _u32(status))


# -- 14 NspiModLinkAtt ------------------------------------------------------------------
@NSPI.operation(14, "NspiModLinkAtt", request=inspi.NspiModLinkAtt,
                response=inspi.NspiModLinkAttResponse, spec="MS-NSPI 3.1.4.1.15")
def _op_mod_link_att(ctx: CallContext, stub: bytes) -> bytes:
    """Add or remove DL members by entry ID (AccessDenied when read-only)."""
    req = inspi.NspiModLinkAtt(stub)
    session = _session(ctx, req["hRpc"])
    host = _host(ctx)
    d = host.directory
    group = d.get(from_wire(session, d, req["dwMId"]))
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif host.read_only:
        status = S.AccessDenied
    elif P.canonical(req["ulPropTag"]) != P.PR_EMS_AB_MEMBER or group is None or group.kind != "group":
        status = S.NotFound if group is None else S.InvalidParameter
    else:
        status = S.Success
        for entry in req["lpEntryIds"]["lpbin"]:
            kind, value = parse_entry_id(b"".join(entry["lpb"]))
            member = None
            if kind == "permanent":
                member = d.find_dn(value)
            elif kind == "ephemeral" and value[0] == host.server_guid:
                member = d.get(from_wire(session, d, value[1]))
            if member is None:
                status = S.NotFound
                continue
            if req["dwFlags"] & fDelete:
                d.remove_member(group, member)
            else:
                d.add_member(group, member)
        d.touch()
        ctx.notes["members"] = len(d.writable(group).members)
    _status(ctx, status)
    return _encode(_u32(status))


# -- 16 NspiQueryColumns ----------------------------------------------------------------
def columns(unicode: bool) -> list[int]:
    """Every property tag the address book can answer (NspiQueryColumns)."""
    out = []
    for tag in sorted(P.NAMES):
        if tag in (P.PR_ANR,):
            continue
        t = tag & 0xFFFF
        if not unicode and t == P.PT_UNICODE:
            tag = P.with_type(tag, P.PT_STRING8)
        elif not unicode and t == P.PT_MV_UNICODE:
            tag = P.with_type(tag, P.PT_MV_STRING8)
        out.append(tag)
    return out


@NSPI.operation(16, "NspiQueryColumns", request=inspi.NspiQueryColumns,
                response=inspi.NspiQueryColumnsResponse, spec="MS-NSPI 3.1.4.1.5")
def _op_query_columns(ctx: CallContext, stub: bytes) -> bytes:
    """Every property tag the address book can answer."""
    req = inspi.NspiQueryColumns(stub)
    _session(ctx, req["hRpc"])
    status = ctx.forced_status if ctx.forced_status is not None else S.Success
    tags = columns(bool(req["dwFlags"] & NspiUnicodeProptypes)) if status == S.Success else None
    _status(ctx, status)
    return _encode(lambda w: N.write_tag_array(w, tags), _u32(status))


# -- 17 NspiGetNamesFromIDs / 18 NspiGetIDsFromNames --------------------------------------
def _write_names(w: NdrWriter, names: list[tuple[bytes, int]] | None) -> None:
    if names is None:
        w.u32(0)
        return

    def nameset(w: NdrWriter) -> None:
        w.u32(len(names))
        w.u32(len(names))
        for guid, lid in names:
            w.pointer(lambda w, g=guid: w.raw(g))
            w.u32(0)
            w.u32(lid)
    w.top_pointer(nameset)


@NSPI.operation(17, "NspiGetNamesFromIDs", request=inspi.NspiGetNamesFromIDs,
                response=inspi.NspiGetNamesFromIDsResponse, spec="MS-NSPI 3.1.4.1.16")
def _op_get_names_from_ids(ctx: CallContext, stub: bytes) -> bytes:
    """Names behind named-property IDs this session mapped."""
    req = inspi.NspiGetNamesFromIDs(stub)
    session = _session(ctx, req["hRpc"])
    by_id = {pid: key for key, pid in session.named.items()}
    want_guid = None if _is_null_ptr(req.fields["lpguid"]) else bytes(req["lpguid"])
    tags = _tags(req["pPropTags"])
    if tags is None:
        tags = [(pid << 16) | P.PT_UNSPECIFIED for pid, key in sorted(by_id.items())
                if want_guid is None or key[0] == want_guid]
    names: list[tuple[bytes, int]] = []
    status = S.Success
    for tag in tags:
        key = by_id.get(tag >> 16)
        if key is None:
            names.append((b"\x00" * 16, 0))
            status = S.ErrorsReturned
        else:
            guid, lid = key
            names.append((guid, lid if isinstance(lid, int) else 0))
    if ctx.forced_status is not None:
        status, tags, names = ctx.forced_status, None, None  # type: ignore[assignment]
    _status(ctx, status)
    return _encode(lambda w: N.write_tag_array(w, tags), lambda w: _write_names(w, names), _u32(status))


@NSPI.operation(18, "NspiGetIDsFromNames", request=inspi.NspiGetIDsFromNames,
                response=inspi.NspiGetIDsFromNamesResponse, spec="MS-NSPI 3.1.4.1.17")
def _op_get_ids_from_names(ctx: CallContext, stub: bytes) -> bytes:
    """IDs for named properties (allocated per session; NspiVerifyNames checks)."""
    req = inspi.NspiGetIDsFromNames(stub)
    session = _session(ctx, req["hRpc"])
    verify = bool(req["dwFlags"] & NspiVerifyNames)
    tags: list[int] | None = []
    status = S.Success
    for name in req["pNames"]:
        guid = bytes(name["lpguid"]) if name["lpguid"] else b"\x00" * 16
        key = (guid, _int(name["lID"]))
        pid = session.named.get(key)
        if pid is None:
            if verify:
                tags.append(P.PT_ERROR)  # type: ignore[union-attr]
                status = S.ErrorsReturned
                continue
            pid = NAMED_BASE + len(session.named)
            session.named[key] = pid
        tags.append((pid << 16) | P.PT_UNSPECIFIED)  # type: ignore[union-attr]
    if ctx.forced_status is not None:
        status, tags = ctx.forced_status, None
    _status(ctx, status)
    return _encode(lambda w: N.write_tag_array(w, tags), _u32(status))


# -- 19 NspiResolveNames / 20 NspiResolveNamesW -----------------------------------------
def resolve(d: Directory, name: str) -> int:
    """Pure ambiguous name resolution of one name: its MId, MID_AMBIGUOUS or MID_UNRESOLVED."""
    text = name.strip()
    if text[:6].upper() == "=SMTP:":
        text = text[6:]
    if not text:
        return MID_UNRESOLVED
    low = text.casefold()
    obj = d.find_dn(text)
    if obj is not None and obj.in_gal:
        return obj.mid
    exact = d.exact(low)
    if len(exact) == 1:
        return exact[0].mid
    if len(exact) > 1:
        return MID_AMBIGUOUS
    partial = [o for o in d if o.in_gal and anr_match(d, o, text)]
    if len(partial) == 1:
        return partial[0].mid
    return MID_AMBIGUOUS if partial else MID_UNRESOLVED


def resolve_names(d: Directory, session: NspiSession, names: list[str],
                  tags: list[int] | None) -> tuple[int, list[int], list[Any]]:
    """Pure NspiResolveNames[W]: MIds per name; rows (permanent IDs) for resolved names only."""
    columns_ = list(P.DEFAULT_COLUMNS) if tags is None else tags
    if len(columns_) > MAX_TAGS:
        return S.TableTooBig, [], []
    mids = [resolve(d, n) for n in names]
    rows = [object_row(d, d.objects[m], columns_, session.server_guid, False)
            for m in mids if m not in (MID_UNRESOLVED, MID_AMBIGUOUS)]
    return S.Success, mids, rows


def _resolved_blobs(d: Directory, session: NspiSession, mids: list[int], tags: list[int] | None,
                    code_page: int) -> list[tuple[bytes, bytes]]:
    columns_ = list(P.DEFAULT_COLUMNS) if tags is None else tags
    found = [m for m in mids if m not in (MID_UNRESOLVED, MID_AMBIGUOUS)]
    return cached_rows(d, found, columns_, session.server_guid, False, 0, code_page,
                       session.mid_offset)


def _resolve_op(ctx: CallContext, req: Any, wide: bool) -> bytes:
    if isinstance(req, F.ResolveNamesWRequest):
        session = _session(ctx, req.handle)
        names, stat, tags = req.names, Stat(*req.stat), req.tags
    else:
        session = _session(ctx, req["hRpc"])
        names = [(_string(s, session.code_page) if not wide else str(s["Data"]).rstrip("\x00"))
                 for s in req["paStr"]["Strings"]]
        stat = Stat.from_impacket(req["pStat"])
        tags = _tags(req["pPropTags"])
    cp = stat.CodePage or session.code_page
    d = _host(ctx).directory
    blobs = None
    mids: list[int] | None = None
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif tags is not None and len(tags) > MAX_TAGS:
        status = S.TableTooBig
    else:
        status = S.Success
        mids = [resolve(d, n) for n in names]
        blobs = _resolved_blobs(d, session, mids, tags, cp)
    _status(ctx, status)
    if mids is not None:
        mids = [to_wire(session, d, m) for m in mids]
    ctx.notes["names"] = names[:4]
    ctx.notes["mids"] = (mids or [])[:4]
    return _encode(lambda w: N.write_tag_array(w, mids), lambda w: N.write_rowset_blobs(w, blobs),
                   _u32(status))


@NSPI.operation(19, "NspiResolveNames", request=inspi.NspiResolveNames,
                response=inspi.NspiResolveNamesResponse, spec="MS-NSPI 3.1.4.1.19")
def _op_resolve_names(ctx: CallContext, stub: bytes) -> bytes:
    """Ambiguous name resolution of 8-bit names in the session's code page."""
    return _resolve_op(ctx, inspi.NspiResolveNames(stub), wide=False)


@NSPI.operation(20, "NspiResolveNamesW", request=inspi.NspiResolveNamesW,
                response=inspi.NspiResolveNamesWResponse, spec="MS-NSPI 3.1.4.1.20")
def _op_resolve_names_w(ctx: CallContext, stub: bytes) -> bytes:
    """Ambiguous name resolution of Unicode names; rows only for resolved names."""
    try:
        return _resolve_op(ctx, F.decode_resolve_names_w(stub), wide=True)
    except (ValueError, struct.error, UnicodeDecodeError):
        return _resolve_op(ctx, inspi.NspiResolveNamesW(stub), wide=True)

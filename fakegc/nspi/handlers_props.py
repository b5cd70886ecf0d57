"""NSPI handlers, part 2: properties, named properties, templates, name resolution.

Pure functions ``op(request, session, gc) -> result`` as in :mod:`fakegc.nspi.handlers`
(MS-OXNSPI 3.1.4.1.5 - 3.1.4.1.20).  NspiModProps and NspiModLinkAtt change the
directory they are given and nothing else.
"""

from __future__ import annotations

import struct
from typing import Any

from fakegc.codes import NspiStatus as S
from fakegc.directory import props as P
from fakegc.directory.index import anr_mids, exact
from fakegc.directory.model import Directory
from fakegc.nspi import messages as M
from fakegc.nspi.handlers import CP_WINUNICODE, MAX_TAGS, code_page_ok, fEphID
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.rows import MISSING, Missing, all_tags, codec_for, object_row, parse_entry_id

__all__ = [
    "MID_AMBIGUOUS",
    "MID_UNRESOLVED",
    "columns",
    "decode_8bit",
    "dn_to_mid",
    "get_ids_from_names",
    "get_names_from_ids",
    "get_prop_list",
    "get_props",
    "get_template_info",
    "mod_link_att",
    "mod_props",
    "query_columns",
    "resolve",
    "resolve_names",
    "resolve_names_w",
    "template_blob",
]

fSkipObjects = 0x1
NspiUnicodeProptypes = 0x80000000
NspiVerifyNames = 0x2
TI_TEMPLATE = 0x1
TI_SCRIPT = 0x4
fDelete = 0x1
#: MS-OXNSPI 2.2.9: what NspiResolveNames[W] answer in ppMIds for each name
MID_UNRESOLVED = 0
MID_AMBIGUOUS = 1
MID_RESOLVED = 2
KNOWN_LOCALES = {0x409, 0x407, 0x40C, 0x410, 0x411, 0x41D, 0x40B, 0x809, 0x413, 0x415, 0x416,
                 0x419, 0x804, 0x406, 0x414, 0x40A, 0xC0A}
#: first property ID this server hands out for named properties (MS-OXNSPI 3.1.4.1.17)
NAMED_BASE = 0xA000


def decode_8bit(raw: bytes, code_page: int) -> str:
    """An 8-bit string as sent, read in the session's code page."""
    return raw.decode(codec_for(code_page) or "cp1252", "replace").rstrip("\x00")


def _string_types(tag: int, unicode: bool) -> int:
    t = tag & 0xFFFF
    if not unicode and t == P.PT_UNICODE:
        return P.with_type(tag, P.PT_STRING8)
    if not unicode and t == P.PT_MV_UNICODE:
        return P.with_type(tag, P.PT_MV_STRING8)
    return tag


# -- 7 NspiDNToMId --------------------------------------------------------------------
def dn_to_mid(req: M.NspiDNToMId, session: NspiSession, gc: NspiHost) -> M.DNToMIdResult:
    """MS-OXNSPI 3.1.4.1.13: MIds of objects (or containers) by legacy DN; 0 when unknown."""
    d = gc.directory
    names = [decode_8bit(n, session.code_page) for n in req.names]
    out = []
    for dn in names:
        obj = d.find_dn(dn)
        if obj is not None:
            out.append(obj.mid)
            continue
        cont = next((c for c in d.containers if c.dn.lower() == dn.lower()), None)
        out.append(cont.mid if cont else 0)
    return M.DNToMIdResult(S.Success, out, notes={"names": names[:4]})


# -- 8 NspiGetPropList / 9 NspiGetProps -------------------------------------------------
def get_prop_list(req: M.NspiGetPropList, session: NspiSession, gc: NspiHost) -> M.GetPropListResult:
    """MS-OXNSPI 3.1.4.1.6: the tags an object has (PT_UNICODE strings for code page 1200)."""
    obj = gc.directory.get(req.mid)
    if obj is None:
        return M.GetPropListResult(S.NotFound)
    unicode = req.code_page == CP_WINUNICODE
    tags = [_string_types(tag, unicode) for tag in all_tags(obj)
            if not (req.flags & fSkipObjects and (tag & 0xFFFF) == P.PT_OBJECT)]
    return M.GetPropListResult(S.Success, tags)


def get_props(req: M.NspiGetProps, session: NspiSession, gc: NspiHost) -> M.GetPropsResult:
    """MS-OXNSPI 3.1.4.1.7: an object's properties; missing ones as PT_ERROR, ErrorsReturned."""
    d, stat, tags = gc.directory, req.stat, req.tags
    if stat is None:
        return M.GetPropsResult(S.InvalidParameter)
    obj = d.get(stat.CurrentRec)
    if tags is not None and len(tags) > MAX_TAGS:
        return M.GetPropsResult(S.TableTooBig)
    eph = bool(req.flags & fEphID)
    if tags is None:
        if obj is None:
            return M.GetPropsResult(S.ErrorsReturned, [(P.PR_DISPLAY_NAME, MISSING)])
        cols = [t for t in all_tags(obj) if (t & 0xFFFF) != P.PT_OBJECT]
        return M.GetPropsResult(S.Success, object_row(d, obj, cols, session.server_guid, eph,
                                                      stat.ContainerID, session.mid_offset))
    row = object_row(d, obj, tags, session.server_guid, eph, stat.ContainerID, session.mid_offset)
    missing = any(isinstance(v, Missing) for _, v in row)
    return M.GetPropsResult(S.ErrorsReturned if missing else S.Success, row)


# -- 11 NspiModProps / 14 NspiModLinkAtt ------------------------------------------------
def mod_props(req: M.NspiModProps, session: NspiSession, gc: NspiHost) -> M.ModPropsResult:
    """MS-OXNSPI 3.1.4.1.14: modify properties (AccessDenied when the GC is read-only)."""
    d = gc.directory
    obj = d.get(req.stat.CurrentRec)
    if gc.read_only:
        return M.ModPropsResult(S.AccessDenied)
    if obj is None:
        return M.ModPropsResult(S.InvalidParameter)
    changed = []
    obj = d.writable(obj)  # the directory is copy-on-write: this GC's own copy of the object
    for tag, value in req.row:
        if value is None:
            continue
        obj.props[P.canonical(tag)] = value
        if P.canonical(tag) == P.PR_DISPLAY_NAME:
            obj.display_name = str(value)
        changed.append(tag)
    d.touch()
    return M.ModPropsResult(S.Success, notes={"changed": [f"0x{t:08X}" for t in changed]})


def mod_link_att(req: M.NspiModLinkAtt, session: NspiSession, gc: NspiHost) -> M.ModLinkAttResult:
    """MS-OXNSPI 3.1.4.1.15: add or remove DL members by entry ID (AccessDenied when read-only)."""
    d = gc.directory
    group = d.get(req.mid)
    if gc.read_only:
        return M.ModLinkAttResult(S.AccessDenied)
    if P.canonical(req.tag) != P.PR_EMS_AB_MEMBER or group is None or group.kind != "group":
        return M.ModLinkAttResult(S.NotFound if group is None else S.InvalidParameter)
    status: int = S.Success
    for entry in req.entry_ids:
        kind, value = parse_entry_id(entry)
        member = None
        if kind == "permanent":
            member = d.find_dn(value)
        elif kind == "ephemeral" and value[0] == gc.server_guid:
            member = d.get(value[1] - session.mid_offset)
        if member is None:
            status = S.NotFound
            continue
        if req.flags & fDelete:
            d.remove_member(group, member)
        else:
            d.add_member(group, member)
    d.touch()
    return M.ModLinkAttResult(status, notes={"members": len(d.writable(group).members)})


# -- 13 NspiGetTemplateInfo -----------------------------------------------------------
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


_TEMPLATE_TYPES = (P.DT_MAILUSER, P.DT_DISTLIST, P.DT_FORUM, P.DT_REMOTE_MAILUSER, P.DT_ROOM,
                   P.DT_EQUIPMENT, P.DT_AGENT, P.DT_ORGANIZATION)


def get_template_info(req: M.NspiGetTemplateInfo, session: NspiSession,
                      gc: NspiHost) -> M.GetTemplateInfoResult:
    """MS-OXNSPI 3.1.4.1.18: a display template blob for a display type and locale.

    Checked in gromox ``nsp_interface_get_templateinfo``'s order: of the bits the
    server reads, TI_TEMPLATE alone (a script, TI_SCRIPT, is not served) else
    NotSupported; then the code page (MAPI_E_UNKNOWN_CPID); then the locale and the
    display type (MAPI_E_UNKNOWN_LCID).  Other bits are ignored, as the section says.
    """
    cp = req.code_page
    if req.flags & (TI_TEMPLATE | TI_SCRIPT) != TI_TEMPLATE:
        return M.GetTemplateInfoResult(S.NotSupported)
    if not code_page_ok(cp) or cp == CP_WINUNICODE:
        return M.GetTemplateInfoResult(S.InvalidCodepage)
    if req.locale in KNOWN_LOCALES and req.display_type in _TEMPLATE_TYPES:
        return M.GetTemplateInfoResult(S.Success,
                                       [(P.PR_TEMPLATE_DATA, template_blob(req.display_type))])
    return M.GetTemplateInfoResult(S.InvalidLocale)


# -- 16 NspiQueryColumns --------------------------------------------------------------
def columns(unicode: bool) -> list[int]:
    """Every property tag the address book can answer (NspiQueryColumns)."""
    return [_string_types(tag, unicode) for tag in sorted(P.NAMES) if tag != P.PR_ANR]


def query_columns(req: M.NspiQueryColumns, session: NspiSession,
                  gc: NspiHost) -> M.QueryColumnsResult:
    """MS-OXNSPI 3.1.4.1.5: every property tag the address book can answer."""
    return M.QueryColumnsResult(S.Success, columns(bool(req.flags & NspiUnicodeProptypes)))


# -- 17 NspiGetNamesFromIDs / 18 NspiGetIDsFromNames ------------------------------------
def get_names_from_ids(req: M.NspiGetNamesFromIDs, session: NspiSession,
                       gc: NspiHost) -> M.GetNamesFromIDsResult:
    """MS-OXNSPI 3.1.4.1.16: the names behind named-property IDs this session mapped."""
    by_id = {pid: key for key, pid in session.named.items()}
    tags = req.tags
    if tags is None:
        tags = [(pid << 16) | P.PT_UNSPECIFIED for pid, key in sorted(by_id.items())
                if req.guid is None or key[0] == req.guid]
    names: list[M.PropName] = []
    status: int = S.Success
    for tag in tags:
        key = by_id.get(tag >> 16)
        if key is None:
            names.append((b"\x00" * 16, 0))
            status = S.ErrorsReturned
        else:
            guid, lid = key
            names.append((guid, lid if isinstance(lid, int) else 0))
    return M.GetNamesFromIDsResult(status, tags, names)


def get_ids_from_names(req: M.NspiGetIDsFromNames, session: NspiSession,
                       gc: NspiHost) -> M.GetIDsFromNamesResult:
    """MS-OXNSPI 3.1.4.1.17: IDs for named properties (allocated per session)."""
    verify = bool(req.flags & NspiVerifyNames)
    tags: list[int] = []
    status: int = S.Success
    for key in req.names:
        if key is None:  # a NULL PropertyName_r* names nothing
            tags.append(P.PT_ERROR)
            status = S.ErrorsReturned
            continue
        pid = session.named.get(key)
        if pid is None:
            if verify:
                tags.append(P.PT_ERROR)
                status = S.ErrorsReturned
                continue
            pid = NAMED_BASE + len(session.named)
            session.named[key] = pid
        tags.append((pid << 16) | P.PT_UNSPECIFIED)
    return M.GetIDsFromNamesResult(status, tags)


# -- 19 NspiResolveNames / 20 NspiResolveNamesW -----------------------------------------
def resolve(d: Directory, name: str) -> int:
    """Ambiguous name resolution of one name: the object's MId, MID_AMBIGUOUS or
    MID_UNRESOLVED (MS-OXNSPI 3.1.4.7)."""
    text = name.strip()
    if text[:6].upper() == "=SMTP:":
        text = text[6:]
    if not text:
        return MID_UNRESOLVED
    low = text.casefold()
    obj = d.find_dn(text)
    if obj is not None and obj.in_gal:
        return obj.mid
    same = exact(d, low)  # the exact-match index (fakegc.directory.index)
    if len(same) == 1:
        return same[0].mid
    if len(same) > 1:
        return MID_AMBIGUOUS
    partial = anr_mids(d, text)  # the ANR index (fakegc.directory.index), not a scan
    if len(partial) == 1:
        return partial[0]
    return MID_AMBIGUOUS if partial else MID_UNRESOLVED


def _resolve(names: list[str], tags: list[int] | None, gc: NspiHost) -> M.ResolveNamesResult:
    notes: dict[str, list[Any]] = {"names": names[:4]}
    if tags is not None and len(tags) > MAX_TAGS:
        return M.ResolveNamesResult(S.TableTooBig, notes=notes)
    d = gc.directory
    found = [resolve(d, n) for n in names]
    # MS-OXNSPI 2.2.9, 3.1.4.1.19: ppMIds says MID_RESOLVED / MID_AMBIGUOUS /
    # MID_UNRESOLVED per name, never the object's MId; ppRows has one row per resolved
    # name (gromox nsp_interface_resolve_namesw)
    marks = [m if m in (MID_UNRESOLVED, MID_AMBIGUOUS) else MID_RESOLVED for m in found]
    resolved = [m for m in found if m not in (MID_UNRESOLVED, MID_AMBIGUOUS)]
    refs = M.RowRefs(resolved, list(P.DEFAULT_COLUMNS) if tags is None else tags)
    notes["mids"] = marks[:4]
    return M.ResolveNamesResult(S.Success, marks, refs, notes=notes)


def resolve_names(req: M.NspiResolveNames, session: NspiSession,
                  gc: NspiHost) -> M.ResolveNamesResult:
    """MS-OXNSPI 3.1.4.1.19: 8-bit names in the session's code page."""
    return _resolve([decode_8bit(n, session.code_page) for n in req.names], req.tags, gc)


def resolve_names_w(req: M.NspiResolveNamesW, session: NspiSession,
                    gc: NspiHost) -> M.ResolveNamesResult:
    """MS-OXNSPI 3.1.4.1.20: Unicode names; rows only for resolved names."""
    return _resolve(req.names, req.tags, gc)

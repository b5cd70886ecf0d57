"""The NSPI interface (MS-OXNSPI; MS-NSPI): opnums 0–20 registered, nothing else.

Each opnum is a :class:`~fakegc.rpc.registry.Pipeline`: decode
(:mod:`fakegc.nspi.codec`) → boundary (:mod:`fakegc.nspi.boundary`) → pure handler
(:mod:`fakegc.nspi.handlers`, :mod:`fakegc.nspi.handlers_props`) → encode.  The
notes become the supported-operations table (``python -m fakegc.docs``).
"""

from __future__ import annotations

from fakegc.nspi import handlers as H
from fakegc.nspi import handlers_props as HP
from fakegc.nspi import messages as M
from fakegc.nspi.boundary import Handler, pipeline
from fakegc.rpc.registry import Interface, Operation

__all__ = ["NSPI"]

#: big_endian: requests in either byte order (C706 14.2.5, fakegc.nspi.fastcodec_be);
#: ndr64: NDR64 requests (fastcodec64) and answers (codec64), offered in binds as a Windows
#: Server GC does (MS-RPCE 3.3.1.5.6)
NSPI = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0), spec="MS-NSPI",
                 big_endian=True, ndr64=True, ndr64_transcode=False)

_OPS: list[tuple[int, str, type, type, Handler, str, str]] = [
    (0, "NspiBind", M.NspiBind, M.BindResult, H.bind, "MS-NSPI 3.1.4.1.1",
     ("Open a session: code page, locales, server GUID (only when asked); LogonFailed while the "
      "GC shuts down.")),
    (1, "NspiUnbind", M.NspiUnbind, M.UnbindResult, H.unbind, "MS-NSPI 3.1.4.1.2",
     "Close the session; answers UnbindSuccess and a zeroed handle."),
    (2, "NspiUpdateStat", M.NspiUpdateStat, M.UpdateStatResult, H.update_stat, "MS-NSPI 3.1.4.1.4",
     "Move in a table by Delta; answers the position, TotalRecs and how far it moved."),
    (3, "NspiQueryRows", M.NspiQueryRows, M.QueryRowsResult, H.query_rows, "MS-NSPI 3.1.4.1.8",
     "Rows from the current position (never more than Count) or from an explicit MId table."),
    (4, "NspiSeekEntries", M.NspiSeekEntries, M.SeekEntriesResult, H.seek_entries,
     "MS-NSPI 3.1.4.1.9",
     "Position at the first row whose display name sorts at or after the target."),
    (5, "NspiGetMatches", M.NspiGetMatches, M.GetMatchesResult, H.get_matches, "MS-NSPI 3.1.4.1.10",
     "Rows matching a restriction (PR_ANR included) or a DL's members (PR_EMS_AB_MEMBER)."),
    (6, "NspiResortRestriction", M.NspiResortRestriction, M.ResortRestrictionResult,
     H.resort_restriction, "MS-NSPI 3.1.4.1.11",
     "Sort a list of MIds by display name under the STAT's SortLocale."),
    (7, "NspiDNToMId", M.NspiDNToMId, M.DNToMIdResult, HP.dn_to_mid, "MS-NSPI 3.1.4.1.13",
     "MIds for legacy DNs (and /guid= forms); 0 for unknown DNs."),
    (8, "NspiGetPropList", M.NspiGetPropList, M.GetPropListResult, HP.get_prop_list,
     "MS-NSPI 3.1.4.1.6",
     "The property tags an object has (strings as PT_UNICODE for code page 1200)."),
    (9, "NspiGetProps", M.NspiGetProps, M.GetPropsResult, HP.get_props, "MS-NSPI 3.1.4.1.7",
     "An object's properties; missing ones as PT_ERROR and ErrorsReturned."),
    (10, "NspiCompareMIds", M.NspiCompareMIds, M.CompareMIdsResult, H.compare_mids,
     "MS-NSPI 3.1.4.1.12", "Compare two MIds' positions in a table (-1, 0, 1)."),
    (11, "NspiModProps", M.NspiModProps, M.ModPropsResult, HP.mod_props, "MS-NSPI 3.1.4.1.14",
     "Modify properties (AccessDenied when the GC is read-only)."),
    (12, "NspiGetSpecialTable", M.NspiGetSpecialTable, M.GetSpecialTableResult,
     H.get_special_table, "MS-NSPI 3.1.4.1.3",
     "The hierarchy table (or the empty address-creation templates table)."),
    (13, "NspiGetTemplateInfo", M.NspiGetTemplateInfo, M.GetTemplateInfoResult,
     HP.get_template_info, "MS-NSPI 3.1.4.1.18",
     "A display template blob: NotSupported unless TI_TEMPLATE alone, then code page, locale."),
    (14, "NspiModLinkAtt", M.NspiModLinkAtt, M.ModLinkAttResult, HP.mod_link_att,
     "MS-NSPI 3.1.4.1.15", "Add or remove DL members by entry ID (AccessDenied when read-only)."),
    (16, "NspiQueryColumns", M.NspiQueryColumns, M.QueryColumnsResult, HP.query_columns,
     "MS-NSPI 3.1.4.1.5", "Every property tag the address book can answer."),
    (17, "NspiGetNamesFromIDs", M.NspiGetNamesFromIDs, M.GetNamesFromIDsResult,
     HP.get_names_from_ids, "MS-NSPI 3.1.4.1.16",
     "Names behind named-property IDs this session mapped."),
    (18, "NspiGetIDsFromNames", M.NspiGetIDsFromNames, M.GetIDsFromNamesResult,
     HP.get_ids_from_names, "MS-NSPI 3.1.4.1.17",
     "IDs for named properties (allocated per session; NspiVerifyNames checks)."),
    (19, "NspiResolveNames", M.NspiResolveNames, M.ResolveNamesResult, HP.resolve_names,
     "MS-NSPI 3.1.4.1.19",
     "Ambiguous name resolution of 8-bit names; ppMIds MID_RESOLVED/AMBIGUOUS/UNRESOLVED."),
    (20, "NspiResolveNamesW", M.NspiResolveNamesW, M.ResolveNamesResult, HP.resolve_names_w,
     "MS-NSPI 3.1.4.1.20",
     "Ambiguous name resolution of Unicode names; ppMIds 2/1/0, rows for resolved names."),
]

for _opnum, _name, _request, _result, _handler, _spec, _doc in _OPS:
    NSPI.add(Operation(_opnum, _name, pipeline(_opnum, _handler, _result), _request, _result,
                       _spec, _doc))

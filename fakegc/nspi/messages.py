"""Typed NSPI requests and results, one pair per served opnum (MS-OXNSPI 3.1.4.1).

A request holds the ``[in]`` parameters of the IDL method as plain values, a result
the ``[out]`` parameters and the return value (``status``).  Handlers
(:mod:`fakegc.nspi.handlers`) map one to the other; :mod:`fakegc.nspi.codec` turns
them into NDR and back.  MIds inside requests and results are the *directory's*
MIds: the boundary (:mod:`fakegc.nspi.boundary`) translates the fields each class
lists in ``MIDS`` to and from this GC's wire MIds (docs/PROTOCOL.md "NSPI wire layout").

Pointer parameters the IDL declares ``unique`` are ``None`` when NULL; ``want_*``
booleans record whether an ``[in, out, unique]`` pointer was non-NULL.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fakegc.nspi.host import NspiSession
from fakegc.nspi.table import Stat

__all__ = [
    "TOO_COMPLEX",
    "BindResult",
    "CompareMIdsResult",
    "DNToMIdResult",
    "GetIDsFromNamesResult",
    "GetMatchesResult",
    "GetNamesFromIDsResult",
    "GetPropListResult",
    "GetPropsResult",
    "GetSpecialTableResult",
    "GetTemplateInfoResult",
    "ModLinkAttResult",
    "ModPropsResult",
    "NspiBind",
    "NspiCompareMIds",
    "NspiDNToMId",
    "NspiGetIDsFromNames",
    "NspiGetMatches",
    "NspiGetNamesFromIDs",
    "NspiGetPropList",
    "NspiGetProps",
    "NspiGetSpecialTable",
    "NspiGetTemplateInfo",
    "NspiModLinkAtt",
    "NspiModProps",
    "NspiQueryColumns",
    "NspiQueryRows",
    "NspiResolveNames",
    "NspiResolveNamesW",
    "NspiResortRestriction",
    "NspiSeekEntries",
    "NspiUnbind",
    "NspiUpdateStat",
    "PropName",
    "QueryColumnsResult",
    "QueryRowsResult",
    "ResolveNamesResult",
    "ResortRestrictionResult",
    "Row",
    "RowRefs",
    "SeekEntriesResult",
    "UnbindResult",
    "UpdateStatResult",
]

#: One PropertyRow_r as (tag, value) pairs; a value may be :class:`~fakegc.nspi.rows.Missing`.
Row = list[tuple[int, Any]]
#: A named property: (GUID bytes, LID or name).
PropName = tuple[bytes, int]
#: NspiGetMatches' Filter when nested deeper than we evaluate (answered TooComplex)
TOO_COMPLEX = ("too_complex",)


@dataclass(slots=True)
class RowRefs:
    """Rows named rather than built: the objects' MIds and the columns to read.

    The hot paths (NspiQueryRows, NspiResolveNames[W]) answer with these so the codec
    can serve encoded rows from its cache; :func:`fakegc.nspi.handlers.materialize`
    builds the value rows.
    """

    mids: list[int]
    columns: list[int]
    ephemeral: bool = False
    container_id: int = 0


@dataclass(slots=True)
class _Request:
    """Common shape: the MId-carrying fields; ``trailing`` counts bytes the stub carried
    after its last parameter (not part of the request's value)."""

    MIDS: ClassVar[tuple[str, ...]] = ()
    trailing: int = field(default=0, kw_only=True, compare=False, repr=False)


class _Result:
    """Common shape: the return value and the journal notes of the call."""

    MIDS: ClassVar[tuple[str, ...]] = ()
    status: int
    notes: dict[str, Any]


# -- 0 / 1 ----------------------------------------------------------------------------
@dataclass(slots=True)
class NspiBind(_Request):
    """MS-OXNSPI 3.1.4.1.1: dwFlags, pStat, [in, out, unique] pServerGuid."""

    flags: int
    stat: Stat
    want_guid: bool
    handle: bytes = b""


@dataclass(slots=True)
class BindResult(_Result):
    status: int
    session: NspiSession | None = None
    server_guid: uuidlib.UUID | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    #: the context handle the boundary issued for ``session``
    handle: bytes = b"\x00" * 20


@dataclass(slots=True)
class NspiUnbind(_Request):
    """MS-OXNSPI 3.1.4.1.2."""

    handle: bytes
    reserved: int = 0


@dataclass(slots=True)
class UnbindResult(_Result):
    status: int
    notes: dict[str, Any] = field(default_factory=dict)


# -- 2 / 3 / 4 ------------------------------------------------------------------------
@dataclass(slots=True)
class NspiUpdateStat(_Request):
    """MS-OXNSPI 3.1.4.1.4: pStat, [in, out, unique] plDelta."""

    MIDS = ("stat",)
    handle: bytes
    stat: Stat
    want_delta: bool
    reserved: int = 0


@dataclass(slots=True)
class UpdateStatResult(_Result):
    MIDS = ("stat",)
    status: int
    stat: Stat
    delta: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiQueryRows(_Request):
    """MS-OXNSPI 3.1.4.1.8: dwFlags, pStat, dwETableCount/lpETable, Count, pPropTags."""

    MIDS = ("stat", "etable")
    handle: bytes
    flags: int
    stat: Stat
    etable: list[int] | None
    count: int
    tags: list[int] | None


@dataclass(slots=True)
class QueryRowsResult(_Result):
    MIDS = ("stat",)
    status: int
    stat: Stat
    rows: RowRefs | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiSeekEntries(_Request):
    """MS-OXNSPI 3.1.4.1.9: pStat, pTarget, [unique] lpETable, [unique] pPropTags."""

    MIDS = ("stat", "etable")
    handle: bytes
    stat: Stat
    target: tuple[int, Any]
    etable: list[int] | None
    tags: list[int] | None
    reserved: int = 0


@dataclass(slots=True)
class SeekEntriesResult(_Result):
    MIDS = ("stat",)
    status: int
    stat: Stat
    rows: list[Row] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


# -- 5 / 6 / 7 ------------------------------------------------------------------------
@dataclass(slots=True)
class NspiGetMatches(_Request):
    """MS-OXNSPI 3.1.4.1.10: pStat, pReserved, Filter, lpPropName, ulRequested, pPropTags."""

    MIDS = ("stat",)
    handle: bytes
    stat: Stat
    restriction: Any
    requested: int
    tags: list[int] | None
    reserved1: int = 0
    reserved2: int = 0


@dataclass(slots=True)
class GetMatchesResult(_Result):
    MIDS = ("stat", "mids")
    status: int
    stat: Stat
    mids: list[int] | None = None
    rows: list[Row] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiResortRestriction(_Request):
    """MS-OXNSPI 3.1.4.1.11: pStat, pInMIds, [in, out] ppOutMIds."""

    MIDS = ("stat", "mids")
    handle: bytes
    stat: Stat
    mids: list[int]
    reserved: int = 0


@dataclass(slots=True)
class ResortRestrictionResult(_Result):
    MIDS = ("stat", "mids")
    status: int
    stat: Stat
    mids: list[int] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiDNToMId(_Request):
    """MS-OXNSPI 3.1.4.1.13: pNames (8-bit DNs, as sent)."""

    handle: bytes
    names: list[bytes]
    reserved: int = 0


@dataclass(slots=True)
class DNToMIdResult(_Result):
    MIDS = ("mids",)
    status: int
    mids: list[int] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


# -- 8 / 9 / 10 / 11 ------------------------------------------------------------------
@dataclass(slots=True)
class NspiGetPropList(_Request):
    """MS-OXNSPI 3.1.4.1.6: dwFlags, dwMId, CodePage."""

    MIDS = ("mid",)
    handle: bytes
    flags: int
    mid: int
    code_page: int


@dataclass(slots=True)
class GetPropListResult(_Result):
    status: int
    tags: list[int] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiGetProps(_Request):
    """MS-OXNSPI 3.1.4.1.7: dwFlags, [in] pStat (reference), [in, unique] pPropTags."""

    MIDS = ("stat",)
    handle: bytes
    flags: int
    stat: Stat | None
    tags: list[int] | None


@dataclass(slots=True)
class GetPropsResult(_Result):
    status: int
    row: Row | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiCompareMIds(_Request):
    """MS-OXNSPI 3.1.4.1.12: pStat, MId1, MId2."""

    MIDS = ("stat", "mid1", "mid2")
    handle: bytes
    stat: Stat
    mid1: int
    mid2: int
    reserved: int = 0


@dataclass(slots=True)
class CompareMIdsResult(_Result):
    status: int
    result: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiModProps(_Request):
    """MS-OXNSPI 3.1.4.1.14: pStat, pPropTags, pRow."""

    MIDS = ("stat",)
    handle: bytes
    stat: Stat
    tags: list[int] | None
    row: Row
    reserved: int = 0


@dataclass(slots=True)
class ModPropsResult(_Result):
    status: int
    notes: dict[str, Any] = field(default_factory=dict)


# -- 12 / 13 / 14 ---------------------------------------------------------------------
@dataclass(slots=True)
class NspiGetSpecialTable(_Request):
    """MS-OXNSPI 3.1.4.1.3: dwFlags, pStat, [in, out] lpVersion (reference pointers)."""

    handle: bytes
    flags: int
    stat: Stat
    version: int


@dataclass(slots=True)
class GetSpecialTableResult(_Result):
    status: int
    version: int = 0
    rows: list[Row] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiGetTemplateInfo(_Request):
    """MS-OXNSPI 3.1.4.1.18: dwFlags, ulType, [unique, string] pDN, dwCodePage, dwLocaleID."""

    handle: bytes
    flags: int
    display_type: int
    dn: bytes | None
    code_page: int
    locale: int


@dataclass(slots=True)
class GetTemplateInfoResult(_Result):
    status: int
    row: Row | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiModLinkAtt(_Request):
    """MS-OXNSPI 3.1.4.1.15: dwFlags, ulPropTag, dwMId, lpEntryIds."""

    MIDS = ("mid",)
    handle: bytes
    flags: int
    tag: int
    mid: int
    entry_ids: list[bytes]


@dataclass(slots=True)
class ModLinkAttResult(_Result):
    status: int
    notes: dict[str, Any] = field(default_factory=dict)


# -- 16 / 17 / 18 ---------------------------------------------------------------------
@dataclass(slots=True)
class NspiQueryColumns(_Request):
    """MS-OXNSPI 3.1.4.1.5: dwFlags."""

    handle: bytes
    flags: int
    reserved: int = 0


@dataclass(slots=True)
class QueryColumnsResult(_Result):
    status: int
    tags: list[int] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiGetNamesFromIDs(_Request):
    """MS-OXNSPI 3.1.4.1.16: [unique] lpguid, [unique] pPropTags."""

    handle: bytes
    guid: bytes | None
    tags: list[int] | None
    reserved: int = 0


@dataclass(slots=True)
class GetNamesFromIDsResult(_Result):
    status: int
    tags: list[int] | None = None
    names: list[PropName] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NspiGetIDsFromNames(_Request):
    """MS-OXNSPI 3.1.4.1.17: dwFlags, cPropNames, pNames."""

    handle: bytes
    flags: int
    names: list[PropName | None]


@dataclass(slots=True)
class GetIDsFromNamesResult(_Result):
    status: int
    tags: list[int] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


# -- 19 / 20 --------------------------------------------------------------------------
@dataclass(slots=True)
class NspiResolveNames(_Request):
    """MS-OXNSPI 3.1.4.1.19: pStat, [unique] pPropTags, paStr (8-bit names, as sent)."""

    handle: bytes
    stat: Stat
    tags: list[int] | None
    names: list[bytes]
    reserved: int = 0


@dataclass(slots=True)
class NspiResolveNamesW(_Request):
    """MS-OXNSPI 3.1.4.1.20: pStat, [unique] pPropTags, paWStr."""

    handle: bytes
    stat: Stat
    tags: list[int] | None
    names: list[str]
    reserved: int = 0


@dataclass(slots=True)
class ResolveNamesResult(_Result):
    """ppMIds (MID_RESOLVED/AMBIGUOUS/UNRESOLVED per name, MS-OXNSPI 2.2.9) and ppRows
    (one per resolved name)."""

    status: int
    mids: list[int] | None = None
    rows: RowRefs | None = None
    notes: dict[str, Any] = field(default_factory=dict)

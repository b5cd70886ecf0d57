"""Hypothesis values for the IDL type table, and their meaning as fakegc's typed messages.

``values_for(t)`` draws a value of any IDL type (unique pointers NULL or not, strings
without NUL, counts left to the encoder).  ``request_message(opnum, params)`` says what
fakegc's decoder must produce for those parameters; ``wire_row`` says what a row a
handler returned looks like once on the wire (MS-OXNSPI 2.2.2.1, 3.1.4.1.7).
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st

from fakegc.nspi import messages as M
from fakegc.nspi.rows import Missing, encode_8bit
from fakegc.nspi.table import Stat
from tests.idl import nspi_idl as I
from tests.idl.ndr import Array, Bytes, Count, Prim, Ptr, String, Struct, Union

MASK = 0xFFFFFFFF
_INTS = {"I": st.integers(0, MASK), "i": st.integers(-(2**31), 2**31 - 1),
         "H": st.integers(0, 0xFFFF), "h": st.integers(-(2**15), 2**15 - 1)}
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
_BYTES8 = st.binary(max_size=12).map(lambda b: b.replace(b"\x00", b"x"))


def values_for(t: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any value of IDL type ``t``."""
    if isinstance(t, Prim):
        return _INTS[t.fmt]
    if isinstance(t, Bytes):
        return st.binary(min_size=t.n, max_size=t.n)
    if isinstance(t, String):
        return _TEXT if t.width == 2 else _BYTES8
    if isinstance(t, Ptr):
        inner = values_for(t.target, depth)
        return inner if t.kind == "ref" else st.one_of(st.none(), inner)
    if isinstance(t, Array):
        return st.lists(values_for(t.elem, depth), max_size=3 if depth < 2 else 1)
    if isinstance(t, Struct):
        if t is I.PROPERTY_VALUE:
            return _property_values(depth)
        if t is I.RESTRICTION:
            return _restrictions(depth)
        return st.fixed_dictionaries({n: values_for(ft, depth + 1) for n, ft in t.fields
                                      if not isinstance(ft, (Count, Union))})
    raise TypeError(t)


def _property_values(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    def one(ptype: int) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(lambda pid, reserved, value: {"ulPropTag": (pid << 16) | ptype,
                                                       "ulReserved": reserved, "Value": value},
                         st.integers(0, 0xFFFF), _INTS["I"],
                         values_for(I.PROP_VAL_ARMS[ptype], depth + 1))
    return st.sampled_from(sorted(I.PROP_VAL_ARMS)).flatmap(one)


def _restrictions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    kinds = [3, 4, 5, 6, 7, 8] if depth >= 2 else sorted(I.RESTRICTION_ARMS)

    def one(rt: int) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(lambda res: {"rt": rt, "res": res},
                         values_for(I.RESTRICTION_ARMS[rt], depth + 1))
    return st.sampled_from(kinds).flatmap(one)


def params_for(opnum: int) -> st.SearchStrategy[dict[str, Any]]:
    """The [in] parameters of ``opnum`` (counts computed by the encoder)."""
    _, ins, _ = I.METHODS[opnum]
    return st.fixed_dictionaries({n: values_for(t) for n, t in ins if not isinstance(t, Count)})


# -- what fakegc's decoder must make of them ---------------------------------------------
def stat(d: dict[str, int]) -> Stat:
    return Stat(d["SortType"], d["ContainerID"], d["CurrentRec"], d["Delta"], d["NumPos"],
                d["TotalRecs"], d["CodePage"], d["TemplateLocale"], d["SortLocale"])


def tags(d: dict[str, Any] | None) -> list[int] | None:
    return None if d is None else list(d["aulPropTag"])


def _binary(b: dict[str, Any] | None) -> bytes | None:
    return None if b is None or b["lpb"] is None else b"".join(b["lpb"])


def _s8(b: bytes | None) -> str | None:
    return None if b is None else b.decode("cp1252", "replace")


def _guid(b: bytes | None) -> uuid.UUID | None:
    return None if b is None else uuid.UUID(bytes_le=b)


def _ft(f: dict[str, int]) -> int:
    return f["dwLowDateTime"] | (f["dwHighDateTime"] << 32)


_MV = {0x1002: lambda v: v, 0x1003: lambda v: v & MASK, 0x101E: _s8, 0x101F: lambda v: v,
       0x1102: _binary, 0x1048: _guid, 0x1040: _ft}


def prop_value(d: dict[str, Any]) -> tuple[int, Any]:
    """A PropertyValue_r as fakegc's (tag, value)."""
    tag, v = d["ulPropTag"], d["Value"]
    ptype = tag & 0xFFFF
    if ptype in _MV:
        return tag, None if v["lp"] is None else [_MV[ptype](x) for x in v["lp"]]
    conv = {0x001E: _s8, 0x0102: _binary, 0x0048: _guid, 0x0040: _ft}.get(ptype)
    if conv is not None:
        return tag, conv(v)
    return tag, v & MASK if ptype in (0x0003, 0x000A, 0x0001, 0x000D) else v


class _Null(Exception):
    pass


def restriction(d: dict[str, Any] | None) -> Any:
    if d is None:
        return None
    try:
        return _restriction(d)
    except _Null:
        return M.TOO_COMPLEX


def _restriction(d: dict[str, Any]) -> Any:
    rt, res = d["rt"], d["res"]
    if rt in (0, 1):
        return ("and" if rt == 0 else "or", [_restriction(x) for x in res["lpRes"] or []])
    if rt in (2, 9):
        if res["lpRes"] is None:
            raise _Null()
        sub = _restriction(res["lpRes"])
        return ("not", sub) if rt == 2 else ("sub", res["ulSubObject"], sub)
    if rt in (3, 4):
        value = None if res["lpProp"] is None else prop_value(res["lpProp"])[1]
        first = res["ulFuzzyLevel"] if rt == 3 else res["relop"]
        return ("content" if rt == 3 else "property", first, res["ulPropTag"], value)
    names = I._THREE[rt]
    if rt == 8:
        return ("exist", res["ulPropTag"])
    return ({5: "compare", 6: "bitmask", 7: "size"}[rt], *(res[n] for n in names))


def _row(d: dict[str, Any]) -> list[tuple[int, Any]]:
    return [prop_value(v) for v in d["lpProps"] or []]


def request_message(opnum: int, p: dict[str, Any]) -> Any:
    """The typed request fakegc's decoder must produce for IDL parameters ``p``."""
    h = p.get("hRpc")
    if opnum == 0:
        return M.NspiBind(p["dwFlags"], stat(p["pStat"]), p["pServerGuid"] is not None)
    if opnum == 1:
        return M.NspiUnbind(p["contextHandle"], p["Reserved"])
    if opnum == 2:
        return M.NspiUpdateStat(h, stat(p["pStat"]), p["plDelta"] is not None, p["Reserved"])
    if opnum == 3:
        return M.NspiQueryRows(h, p["dwFlags"], stat(p["pStat"]), p["lpETable"], p["Count"],
                               tags(p["pPropTags"]))
    if opnum == 4:
        return M.NspiSeekEntries(h, stat(p["pStat"]), prop_value(p["pTarget"]),
                                 tags(p["lpETable"]), tags(p["pPropTags"]), p["Reserved"])
    if opnum == 5:
        return M.NspiGetMatches(h, stat(p["pStat"]), restriction(p["Filter"]), p["ulRequested"],
                                tags(p["pPropTags"]), p["Reserved1"], p["Reserved2"])
    if opnum == 6:
        return M.NspiResortRestriction(h, stat(p["pStat"]), tags(p["pInMIds"]), p["Reserved"])
    if opnum == 7:
        return M.NspiDNToMId(h, [s or b"" for s in p["pNames"]["Strings"]], p["Reserved"])
    if opnum == 8:
        return M.NspiGetPropList(h, p["dwFlags"], p["dwMId"], p["CodePage"])
    if opnum == 9:
        return M.NspiGetProps(h, p["dwFlags"], stat(p["pStat"]), tags(p["pPropTags"]))
    if opnum == 10:
        return M.NspiCompareMIds(h, stat(p["pStat"]), p["MId1"], p["MId2"], p["Reserved"])
    if opnum == 11:
        return M.NspiModProps(h, stat(p["pStat"]), tags(p["pPropTags"]), _row(p["pRow"]),
                              p["Reserved"])
    if opnum == 12:
        return M.NspiGetSpecialTable(h, p["dwFlags"], stat(p["pStat"]), p["lpVersion"])
    if opnum == 13:
        return M.NspiGetTemplateInfo(h, p["dwFlags"], p["ulType"], p["pDN"], p["dwCodePage"],
                                     p["dwLocaleID"])
    if opnum == 14:
        entries = [_binary(b) or b"" for b in p["lpEntryIds"]["lp"] or []]
        return M.NspiModLinkAtt(h, p["dwFlags"], p["ulPropTag"], p["dwMId"], entries)
    if opnum == 16:
        return M.NspiQueryColumns(h, p["dwFlags"], p["Reserved"])
    if opnum == 17:
        return M.NspiGetNamesFromIDs(h, p["lpguid"], tags(p["pPropTags"]), p["Reserved"])
    if opnum == 18:
        names = [None if n is None else (n["lpguid"] or b"\x00" * 16, n["lID"] & MASK)
                 for n in p["pNames"]]
        return M.NspiGetIDsFromNames(h, p["dwFlags"], names)
    if opnum == 19:
        return M.NspiResolveNames(h, stat(p["pStat"]), tags(p["pPropTags"]),
                                  [s or b"" for s in p["paStr"]["Strings"]], p["Reserved"])
    if opnum == 20:
        return M.NspiResolveNamesW(h, stat(p["pStat"]), tags(p["pPropTags"]),
                                   [s or "" for s in p["paWStr"]["Strings"]], p["Reserved"])
    raise KeyError(opnum)


# -- what a handler's row looks like on the wire ------------------------------------------
UNSAFE = {0x0004, 0x0005, 0x0006, 0x0014}


def wire_row(row: list[tuple[int, Any]] | None, code_page: int) -> list[tuple[int, Any]] | None:
    """A handler's row as the IDL carries it: a missing value is PT_ERROR with its code
    (MS-OXNSPI 3.1.4.1.7), types RPC cannot carry are PT_NULL, 8-bit strings in the code page."""
    if row is None:
        return None
    out = []
    for tag, value in row:
        ptype = tag & 0xFFFF
        if isinstance(value, Missing):
            out.append(((tag & 0xFFFF0000) | 0x000A, value.code & MASK))
        elif ptype in UNSAFE:
            out.append(((tag & 0xFFFF0000) | 0x0001, 0))
        elif ptype == 0x001E:
            out.append((tag, encode_8bit(str(value), code_page)))
        elif ptype == 0x101E:
            out.append((tag, [encode_8bit(str(v), code_page) for v in value]))
        elif ptype == 0x0048:
            out.append((tag, value.bytes_le if isinstance(value, uuid.UUID) else bytes(value)))
        elif ptype == 0x000D:
            out.append((tag, 0))
        elif ptype in (0x000B, 0x0002, 0x0003):
            out.append((tag, int(value)))
        else:
            out.append((tag, value))
    return out


def oracle_row(d: dict[str, Any] | None) -> list[tuple[int, Any]] | None:
    """A decoded PropertyRow_r in the form of :func:`wire_row` (strings8 as bytes)."""
    if d is None:
        return None
    out = []
    for v in d["lpProps"] or []:
        tag, val = v["ulPropTag"], v["Value"]
        ptype = tag & 0xFFFF
        if ptype == 0x0102:
            val = _binary(val)
        elif ptype == 0x0040:
            val = _ft(val)
        elif ptype in (0x1003, 0x101F, 0x101E):
            val = None if val["lp"] is None else [x & MASK if ptype == 0x1003 else x
                                                  for x in val["lp"]]
        elif ptype == 0x1102:
            val = None if val["lp"] is None else [_binary(b) for b in val["lp"]]
        elif ptype in (0x0003, 0x000A, 0x0001):
            val = val & MASK
        out.append((tag, val))
    return out

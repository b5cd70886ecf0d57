"""Restriction evaluation for NspiGetMatches (MS-NSPI 2.3.4, 3.1.4.1.10; MS-OXCDATA 2.12).

Restrictions are decoded from impacket's ``Restriction_r`` into plain tuples
(:func:`from_impacket`), then evaluated against objects (:func:`matches`).
PR_ANR is ambiguous name resolution over display name, alias, SMTP address,
given name and surname prefixes (MS-OXNSPI 3.1.4.7).
"""

from __future__ import annotations

from typing import Any

from fakegc.directory import props as P
from fakegc.directory.model import AbObject, Directory, sort_key
from fakegc.nspi.rows import MISSING, Missing, object_value

__all__ = ["TooComplex", "anr_match", "from_impacket", "matches"]

RES_AND, RES_OR, RES_NOT, RES_CONTENT, RES_PROPERTY, RES_COMPAREPROPS, RES_BITMASK, RES_SIZE, \
    RES_EXIST, RES_SUBRESTRICTION = range(10)
FL_FULLSTRING, FL_SUBSTRING, FL_PREFIX = 0, 1, 2
FL_IGNORECASE = 0x10000
RELOP_LT, RELOP_LE, RELOP_GT, RELOP_GE, RELOP_EQ, RELOP_NE, RELOP_RE = range(7)
BMR_EQZ, BMR_NEZ = 0, 1
MAX_DEPTH = 16


class TooComplex(Exception):
    """A restriction nested deeper than we evaluate (NSPI TooComplex)."""


def _prop_value(pv: Any) -> tuple[int, Any]:
    tag = pv["ulPropTag"]
    value = pv["Value"]
    name = value.structure[0][0]
    raw = value.fields[name]
    ptype = tag & 0xFFFF
    if ptype == P.PT_UNICODE:
        return tag, raw["Data"].rstrip("\x00")
    if ptype == P.PT_STRING8:
        data = raw["Data"]
        if isinstance(data, bytes):
            data = data.decode("cp1252", "replace")
        return tag, data.rstrip("\x00")
    if ptype in (P.PT_LONG, P.PT_SHORT, P.PT_BOOLEAN, P.PT_ERROR):
        return tag, int(raw["Data"] if hasattr(raw, "fields") and "Data" in raw.fields else raw)
    if ptype == P.PT_BINARY:
        return tag, b"".join(raw["lpb"])
    return tag, None


def from_impacket(r: Any, depth: int = 0) -> tuple[Any, ...]:
    """Plain-tuple form of an impacket Restriction_r."""
    if depth > MAX_DEPTH:
        raise TooComplex()
    rt = r["rt"]
    res = r["res"]
    if rt in (RES_AND, RES_OR):
        sub = res["resAnd"] if rt == RES_AND else res["resOr"]
        return ("and" if rt == RES_AND else "or", [from_impacket(x, depth + 1) for x in sub["lpRes"]])
    if rt == RES_NOT:
        return ("not", from_impacket(res["resNot"]["lpRes"], depth + 1))
    if rt == RES_CONTENT:
        c = res["resContent"]
        return ("content", c["ulFuzzyLevel"], c["ulPropTag"], _prop_value(c["lpProp"])[1])
    if rt == RES_PROPERTY:
        c = res["resProperty"]
        return ("property", c["relop"], c["ulPropTag"], _prop_value(c["lpProp"])[1])
    if rt == RES_COMPAREPROPS:
        c = res["resCompareProps"]
        return ("compare", c["relop"], c["ulPropTag1"], c["ulPropTag2"])
    if rt == RES_BITMASK:
        c = res["resBitMask"]
        return ("bitmask", c["relBMR"], c["ulPropTag"], c["ulMask"])
    if rt == RES_SIZE:
        c = res["resSize"]
        return ("size", c["relop"], c["ulPropTag"], c["cb"])
    if rt == RES_EXIST:
        return ("exist", res["resExist"]["ulPropTag"])
    if rt == RES_SUBRESTRICTION:
        c = res["resSubRestriction"]
        return ("sub", c["ulSubObject"], from_impacket(c["lpRes"], depth + 1))
    raise ValueError(f"unknown restriction type {rt}")


def anr_match(d: Directory, obj: AbObject, text: str) -> bool:
    """Ambiguous name resolution: prefix of display name, alias, SMTP, given name or surname."""
    needle = sort_key(text.strip())
    if not needle:
        return False
    if needle.startswith("=smtp:"):
        return (obj.smtp or "").casefold() == text.strip()[6:].casefold()
    if needle.startswith("="):
        needle = needle[1:]
        exact = True
    else:
        exact = False
    fields = [obj.display_name, obj.alias, obj.smtp or "",
              str(obj.props.get(P.PR_GIVEN_NAME, "")), str(obj.props.get(P.PR_SURNAME, ""))]
    words = [w for f in fields for w in f.split()]
    for cand in fields + words:
        key = sort_key(cand)
        if (key == needle) if exact else key.startswith(needle):
            return True
    return False


def _value(d: Directory, obj: AbObject, tag: int) -> Any:
    return object_value(d, obj, tag, _NO_GUID, False)


_NO_GUID = __import__("uuid").UUID(int=0)


def _cmp(relop: int, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        a, b = sort_key(a), sort_key(b)
    try:
        return {RELOP_LT: a < b, RELOP_LE: a <= b, RELOP_GT: a > b, RELOP_GE: a >= b,
                RELOP_EQ: a == b, RELOP_NE: a != b}.get(relop, False)
    except TypeError:
        return False


def _size(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode("utf-16le")) + 2
    if isinstance(v, bytes):
        return len(v)
    if isinstance(v, list):
        return sum(_size(x) for x in v)
    return 4


def matches(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    """Does ``obj`` satisfy restriction ``r``?"""
    kind = r[0]
    if kind == "and":
        return all(matches(d, obj, x) for x in r[1])
    if kind == "or":
        return any(matches(d, obj, x) for x in r[1])
    if kind == "not":
        return not matches(d, obj, r[1])
    if kind == "content":
        _, fuzzy, tag, want = r
        if P.canonical(tag) == P.PR_ANR:
            return anr_match(d, obj, str(want))
        have = _value(d, obj, tag)
        values = have if isinstance(have, list) else [have]
        for v in values:
            if isinstance(v, Missing) or v is None:
                continue
            if isinstance(v, bytes) and isinstance(want, bytes):
                a, b = v, want
            else:
                a, b = str(v), str(want)
                if fuzzy & (FL_IGNORECASE | 0x20000):
                    a, b = a.casefold(), b.casefold()
            mode = fuzzy & 0xFFFF
            if (mode == FL_FULLSTRING and a == b) or (mode == FL_SUBSTRING and b in a) or \
                    (mode == FL_PREFIX and a.startswith(b)):  # type: ignore[arg-type]
                return True
        return False
    if kind == "property":
        _, relop, tag, want = r
        if P.canonical(tag) == P.PR_ANR:
            return anr_match(d, obj, str(want))
        have = _value(d, obj, tag)
        if isinstance(have, Missing):
            return relop == RELOP_NE
        values = have if isinstance(have, list) else [have]
        return any(_cmp(relop, v, want) for v in values)
    if kind == "compare":
        _, relop, t1, t2 = r
        a, b = _value(d, obj, t1), _value(d, obj, t2)
        if isinstance(a, Missing) or isinstance(b, Missing):
            return False
        return _cmp(relop, a, b)
    if kind == "bitmask":
        _, rel, tag, mask = r
        have = _value(d, obj, tag)
        if not isinstance(have, int):
            return False
        hit = (have & mask) != 0
        return hit if rel == BMR_NEZ else not hit
    if kind == "size":
        _, relop, tag, cb = r
        have = _value(d, obj, tag)
        if isinstance(have, Missing):
            return False
        return _cmp(relop, _size(have), cb)
    if kind == "exist":
        return not isinstance(_value(d, obj, r[1]), Missing)
    if kind == "sub":
        # PR_EMS_AB_MEMBER sub-object: any member matches
        _, sub_tag, inner = r
        if P.canonical(sub_tag) == P.PR_EMS_AB_MEMBER:
            return any(matches(d, d.objects[m], inner) for m in obj.members if m in d.objects)
        return False
    return False


__all__ += ["MISSING"]

"""Restriction evaluation for NspiGetMatches (MS-NSPI 2.3.4, 3.1.4.1.10; MS-OXCDATA 2.12).

Restrictions are decoded from impacket's ``Restriction_r`` into plain tuples
(:func:`from_impacket`), then evaluated against objects (:func:`matches`).
PR_ANR is ambiguous name resolution over display name, alias, SMTP address,
given name and surname prefixes (MS-OXNSPI 3.1.4.7).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, AnyStr

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


_RELOPS: dict[int, Callable[[Any, Any], Any]] = {
    RELOP_LT: operator.lt, RELOP_LE: operator.le, RELOP_GT: operator.gt, RELOP_GE: operator.ge,
    RELOP_EQ: operator.eq, RELOP_NE: operator.ne}


def _cmp(relop: int, a: Any, b: Any) -> bool:
    """``a relop b`` (MS-OXCDATA 2.12.4 relops); strings compare by sort key, and values
    that cannot be ordered against each other satisfy no relation."""
    if isinstance(a, str) and isinstance(b, str):
        a, b = sort_key(a), sort_key(b)
    op = _RELOPS.get(relop)
    if op is None:
        return False
    try:
        a < b  # noqa: B015 - raises TypeError for values of unrelated types
        return bool(op(a, b))
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


def _fuzzy(mode: int, hay: AnyStr, needle: AnyStr) -> bool:
    if mode == FL_FULLSTRING:
        return hay == needle
    if mode == FL_SUBSTRING:
        return needle in hay
    return mode == FL_PREFIX and hay.startswith(needle)


def _content_hit(fuzzy: int, v: Any, want: Any) -> bool:
    """One value against a content restriction's (MS-OXCDATA 2.12.2: ulFuzzyLevel)."""
    mode = fuzzy & 0xFFFF
    if isinstance(v, bytes) and isinstance(want, bytes):
        return _fuzzy(mode, v, want)
    text, wanted = str(v), str(want)
    if fuzzy & (FL_IGNORECASE | 0x20000):
        text, wanted = text.casefold(), wanted.casefold()
    return _fuzzy(mode, text, wanted)


# -- one reader per restriction type (MS-OXCDATA 2.12; MS-OXNSPI 2.2.5) ---------------
def _and(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    return all(matches(d, obj, x) for x in r[1])


def _or(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    return any(matches(d, obj, x) for x in r[1])


def _not(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    return not matches(d, obj, r[1])


def _content(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    _, fuzzy, tag, want = r
    if P.canonical(tag) == P.PR_ANR:
        return anr_match(d, obj, str(want))
    have = _value(d, obj, tag)
    values = have if isinstance(have, list) else [have]
    return any(_content_hit(fuzzy, v, want) for v in values
               if not isinstance(v, Missing) and v is not None)


def _property(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    _, relop, tag, want = r
    if P.canonical(tag) == P.PR_ANR:
        return anr_match(d, obj, str(want))
    have = _value(d, obj, tag)
    if isinstance(have, Missing):
        return bool(relop == RELOP_NE)
    values = have if isinstance(have, list) else [have]
    return any(_cmp(relop, v, want) for v in values)


def _compare(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    _, relop, t1, t2 = r
    a, b = _value(d, obj, t1), _value(d, obj, t2)
    if isinstance(a, Missing) or isinstance(b, Missing):
        return False
    return _cmp(relop, a, b)


def _bitmask(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    _, rel, tag, mask = r
    have = _value(d, obj, tag)
    if not isinstance(have, int):
        return False
    hit = (have & mask) != 0
    return hit if rel == BMR_NEZ else not hit


def _size_of(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    _, relop, tag, cb = r
    have = _value(d, obj, tag)
    if isinstance(have, Missing):
        return False
    return _cmp(relop, _size(have), cb)


def _exist(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    return not isinstance(_value(d, obj, r[1]), Missing)


def _sub(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    # PR_EMS_AB_MEMBER sub-object: any member matches
    _, sub_tag, inner = r
    if P.canonical(sub_tag) == P.PR_EMS_AB_MEMBER:
        return any(matches(d, d.objects[m], inner) for m in obj.members if m in d.objects)
    return False


_KINDS: dict[str, Callable[[Directory, AbObject, tuple[Any, ...]], bool]] = {
    "and": _and, "or": _or, "not": _not, "content": _content, "property": _property,
    "compare": _compare, "bitmask": _bitmask, "size": _size_of, "exist": _exist, "sub": _sub}


def matches(d: Directory, obj: AbObject, r: tuple[Any, ...]) -> bool:
    """Does ``obj`` satisfy restriction ``r``?  (An unknown restriction type matches nothing.)"""
    check = _KINDS.get(r[0])
    return check(d, obj, r) if check is not None else False


__all__ += ["MISSING"]

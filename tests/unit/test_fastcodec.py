"""The hand-written NSPI request decoders agree with impacket's on random requests (issue #8)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from impacket.dcerpc.v5 import nspi
from impacket.dcerpc.v5.dtypes import DWORD, LPWSTR

from fakegc.nspi.fastcodec import decode_query_rows, decode_resolve_names_w


def handle(raw: bytes):
    h = nspi.handle_t()
    h.fromString(raw)
    return h


def ints(values):
    return [v["Data"] if hasattr(v, "fields") else int(v) for v in values]


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(min_size=20, max_size=20), flags=st.integers(0, 2**32 - 1),
       stat=st.lists(st.integers(0, 2**32 - 1), min_size=9, max_size=9),
       etable=st.one_of(st.none(), st.lists(st.integers(0, 2**32 - 1), max_size=30)),
       count=st.integers(0, 2**32 - 1),
       tags=st.one_of(st.none(), st.lists(st.integers(0, 2**32 - 1), max_size=30)))
def test_query_rows(raw, flags, stat, etable, count, tags):
    req = nspi.NspiQueryRows()
    req["hRpc"] = handle(raw)
    req["dwFlags"] = flags
    for name, value in zip(("SortType", "ContainerID", "CurrentRec", "Delta", "NumPos", "TotalRecs",
                            "CodePage", "TemplateLocale", "SortLocale"), stat):
        req["pStat"][name] = value if name != "Delta" else value - (1 << 32) * (value >> 31)
    if etable is None:
        req["lpETable"] = nspi.NULL
        req["dwETableCount"] = 0
    else:
        for v in etable:
            d = DWORD()
            d["Data"] = v
            req["lpETable"].append(d)
        req["dwETableCount"] = len(etable)
    req["Count"] = count
    if tags is None:
        req["pPropTags"] = nspi.NULL
    else:
        for t in tags:
            d = DWORD()
            d["Data"] = t
            req["pPropTags"]["aulPropTag"].append(d)
        req["pPropTags"]["cValues"] = len(tags)
    stub = req.getData()
    fast = decode_query_rows(stub)
    ref = nspi.NspiQueryRows(stub)
    assert fast.handle == ref["hRpc"].getData() == raw
    assert fast.flags == ref["dwFlags"] and fast.count == ref["Count"]
    assert list(fast.stat) == [ref["pStat"][n] & 0xFFFFFFFF for n in (
        "SortType", "ContainerID", "CurrentRec", "Delta", "NumPos", "TotalRecs", "CodePage",
        "TemplateLocale", "SortLocale")]
    assert fast.etable == (None if etable is None else ints(ref["lpETable"]))
    assert fast.tags == (None if tags is None else ints(ref["pPropTags"]["aulPropTag"]))


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(min_size=20, max_size=20),
       tags=st.one_of(st.none(), st.lists(st.integers(0, 2**32 - 1), max_size=10)),
       names=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                              max_size=30), min_size=1, max_size=6))
def test_resolve_names_w(raw, tags, names):
    req = nspi.NspiResolveNamesW()
    req["hRpc"] = handle(raw)
    req["pStat"]["CodePage"] = 1252
    if tags is None:
        req["pPropTags"] = nspi.NULL
    else:
        for t in tags:
            d = DWORD()
            d["Data"] = t
            req["pPropTags"]["aulPropTag"].append(d)
        req["pPropTags"]["cValues"] = len(tags)
    for n in names:
        s = LPWSTR()
        s["Data"] = n + "\x00"
        req["paStr"]["Strings"].append(s)
    req["paStr"]["Count"] = len(names)
    stub = req.getData()
    fast = decode_resolve_names_w(stub)
    ref = nspi.NspiResolveNamesW(stub)
    assert fast.handle == raw
    assert fast.names == [str(s["Data"]).rstrip("\x00") for s in ref["paStr"]["Strings"]] == names
    assert fast.tags == (None if tags is None else ints(ref["pPropTags"]["aulPropTag"]))

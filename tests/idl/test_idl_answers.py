"""Every NSPI answer fakegc encodes decodes, with the IDL-driven oracle, to what the handler
returned (issue #22; MS-OXNSPI section 6 and 3.1.4.1.x).

Results are drawn by Hypothesis (rows of every property type fakegc answers with,
NULL and non-NULL out pointers), or, for the row-cache paths (NspiQueryRows,
NspiResolveNames[W]), produced by the real handlers over the shipped directory.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakegc.directory import loader
from fakegc.directory import props as P
from fakegc.nspi import codec
from fakegc.nspi import handlers as H
from fakegc.nspi import handlers_props as HP
from fakegc.nspi import messages as M
from fakegc.nspi.codec64 import ENCODERS64
from fakegc.nspi.host import NspiSession, StaticGc
from fakegc.nspi.rows import Missing
from fakegc.nspi.table import Stat
from tests.idl import nspi_idl as I
from tests.idl.ndr import decode_params
from tests.idl.values import MASK, oracle_row, stat, tags, wire_row

GC = StaticGc(loader.load_default())
H0 = b"\x00" * 20
u32 = st.integers(0, MASK)
stats = st.builds(Stat, u32, u32, u32, st.integers(-(2**31), 2**31 - 1), u32, u32,
                  st.sampled_from([1252, 65001, 1251, 0]), u32, u32)
statuses = st.sampled_from([0, 1, 0x00040380, 0x80004005, 0x8004010F, 0x80070057])
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=10)
_BY_TYPE = {
    P.PT_LONG: u32, P.PT_SHORT: st.integers(-(2**15), 2**15 - 1), P.PT_BOOLEAN: st.booleans(),
    P.PT_UNICODE: texts, P.PT_STRING8: texts, P.PT_BINARY: st.binary(max_size=12),
    P.PT_CLSID: st.uuids(), P.PT_SYSTIME: st.integers(0, 2**64 - 1), P.PT_ERROR: u32,
    P.PT_MV_LONG: st.lists(u32, max_size=3), P.PT_MV_UNICODE: st.lists(texts, max_size=3),
    P.PT_MV_STRING8: st.lists(texts, max_size=3),
    P.PT_MV_BINARY: st.lists(st.binary(max_size=8), max_size=3), P.PT_NULL: st.just(0),
    P.PT_OBJECT: st.just(0), P.PT_DOUBLE: st.just(1.5), P.PT_I8: st.just(7),
}


def _prop(ptype: int) -> st.SearchStrategy[tuple[int, object]]:
    value = _BY_TYPE[ptype] if ptype != -1 else st.builds(Missing, u32)
    real = P.PT_LONG if ptype == -1 else ptype
    return st.tuples(st.integers(1, 0xFFFE).map(lambda pid: (pid << 16) | real), value)


props = st.sampled_from([*_BY_TYPE, -1]).flatmap(_prop)
rows = st.lists(props, max_size=4)
rowsets = st.one_of(st.none(), st.lists(rows, max_size=3))
mid_lists = st.one_of(st.none(), st.lists(u32, max_size=5))


def session(cp: int = 1252) -> NspiSession:
    return NspiSession(GC.server_guid, cp, 0x409, 0x409, 0, "alice", 1)


def answer(opnum: int, req: object, res: object, sess: NspiSession, ndr64: bool = False) -> dict:
    encoders = ENCODERS64 if ndr64 else codec.ENCODERS
    stub = encoders[opnum](req, res, sess, GC)
    # MS-RPCE 2.2.5 (NDR64) or C706 14 (NDR 2.0), read by the IDL oracle
    values, left = decode_params(I.METHODS[opnum][2], stub, ndr64=ndr64)
    assert left == 0  # MS-OXNSPI section 6: nothing after the return value
    return values


def signed(v: int) -> int:
    return v & MASK


def oracle_rowset(d: dict | None) -> list | None:
    return None if d is None else [oracle_row(r) for r in d["aRow"]]


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=30, deadline=None)
@given(status=statuses, guid=st.one_of(st.none(), st.uuids()), ok=st.booleans())
def test_bind_answer(ndr64, status, guid, ok):
    sess = session() if ok else None
    res = M.BindResult(status, sess, guid if ok else None, handle=b"\x00" * 4 + b"\x5a" * 16)
    out = answer(0, M.NspiBind(0, Stat(), guid is not None), res, sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.1: [in, out, unique] pServerGuid, then the handle, then the status
    assert out["pServerGuid"] == (guid.bytes_le if ok and guid is not None else None)
    assert out["contextHandle"] == (res.handle if ok else b"\x00" * 20)
    assert signed(out["result"]) == status


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=30, deadline=None)
@given(st_=stats, delta=st.integers(-(2**31), 2**31 - 1), want=st.booleans(), status=statuses)
def test_update_stat_answer(ndr64, st_, delta, want, status):
    out = answer(2, M.NspiUpdateStat(H0, Stat(), want), M.UpdateStatResult(status, st_, delta),
                 session(), ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.4: [in, out] pStat, [in, out, unique] plDelta (NULL stays NULL)
    assert stat(out["pStat"]) == st_ and out["plDelta"] == (delta if want else None)
    assert signed(out["result"]) == status


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st_=stats, rs=rowsets, mids=mid_lists, status=statuses, cp=st.sampled_from([1252, 1251]))
def test_seek_and_get_matches_answers(ndr64, st_, rs, mids, status, cp):
    sess = session(cp)
    seek = answer(4, None, M.SeekEntriesResult(status, st_, rs), sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.9: pStat, ppRows (NULL when the handler returned none), status
    assert stat(seek["pStat"]) == st_ and signed(seek["result"]) == status
    want = None if rs is None else [wire_row(r, cp) for r in rs]
    assert oracle_rowset(seek["ppRows"]) == want
    matches = answer(5, None, M.GetMatchesResult(status, st_, mids, rs), sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.10: pStat, ppOutMIds, ppRows
    assert tags(matches["ppOutMIds"]) == mids and oracle_rowset(matches["ppRows"]) == want


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=40, deadline=None)
@given(row=st.one_of(st.none(), rows), status=statuses, cp=st.sampled_from([1252, 65001]))
def test_get_props_and_template_answers(ndr64, row, status, cp):
    sess = session(cp)
    out = answer(9, M.NspiGetProps(H0, 0, Stat(CodePage=cp), None), M.GetPropsResult(status, row),
                 sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.7: [out] PropertyRow_r** ppRows; missing values as PT_ERROR
    assert oracle_row(out["ppRows"]) == wire_row(row, cp) and signed(out["result"]) == status
    tmpl = answer(13, None, M.GetTemplateInfoResult(status, row), sess, ndr64=ndr64)
    assert oracle_row(tmpl["ppData"]) == wire_row(row, cp)  # MS-OXNSPI 3.1.4.1.18


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=30, deadline=None)
@given(st_=stats, mids=mid_lists, status=statuses, result=st.integers(-1, 1),
       version=u32, rs=rowsets)
def test_tag_array_and_small_answers(ndr64, st_, mids, status, result, version, rs):
    sess = session()
    # MS-OXNSPI 3.1.4.1.11 / .13 / .6 / .5 / .17: a PropertyTagArray_r** each
    assert tags(answer(6, None, M.ResortRestrictionResult(status, st_, mids), sess, ndr64=ndr64)["ppOutMIds"]) \
        == mids
    assert tags(answer(7, None, M.DNToMIdResult(status, mids), sess, ndr64=ndr64)["ppOutMIds"]) == mids
    assert tags(answer(8, None, M.GetPropListResult(status, mids), sess, ndr64=ndr64)["ppPropTags"]) == mids
    assert tags(answer(16, None, M.QueryColumnsResult(status, mids), sess, ndr64=ndr64)["ppColumns"]) == mids
    assert tags(answer(18, None, M.GetIDsFromNamesResult(status, mids), sess, ndr64=ndr64)["ppPropTags"]) \
        == mids
    cmp = answer(10, None, M.CompareMIdsResult(status, result), sess, ndr64=ndr64)
    assert cmp["plResult"] == result and signed(cmp["result"]) == status  # 3.1.4.1.12
    for opnum, cls in ((11, M.ModPropsResult), (14, M.ModLinkAttResult)):
        assert signed(answer(opnum, None, cls(status), sess, ndr64=ndr64)["result"]) == status
    unbind = answer(1, None, M.UnbindResult(status), sess, ndr64=ndr64)
    assert unbind["contextHandle"] == H0  # MS-OXNSPI 3.1.4.1.2: the handle comes back zeroed
    special = answer(12, None, M.GetSpecialTableResult(status, version, rs), sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.3: [in, out] DWORD* lpVersion is a reference pointer: the DWORD itself
    assert special["lpVersion"] == version
    assert oracle_rowset(special["ppRows"]) == (None if rs is None else
                                                [wire_row(r, 1252) for r in rs])


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=30, deadline=None)
@given(ids=st.one_of(st.none(), st.lists(u32, max_size=4)),
       names=st.lists(st.tuples(st.binary(min_size=16, max_size=16), u32), max_size=4),
       status=statuses)
def test_names_from_ids_answer(ndr64, ids, names, status):
    out = answer(17, None, M.GetNamesFromIDsResult(status, ids, names if ids is not None else None),
                 session(), ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.16: ppReturnedPropTags and ppNames (PropertyNameSet_r)
    assert tags(out["ppReturnedPropTags"]) == ids
    got = None if out["ppNames"] is None else [(n["lpguid"], n["lID"] & MASK)
                                               for n in out["ppNames"]["aNames"]]
    assert got == (names if ids is not None else None)


TAGSETS = [None, [P.PR_DISPLAY_NAME, P.PR_INSTANCE_KEY], [P.PR_ENTRYID, P.PR_SMTP_ADDRESS,
                                                           P.PR_EMS_AB_PROXY_ADDRESSES, 0x12340003]]


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 30), rec=st.integers(0, 2), flags=st.sampled_from([0, 2]),
       cols=st.sampled_from(TAGSETS), cp=st.sampled_from([1252, 65001]))
def test_query_rows_answer_is_the_handlers_rows(ndr64, count, rec, flags, cols, cp):
    sess = session(cp)
    req = M.NspiQueryRows(H0, flags, Stat(CurrentRec=rec, CodePage=cp), None, count, cols)
    res = H.query_rows(req, sess, GC)
    expected = H.materialize(GC.directory, sess, res.rows)
    out = answer(3, req, res, sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.8: pStat, then the rows the handler chose, each as the IDL carries it
    assert stat(out["pStat"]) == res.stat and signed(out["result"]) == res.status
    assert oracle_rowset(out["ppRows"]) == (None if expected is None else
                                            [wire_row(r, cp) for r in expected])


@pytest.mark.parametrize("ndr64", [False, True])
@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.sampled_from(["alice", "bob", "u0", "zz-nobody", "Wonder", "=SMTP:bob@contoso.test"]),
                      max_size=4), cols=st.sampled_from(TAGSETS), wide=st.booleans())
def test_resolve_names_answer_is_the_handlers_rows(ndr64, names, cols, wide):
    sess = session()
    if wide:
        req = M.NspiResolveNamesW(H0, Stat(), cols, names)
        res = HP.resolve_names_w(req, sess, GC)
    else:
        req = M.NspiResolveNames(H0, Stat(), cols, [n.encode() for n in names])
        res = HP.resolve_names(req, sess, GC)
    out = answer(20 if wide else 19, req, res, sess, ndr64=ndr64)
    # MS-OXNSPI 3.1.4.1.19/.20: ppMIds one per name, ppRows for the resolved names
    assert tags(out["ppMIds"]) == res.mids
    expected = H.materialize(GC.directory, sess, res.rows)
    assert oracle_rowset(out["ppRows"]) == [wire_row(r, 1252) for r in expected or []]


def test_every_served_opnum_is_in_the_idl_table():
    from fakegc.nspi import NSPI

    # MS-OXNSPI section 6: opnums 0-14 and 16-20 (15 is not used on the wire)
    assert set(NSPI.operations) == set(I.METHODS) == set(range(21)) - {15}
    assert all(I.METHODS[n][0] == NSPI.operations[n].name for n in I.METHODS)

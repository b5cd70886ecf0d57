"""Every NSPI handler called as a pure function: no sockets, no call context (issue #20).

Handlers take directory MIds; each assertion names its oracle (MS-OXNSPI section or
gromox ``exch/nsp/nsp_interface.cpp`` function).
"""

from __future__ import annotations

import uuid

import pytest

from fakegc.codes import NspiStatus as S
from fakegc.directory import loader
from fakegc.directory import props as P
from fakegc.nspi import handlers as H
from fakegc.nspi import handlers_props as HP
from fakegc.nspi import messages as M
from fakegc.nspi.host import NspiSession, StaticGc
from fakegc.nspi.rows import Missing, permanent_entry_id
from fakegc.nspi.table import MID_BEGINNING_OF_TABLE, MID_END_OF_TABLE, Stat
from fakegc.rpc.registry import AuthInfo

H0 = b"\x00" * 20
ALICE = AuthInfo(10, 6, "alice", "CONTOSO", "ntlm")


@pytest.fixture
def gc() -> StaticGc:
    return StaticGc(loader.load_default())


@pytest.fixture
def session(gc: StaticGc) -> NspiSession:
    result = H.bind(M.NspiBind(0, Stat(), True), ALICE, gc)
    assert result.session is not None
    return result.session


def stat(**kw: int) -> Stat:
    return Stat(**kw)


def rows(gc: StaticGc, session: NspiSession, refs: M.RowRefs | None) -> list[dict[int, object]]:
    out = H.materialize(gc.directory, session, refs) or []
    return [dict(r) for r in out]


# -- 0 / 1 ------------------------------------------------------------------------------
def test_bind(gc: StaticGc) -> None:
    ok = H.bind(M.NspiBind(0, Stat(CodePage=1252), True), ALICE, gc)
    # MS-OXNSPI 3.1.4.1.1: Success, a session and the server GUID when pServerGuid is non-NULL
    assert ok.status == S.Success and ok.session is not None and ok.server_guid == gc.server_guid
    no_guid = H.bind(M.NspiBind(0, Stat(CodePage=1252), False), ALICE, gc)
    assert no_guid.server_guid is None  # MS-OXNSPI 3.1.4.1.1: GUID only when asked
    # MS-OXNSPI 3.1.4.1.1: CodePage CP_WINUNICODE -> MAPI_E_NO_SUPPORT (gromox nsp_interface_bind)
    assert H.bind(M.NspiBind(0, Stat(CodePage=1200), True), ALICE, gc).status == S.NotSupported
    # MS-OXNSPI 3.1.4.1.1: an unknown code page -> MAPI_E_UNKNOWN_CPID
    assert H.bind(M.NspiBind(0, Stat(CodePage=4242), True), ALICE, gc).status == S.InvalidCodepage
    # MS-OXNSPI 3.1.4.1.1: fAnonymousLogin where anonymous access is not allowed -> LogonFailed
    assert H.bind(M.NspiBind(0x20, Stat(), True), ALICE, gc).status == S.LogonFailed
    assert H.bind(M.NspiBind(0, Stat(), True), None, gc).status == S.LogonFailed
    gc.accepting_binds = False
    assert H.bind(M.NspiBind(0, Stat(), True), ALICE, gc).status == S.LogonFailed


def test_unbind(gc: StaticGc, session: NspiSession) -> None:
    # MS-OXNSPI 3.1.4.1.2: NspiUnbind returns UnbindSuccess (1)
    assert int(H.unbind(M.NspiUnbind(H0), session, gc).status) == 1


# -- 2 / 3 / 4 --------------------------------------------------------------------------
def test_update_stat(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    table = d.table(d.gal)
    res = H.update_stat(M.NspiUpdateStat(H0, stat(Delta=3), True), session, gc)
    # MS-OXNSPI 3.1.4.1.4: position moved by Delta; TotalRecs, NumPos set; plDelta how far it moved
    assert res.status == S.Success and res.stat.CurrentRec == table[3]
    assert res.stat.NumPos == 3 and res.stat.TotalRecs == len(table) and res.delta == 3
    # MS-OXNSPI 3.1.4.1.4: a container that does not exist -> InvalidBookmark
    bad = H.update_stat(M.NspiUpdateStat(H0, stat(ContainerID=0x7777), True), session, gc)
    assert bad.status == S.InvalidBookmark


def test_query_rows(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    table = d.table(d.gal)
    tags = [P.PR_DISPLAY_NAME]
    res = H.query_rows(M.NspiQueryRows(H0, 0, stat(), None, 5, tags), session, gc)
    # MS-OXNSPI 3.1.4.1.8: at most Count rows from the current position, STAT moved past them
    assert res.status == S.Success and res.rows is not None and res.rows.mids == table[:5]
    assert res.stat.CurrentRec == table[5] and res.stat.NumPos == 5
    assert [r[P.PR_DISPLAY_NAME] for r in rows(gc, session, res.rows)] == \
        [d.objects[m].display_name for m in table[:5]]
    # MS-OXNSPI 3.1.4.1.8: an explicit table (lpETable) is read instead of the container,
    # whole, one row per MId even past Count (gromox nsp_interface_query_rows)
    explicit = H.query_rows(M.NspiQueryRows(H0, 0, stat(), [table[7], table[2], 0x7FFFFF], 1, tags),
                            session, gc)
    assert explicit.rows is not None and explicit.rows.mids == [table[7], table[2], 0x7FFFFF]
    # MS-OXNSPI 3.1.4.1.8: Count 0 without lpETable -> InvalidParameter (gromox
    # nsp_interface_query_rows: count == 0 && ptable == nullptr -> ecInvalidParam)
    assert H.query_rows(M.NspiQueryRows(H0, 0, stat(), None, 0, tags), session, gc).status \
        == S.InvalidParameter
    # MS-OXNSPI 3.1.4.1.8: more than 100 columns -> TableTooBig
    assert H.query_rows(M.NspiQueryRows(H0, 0, stat(), None, 5, tags * 101), session, gc).status \
        == S.TableTooBig
    end = H.query_rows(M.NspiQueryRows(H0, 0, stat(CurrentRec=MID_END_OF_TABLE), None, 5, tags),
                       session, gc)
    # MS-OXNSPI 3.1.4.1.8 / 2.2.8: at MID_END_OF_TABLE no rows remain
    assert end.status == S.Success and end.rows is not None and end.rows.mids == []


def test_seek_entries(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    bob = d.find_alias("bob")
    assert bob is not None
    res = H.seek_entries(M.NspiSeekEntries(H0, stat(), (P.PR_DISPLAY_NAME, "Bob Builder"), None,
                                           [P.PR_DISPLAY_NAME]), session, gc)
    # MS-OXNSPI 3.1.4.1.9: positioned on the first row sorting at or after the target
    assert res.status == S.Success and res.stat.CurrentRec == bob.mid
    assert res.rows is not None and dict(res.rows[0])[P.PR_DISPLAY_NAME] == "Bob Builder"
    # gromox nsp_interface_seek_entries: a container's table answers the row at the new
    # position only; an Explicit Table its rows from the position to its end
    assert len(res.rows) == 1
    alice = d.find_alias("alice")
    assert alice is not None
    et = H.seek_entries(M.NspiSeekEntries(H0, stat(), (P.PR_DISPLAY_NAME, "B"), [alice.mid, bob.mid],
                                          [P.PR_DISPLAY_NAME]), session, gc)
    assert et.status == S.Success and et.rows is not None and len(et.rows) == 1
    assert et.stat.CurrentRec == bob.mid and et.stat.NumPos == 1
    none = H.seek_entries(M.NspiSeekEntries(H0, stat(), (P.PR_DISPLAY_NAME, "Bob Builder"), None,
                                            None), session, gc)
    # MS-OXNSPI 3.1.4.1.9: pPropTags NULL -> no rows returned
    assert none.status == S.Success and none.rows is None
    # MS-OXNSPI 3.1.4.1.9: a target other than PR_DISPLAY_NAME -> TooComplex
    # (gromox nsp_interface_seek_entries: ecTooComplex)
    assert H.seek_entries(M.NspiSeekEntries(H0, stat(), (P.PR_SMTP_ADDRESS, "x"), None, None),
                          session, gc).status == S.TooComplex
    past = H.seek_entries(M.NspiSeekEntries(H0, stat(), (P.PR_DISPLAY_NAME, "\uffff"), None, None),
                          session, gc)
    assert past.status == S.NotFound  # MS-OXNSPI 3.1.4.1.9: nothing sorts after -> NotFound


# -- 5 / 6 / 7 --------------------------------------------------------------------------
def test_get_matches(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    alice, sales = d.find_alias("alice"), d.find_alias("sales")
    assert alice is not None and sales is not None
    anr = ("content", 0x10001, P.PR_ANR, "wonder")
    res = H.get_matches(M.NspiGetMatches(H0, stat(), anr, 0, [P.PR_DISPLAY_NAME]), session, gc)
    # MS-OXNSPI 3.1.4.1.10 / 3.1.4.7: PR_ANR matches by name prefix; STAT back at the beginning
    assert res.status == S.Success and res.mids == [alice.mid]
    assert res.stat.CurrentRec == MID_BEGINNING_OF_TABLE and res.stat.TotalRecs == 1
    members = H.get_matches(M.NspiGetMatches(
        H0, stat(ContainerID=P.PR_EMS_AB_MEMBER, CurrentRec=sales.mid), None, 0, None), session, gc)
    # MS-OXNSPI 3.1.4.1.10: NULL Filter + ContainerID PR_EMS_AB_MEMBER -> the DL's members
    assert members.mids is not None and set(members.mids) == set(sales.members)
    over = H.get_matches(M.NspiGetMatches(H0, stat(), ("exist", P.PR_DISPLAY_NAME), 2, None),
                         session, gc)
    assert over.status == S.TableTooBig  # MS-OXNSPI 3.1.4.1.10: more than ulRequested -> TableTooBig


def test_resort_restriction(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    a, b = d.find_alias("alice"), d.find_alias("bob")
    assert a is not None and b is not None
    res = H.resort_restriction(M.NspiResortRestriction(H0, stat(), [b.mid, a.mid, 0x7FFFFF]),
                               session, gc)
    # MS-OXNSPI 3.1.4.1.11: the MIds sorted like the table; unknown MIds left out
    assert res.status == S.Success and res.mids == [a.mid, b.mid] and res.stat.TotalRecs == 2


def test_dn_to_mid(gc: StaticGc, session: NspiSession) -> None:
    bob = gc.directory.find_alias("bob")
    assert bob is not None
    res = HP.dn_to_mid(M.NspiDNToMId(H0, [bob.dn.encode(), b"/o=Nowhere/cn=x"]), session, gc)
    # MS-OXNSPI 3.1.4.1.13: a MId per DN, 0 for a DN not found
    assert res.status == S.Success and res.mids == [bob.mid, 0]


# -- 8 / 9 / 10 / 11 --------------------------------------------------------------------
def test_get_prop_list(gc: StaticGc, session: NspiSession) -> None:
    bob = gc.directory.find_alias("bob")
    assert bob is not None
    wide = HP.get_prop_list(M.NspiGetPropList(H0, 0, bob.mid, 1200), session, gc)
    # MS-OXNSPI 3.1.4.1.6: CodePage 1200 -> string properties as PT_UNICODE
    assert wide.tags is not None and P.PR_DISPLAY_NAME in wide.tags
    narrow = HP.get_prop_list(M.NspiGetPropList(H0, 0, bob.mid, 1252), session, gc)
    assert narrow.tags is not None and P.with_type(P.PR_DISPLAY_NAME, P.PT_STRING8) in narrow.tags
    # MS-OXNSPI 3.1.4.1.6: an unknown MId -> NotFound
    assert HP.get_prop_list(M.NspiGetPropList(H0, 0, 0x7FFFFF, 1252), session, gc).status \
        == S.NotFound


def test_get_props(gc: StaticGc, session: NspiSession) -> None:
    bob = gc.directory.find_alias("bob")
    assert bob is not None
    res = HP.get_props(M.NspiGetProps(H0, 0, stat(CurrentRec=bob.mid),
                                      [P.PR_DISPLAY_NAME, P.PR_ADDRTYPE]), session, gc)
    # MS-OXNSPI 3.1.4.1.7: the object's values, PR_ADDRTYPE "EX" (MS-OXOABK 2.2.3.13)
    assert res.status == S.Success and res.row == [(P.PR_DISPLAY_NAME, "Bob Builder"),
                                                    (P.PR_ADDRTYPE, "EX")]
    miss = HP.get_props(M.NspiGetProps(H0, 0, stat(CurrentRec=bob.mid),
                                       [P.PR_DISPLAY_NAME, 0x12340003]), session, gc)
    # MS-OXNSPI 3.1.4.1.7: a missing property -> PT_ERROR value and ErrorsReturned
    assert miss.status == S.ErrorsReturned and miss.row is not None
    assert isinstance(miss.row[1][1], Missing)
    # gromox nsp_interface_get_props: pstat == nullptr -> ecInvalidParam
    assert HP.get_props(M.NspiGetProps(H0, 0, None, None), session, gc).status == S.InvalidParameter


def test_compare_mids(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    a, b = d.find_alias("alice"), d.find_alias("bob")
    assert a is not None and b is not None
    # MS-OXNSPI 3.1.4.1.12: negative when MId1 sorts before MId2
    assert H.compare_mids(M.NspiCompareMIds(H0, stat(), a.mid, b.mid), session, gc).result == -1
    assert H.compare_mids(M.NspiCompareMIds(H0, stat(), b.mid, b.mid), session, gc).result == 0
    # MS-OXNSPI 3.1.4.1.12: a MId not in the table -> GeneralFailure
    assert H.compare_mids(M.NspiCompareMIds(H0, stat(), a.mid, 0x7FFFFF), session, gc).status \
        == S.GeneralFailure


def test_mod_props(gc: StaticGc, session: NspiSession) -> None:
    bob = gc.directory.find_alias("bob")
    assert bob is not None
    req = M.NspiModProps(H0, stat(CurrentRec=bob.mid), None, [(P.PR_TITLE, "Chief")])
    gc.read_only = True
    assert HP.mod_props(req, session, gc).status == S.AccessDenied  # MS-OXNSPI 3.1.4.1.14
    gc.read_only = False
    assert HP.mod_props(req, session, gc).status == S.Success  # MS-OXNSPI 3.1.4.1.14
    # re-read: the directory is copy-on-write, the handler wrote the GC's own copy
    assert gc.directory.get(bob.mid).props[P.canonical(P.PR_TITLE)] == "Chief"


# -- 12 / 13 / 14 -----------------------------------------------------------------------
def test_get_special_table(gc: StaticGc, session: NspiSession) -> None:
    res = H.get_special_table(M.NspiGetSpecialTable(H0, 0, stat(), True), session, gc)
    # MS-OXNSPI 3.1.4.1.3 / MS-OXOABK 2.2.2: one hierarchy row per container, GAL first
    assert res.status == S.Success and res.rows is not None
    assert len(res.rows) == len(gc.directory.containers)
    assert dict(res.rows[0])[P.with_type(P.PR_DISPLAY_NAME, P.PT_STRING8)] == "Global Address List"
    assert res.version == gc.directory.version  # MS-OXNSPI 3.1.4.1.3: lpVersion answered
    templates = H.get_special_table(M.NspiGetSpecialTable(H0, 2, stat(), False), session, gc)
    # MS-OXNSPI 3.1.4.1.3: NspiAddressCreationTemplates -> the templates table (empty here)
    assert templates.rows == []


def test_get_template_info(gc: StaticGc, session: NspiSession) -> None:
    def info(flags: int, cp: int = 1252, locale: int = 0x409) -> int:
        return int(HP.get_template_info(M.NspiGetTemplateInfo(H0, flags, 0, None, cp, locale),
                                        session, gc).status)

    ok = HP.get_template_info(M.NspiGetTemplateInfo(H0, 1, 0, None, 1252, 0x409), session, gc)
    # MS-OXNSPI 3.1.4.1.18: TI_TEMPLATE -> PR_EMS_TEMPLATE_BLOB row (MS-OXOABKT 2.2.2 header)
    assert ok.status == S.Success and ok.row is not None and ok.row[0][0] == P.PR_TEMPLATE_DATA
    # MS-OXOABKT 4.2: Outlook's own call sends dwFlags 0x61; bits other than TI_TEMPLATE,
    # TI_SCRIPT and TI_EMT are ignored (MS-OXNSPI 3.1.4.1.18)
    assert info(0x61) == S.Success
    # gromox nsp_interface_get_templateinfo: (flags & (TI_TEMPLATE|TI_SCRIPT)) != TI_TEMPLATE
    # -> ecNotSupported (MAPI_E_NO_SUPPORT 0x80040102), checked before anything else
    assert info(0xFFFFFFFF, cp=4242, locale=0x1234) == 0x80040102  # impacket's default flags
    assert info(0x4) == info(0x5) == info(0x0) == S.NotSupported
    # ... then the code page (MAPI_E_UNKNOWN_CPID), before the locale
    assert info(1, cp=4242, locale=0x1234) == S.InvalidCodepage
    # ... then the locale (MAPI_E_UNKNOWN_LCID)
    assert info(1, locale=0x1234) == S.InvalidLocale


def test_mod_link_att(gc: StaticGc, session: NspiSession) -> None:
    d = gc.directory
    group, bob = d.find_alias("engineering"), d.find_alias("bob")
    assert group is not None and bob is not None
    entry = permanent_entry_id(0, bob.dn)
    add = HP.mod_link_att(M.NspiModLinkAtt(H0, 0, P.PR_EMS_AB_MEMBER, group.mid, [entry]),
                          session, gc)
    # MS-OXNSPI 3.1.4.1.15: the entry IDs become members of the DL
    assert add.status == S.Success and bob.mid in d.get(group.mid).members  # re-read (copy-on-write)
    HP.mod_link_att(M.NspiModLinkAtt(H0, 1, P.PR_EMS_AB_MEMBER, group.mid, [entry]), session, gc)
    assert bob.mid not in d.get(group.mid).members  # MS-OXNSPI 3.1.4.1.15: fDelete removes
    # MS-OXNSPI 3.1.4.1.15: a MId that names no object -> NotFound
    assert HP.mod_link_att(M.NspiModLinkAtt(H0, 0, P.PR_EMS_AB_MEMBER, 0x7FFFFF, [entry]),
                           session, gc).status == S.NotFound


# -- 16 / 17 / 18 -----------------------------------------------------------------------
def test_query_columns(gc: StaticGc, session: NspiSession) -> None:
    res = HP.query_columns(M.NspiQueryColumns(H0, 0x80000000), session, gc)
    # MS-OXNSPI 3.1.4.1.5: NspiUnicodeProptypes -> string columns as PT_UNICODE
    assert res.status == S.Success and res.tags is not None and P.PR_DISPLAY_NAME in res.tags
    narrow = HP.query_columns(M.NspiQueryColumns(H0, 0), session, gc)
    assert narrow.tags is not None and P.PR_DISPLAY_NAME not in narrow.tags


def test_named_properties_round_trip(gc: StaticGc, session: NspiSession) -> None:
    guid = uuid.uuid4().bytes_le
    ids = HP.get_ids_from_names(M.NspiGetIDsFromNames(H0, 0, [(guid, 0x8001)]), session, gc)
    # MS-OXNSPI 3.1.4.1.17: a PT_UNSPECIFIED tag per name, IDs from 0x8000 up
    assert ids.status == S.Success and ids.tags is not None and ids.tags[0] >> 16 >= 0x8000
    names = HP.get_names_from_ids(M.NspiGetNamesFromIDs(H0, None, ids.tags), session, gc)
    # MS-OXNSPI 3.1.4.1.16: the same (GUID, LID) back
    assert names.status == S.Success and names.names == [(guid, 0x8001)]
    verify = HP.get_ids_from_names(M.NspiGetIDsFromNames(H0, 2, [(guid, 0x9999)]), session, gc)
    # MS-OXNSPI 3.1.4.1.17: NspiVerifyNames and an unknown name -> PT_ERROR, ErrorsReturned
    assert verify.status == S.ErrorsReturned and verify.tags == [P.PT_ERROR]


# -- 19 / 20 ----------------------------------------------------------------------------
def test_resolve_names(gc: StaticGc, session: NspiSession) -> None:
    res = HP.resolve_names_w(M.NspiResolveNamesW(H0, stat(), [P.PR_DISPLAY_NAME],
                                                 ["alice", "zz-nobody", "u0", "bob"]), session, gc)
    # MS-OXNSPI 2.2.9 and 3.1.4.1.20 (gromox nsp_interface_resolve_namesw): ppMIds holds
    # MID_RESOLVED (2), MID_UNRESOLVED (0) or MID_AMBIGUOUS (1) per name, not the MIds
    assert res.status == S.Success and res.mids == [2, 0, 1, 2]
    # ppRows holds a row for each resolved name only, in order
    assert [r[P.PR_DISPLAY_NAME] for r in rows(gc, session, res.rows)] == \
        ["Alice Wonder", "Bob Builder"]
    narrow = HP.resolve_names(M.NspiResolveNames(H0, stat(), [P.PR_DISPLAY_NAME], [b"bob"]),
                              session, gc)
    # MS-OXNSPI 3.1.4.1.19: 8-bit names read in the session's code page
    assert narrow.mids == [HP.MID_RESOLVED]
    assert [r[P.PR_DISPLAY_NAME] for r in rows(gc, session, narrow.rows)] == ["Bob Builder"]

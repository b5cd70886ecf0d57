"""NSPI through impacket's own helpers over NTLM-authenticated ncacn_ip_tcp found via the EPM (issue #3)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from impacket.dcerpc.v5 import epm, nspi, transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException

from fakegc.client import nspi_wire
from fakegc.client.nspi_wire import stat_values
from fakegc.client.transport import anr_restriction, get_matches
from fakegc.codes import NspiStatus
from fakegc.directory import loader
from fakegc.directory import props as P
from fakegc.journal import Journal
from fakegc.nspi import NSPI, StaticGc
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.auth.simple import SimpleCredentials
from fakegc.rpc.epm import EPM, EndpointMap
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.server import RpcServer


@pytest.fixture(scope="module")
def gc(bg_loop):
    directory = loader.load_default()
    host = StaticGc(directory)
    creds = SimpleCredentials(dict(directory.accounts()))
    journal = Journal()
    server = RpcServer("gc01", [NSPI, MGMT], actor=host, journal=journal,
                       providers=[NtlmProvider(creds)])
    mapper = RpcServer("gc01-epm", [EPM, MGMT], journal=journal)
    mapper.endpoint_map = EndpointMap()
    bg_loop.run(server.start())
    bg_loop.run(mapper.start())
    mapper.endpoint_map.register(NSPI, "127.0.0.1", server.port)
    yield host, server, mapper
    bg_loop.run(server.close())
    bg_loop.run(mapper.close())


def connect(gc, user="alice", password="Passw0rd!"):
    _host, _server, mapper = gc
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{mapper.port}]")
    d = t.get_dce_rpc()
    d.connect()
    binding = epm.hept_map("127.0.0.1", nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp", dce=d)
    t = transport.DCERPCTransportFactory(binding)
    t.set_credentials(user, password, "CONTOSO")
    dce = t.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    dce.bind(nspi.MSRPC_UUID_NSPI)
    return dce


@pytest.fixture
def session(gc):
    dce = connect(gc)
    resp = nspi.hNspiBind(dce)
    yield gc[0], dce, resp["contextHandle"]
    dce.disconnect()


def ints(array):
    return [v["Data"] if hasattr(v, "fields") else int(v) for v in array]


def test_bind_returns_server_guid_and_unbind(gc):
    host = gc[0]
    dce = connect(gc)
    resp = nspi.hNspiBind(dce)
    assert resp["ErrorCode"] == 0
    assert bytes(resp["pServerGuid"]) == host.server_guid.bytes_le
    assert nspi.hNspiUnbind(dce, resp["contextHandle"])["ErrorCode"] == NspiStatus.UnbindSuccess
    with pytest.raises(DCERPCException, match="context_mismatch"):
        nspi.hNspiGetSpecialTable(dce, resp["contextHandle"])


def test_bind_bad_code_pages(gc):
    dce = connect(gc)
    for cp, want in [(1200, NspiStatus.NotSupported), (4242, NspiStatus.InvalidCodepage)]:
        stat = nspi.STAT()
        stat["CodePage"] = cp
        with pytest.raises(nspi.DCERPCSessionError) as err:
            nspi.hNspiBind(dce, stat)
        assert err.value.error_code == want


def test_special_table_hierarchy(session):
    _host, dce, h = session
    rows = nspi.simplifyPropertyRowSet(nspi.hNspiGetSpecialTable(dce, h)["ppRows"])
    names = [r[P.PR_DISPLAY_NAME] for r in rows]
    assert names[0] == "Global Address List" and "All Users" in names
    gal = rows[0]
    assert gal[P.PR_EMS_AB_CONTAINERID] == 0 and gal[P.PR_CONTAINER_FLAGS] == 0x9
    assert gal[P.PR_DEPTH] == 0 and gal[P.PR_EMS_AB_IS_MASTER] == 1
    assert str(gal[P.PR_ENTRYID]) == "/"
    templates = nspi.hNspiGetSpecialTable(dce, h, dwFlags=0x2)
    assert templates["ppRows"]["cRows"] == 0


def test_update_stat_reports_real_count(session):
    host, dce, h = session
    stat = nspi.STAT()
    stat["CodePage"] = 1252
    resp = nspi.hNspiUpdateStat(dce, h, stat)
    gal_count = len(host.directory.table(host.directory.gal))
    assert resp["pStat"]["TotalRecs"] == gal_count > 300


def test_page_through_whole_gal(session):
    host, dce, h = session
    d = host.directory
    seen = []
    stat = nspi.STAT()
    stat["CodePage"] = 1252
    stat["ContainerID"] = 0
    while True:
        resp = nspi.hNspiQueryRows(dce, h, pStat=stat, Count=50,
                                   pPropTags=[P.PR_DISPLAY_NAME, P.PR_INSTANCE_KEY])
        rows = nspi.simplifyPropertyRowSet(resp["ppRows"])
        assert len(rows) <= 50
        seen += [r[P.PR_INSTANCE_KEY] for r in rows]
        stat = resp["pStat"]
        if not rows:
            break
    assert seen == d.table(d.gal)
    assert stat["CurrentRec"] == 2  # MID_END_OF_TABLE


def test_query_rows_errors(session):
    _host, dce, h = session
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiQueryRows(dce, h, Count=0, pPropTags=[P.PR_DISPLAY_NAME])
    assert err.value.error_code == NspiStatus.InvalidParameter
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiQueryRows(dce, h, Count=5, pPropTags=[P.PR_DISPLAY_NAME] * 101)
    assert err.value.error_code == NspiStatus.TableTooBig


def test_resolve_names_w(session):
    host, dce, h = session
    alice = host.directory.find_alias("alice")
    resp = nspi.hNspiResolveNamesW(dce, h, pPropTags=[P.PR_DISPLAY_NAME, P.PR_ENTRYID],
                                   paStr=["alice", "=SMTP:bob@contoso.test", "zz-nobody", "u0"])
    # MS-OXNSPI 2.2.9 / 3.1.4.1.20, gromox nsp_interface_resolve_namesw: MID_RESOLVED (2),
    # MID_UNRESOLVED (0), MID_AMBIGUOUS (1) -- never the object's MId
    assert ints(resp["ppMIds"]["aulPropTag"]) == [2, 2, 0, 1]
    rows = nspi.simplifyPropertyRowSet(resp["ppRows"])
    assert [r[P.PR_DISPLAY_NAME] for r in rows] == ["Alice Wonder", "Bob Builder"]
    assert str(rows[0][P.PR_ENTRYID]) == alice.dn  # permanent entry ID
    miss = nspi.hNspiResolveNamesW(dce, h, pPropTags=[P.PR_DISPLAY_NAME], paStr=["nobody-at-all"])
    assert ints(miss["ppMIds"]["aulPropTag"]) == [0] and miss["ppRows"]["cRows"] == 0  # 3.1.4.1.20


def test_resolve_names_8bit(session):
    _host, dce, h = session
    resp = nspi.hNspiResolveNames(dce, h, pPropTags=[P.PR_DISPLAY_NAME], paStr=["bob"])
    assert ints(resp["ppMIds"]["aulPropTag"]) == [2]  # MS-OXNSPI 2.2.9: MID_RESOLVED
    rows = nspi.simplifyPropertyRowSet(resp["ppRows"])
    assert [r[P.PR_DISPLAY_NAME] for r in rows] == ["Bob Builder"]  # MS-OXNSPI 3.1.4.1.19


def test_dn_to_mid_get_props_and_prop_list(session):
    host, dce, h = session
    bob = host.directory.find_alias("bob")
    resp = nspi.hNspiDNToMId(dce, h, pNames=[bob.dn, "/o=Nowhere/cn=nobody"])
    assert ints(resp["ppOutMIds"]["aulPropTag"]) == [bob.mid, 0]
    # NspiGetProps in the IDL's form: [in] STAT* pStat is a reference pointer, inline
    # (MS-OXNSPI 3.1.4.1.7; gromox nsp_ndr_pull_nspigetprops reads no referent ID)
    props = nspi_wire.get_props(dce, h, stat_values(current_rec=bob.mid),
                                tags=[P.PR_DISPLAY_NAME, P.PR_SMTP_ADDRESS, P.PR_TITLE,
                                      P.PR_ADDRTYPE, P.PR_OBJECT_TYPE])
    row = nspi.simplifyPropertyRow(props["ppRows"])
    assert row[P.PR_DISPLAY_NAME] == "Bob Builder" and row[P.PR_SMTP_ADDRESS] == "bob@contoso.test"
    assert row[P.PR_ADDRTYPE] == "EX" and row[P.PR_OBJECT_TYPE] == 6  # MS-OXOABK 2.2.3.13, 2.2.3.10
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi_wire.get_props(dce, h, stat_values(current_rec=bob.mid),
                            tags=[P.PR_DISPLAY_NAME, 0x12340003])
    assert err.value.error_code == NspiStatus.ErrorsReturned  # MS-OXNSPI 3.1.4.1.7
    plist = nspi.hNspiGetPropList(dce, h, dwMId=bob.mid, CodePage=1200)
    assert P.PR_DISPLAY_NAME in ints(plist["ppOutMIds"]["aulPropTag"])  # MS-OXNSPI 3.1.4.1.6
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiGetPropList(dce, h, dwMId=0x7FFFFFF)
    assert err.value.error_code == NspiStatus.NotFound  # MS-OXNSPI 3.1.4.1.6


def test_impacket_get_props_is_read_as_the_idl_says(gc, session):
    """impacket's NspiGetProps sends a referent ID before the STAT (its PSTAT is unique).

    A MIDL server reads the IDL's layout (MS-OXNSPI 3.1.4.1.7, gromox
    nsp_ndr_pull_nspigetprops): the STAT's fields shift by one, so CurrentRec reads
    impacket's ContainerID (0), pPropTags reads its SortLocale (0, NULL), and the
    bytes after are ignored; such a request names no object.
    """
    host, dce, h = session
    journal = gc[1].journal
    before = journal.count("nonconformant_request")
    bob = host.directory.find_alias("bob")
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiGetProps(dce, h, CurrentRec=bob.mid, pPropTags=[P.PR_DISPLAY_NAME])
    assert err.value.error_code == NspiStatus.ErrorsReturned  # MS-OXNSPI 3.1.4.1.7 (no object)
    assert journal.count("nonconformant_request") == before + 1


def test_seek_compare_columns_template(session):
    host, dce, h = session
    d = host.directory
    # [in, unique] lpETable and pPropTags (MS-OXNSPI 3.1.4.1.9; gromox
    # nsp_ndr_pull_nspiseekentries reads a pointer for each)
    resp = nspi_wire.seek_entries(dce, h, (P.PR_DISPLAY_NAME, "Bob Builder"),
                                  tags=[P.PR_DISPLAY_NAME])
    first = nspi.simplifyPropertyRowSet(resp["ppRows"])[0][P.PR_DISPLAY_NAME]
    assert first == "Bob Builder" and resp["pStat"]["CurrentRec"] == d.find_alias("bob").mid
    # impacket sends both arrays inline; read as the IDL says, its pPropTags is NULL and
    # the rest trailing bytes: positioned, no rows (MS-OXNSPI 3.1.4.1.9)
    resp = nspi.hNspiSeekEntries(dce, h, "Bob Builder", pPropTags=[P.PR_DISPLAY_NAME])
    assert resp["pStat"]["CurrentRec"] == d.find_alias("bob").mid and resp["ppRows"] == b""
    a, b = d.find_alias("alice").mid, d.find_alias("bob").mid
    req = nspi.NspiCompareMIds()
    req["hRpc"] = h
    req["pStat"]["CodePage"] = 1252
    req["MId1"], req["MId2"] = a, b
    assert dce.request(req)["plResult"] == -1  # impacket has no hNspiCompareMIds helper
    cols = ints(nspi.hNspiQueryColumns(dce, h)["ppColumns"]["aulPropTag"])
    assert P.PR_DISPLAY_NAME in cols and P.PR_SMTP_ADDRESS in cols
    tmpl = nspi.hNspiGetTemplateInfo(dce, h, ulType=0, dwLocaleID=0x409, dwCodePage=1252, dwFlags=1)
    blob = nspi.simplifyPropertyRow(tmpl["ppData"])[P.PR_TEMPLATE_DATA]
    assert bytes(blob)[:4] == b"\x01\x00\x00\x00"
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiGetTemplateInfo(dce, h, ulType=0, dwLocaleID=0x1234, dwCodePage=1252, dwFlags=1)
    assert err.value.error_code == NspiStatus.InvalidLocale  # MS-OXNSPI 3.1.4.1.18
    # impacket's helper sends dwFlags 0xFFFFFFFF by default: TI_SCRIPT is set, so
    # NotSupported before the locale is looked at (gromox nsp_interface_get_templateinfo)
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiGetTemplateInfo(dce, h, ulType=0, dwLocaleID=0x409, dwCodePage=1252)
    assert err.value.error_code == 0x80040102


def test_names_and_ids_round_trip(session):
    _host, dce, h = session
    # [in, size_is(cPropNames)] PropertyName_r** pNames: an array of unique pointers
    # (MS-OXNSPI 3.1.4.1.17)
    resp = nspi_wire.get_ids_from_names(dce, h, [(b"\x11" * 16, 0x8001)])
    tags = ints(resp["ppPropTags"]["aulPropTag"])
    assert len(tags) == 1 and tags[0] >> 16 >= 0x8000  # MS-OXNSPI 3.1.4.1.17: named IDs >= 0x8000
    names = nspi.hNspiGetNamesFromIDs(dce, h, pPropTags=tags)
    assert names["ppNames"]["aulPropTag"][0]["lID"] == 0x8001  # MS-OXNSPI 3.1.4.1.16
    # impacket sends the PropertyName_r structures inline; read as the IDL says, its
    # first element pointer is the array's offset (0): a NULL name, which maps to PT_ERROR
    name = nspi.PropertyName_r()
    name["lpguid"] = b"\x11" * 16
    name["ulReserved"] = 0
    name["lID"] = 0x8001
    req = nspi.NspiGetIDsFromNames()
    req["hRpc"] = h
    req["dwFlags"] = 0
    req["cPropNames"] = 1
    req["pNames"].append(name)
    with pytest.raises(nspi.DCERPCSessionError) as err:
        dce.request(req)
    assert err.value.error_code == NspiStatus.ErrorsReturned  # MS-OXNSPI 3.1.4.1.17


def test_mod_link_att_adds_member(session):
    host, dce, h = session
    d = host.directory
    group, carol = d.find_alias("engineering"), d.find_alias("bob")
    from fakegc.nspi.rows import permanent_entry_id

    class Entry:  # impacket's helper calls .getData() on each entry ID
        def getData(self):
            return permanent_entry_id(0, carol.dn)

    entry = Entry()
    nspi.hNspiModLinkAtt(dce, h, 0, P.PR_EMS_AB_MEMBER, group.mid, [entry])
    assert carol.mid in d.get(group.mid).members  # re-read: the directory is copy-on-write
    nspi.hNspiModLinkAtt(dce, h, 1, P.PR_EMS_AB_MEMBER, group.mid, [entry])
    assert carol.mid not in d.get(group.mid).members


def _get_matches(dce, h, stat, restriction=None, tags=(P.PR_DISPLAY_NAME,), requested=500):
    return get_matches(dce, h, stat, restriction, tags, requested)


def anr(text):
    return anr_restriction(text)


def test_get_matches_anr_and_dl_members(session):
    host, dce, h = session
    d = host.directory
    stat = nspi.STAT()
    stat["CodePage"] = 1252
    resp = _get_matches(dce, h, stat, anr("wonder"))
    assert ints(resp["ppOutMIds"]["aulPropTag"]) == [d.find_alias("alice").mid]
    sales = d.find_alias("sales")
    stat = nspi.STAT()
    stat["CodePage"] = 1252
    stat["ContainerID"] = P.PR_EMS_AB_MEMBER
    stat["CurrentRec"] = sales.mid
    resp = _get_matches(dce, h, stat)
    names = [r[P.PR_DISPLAY_NAME] for r in nspi.simplifyPropertyRowSet(resp["ppRows"])]
    assert names == ["Alice Wonder", "Bob Builder"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pages=st.lists(st.integers(1, 80), min_size=1, max_size=40))
def test_paging_property_visits_each_row_once_in_order(session, pages):
    host, dce, h = session
    d = host.directory
    stat = nspi.STAT()
    stat["CodePage"] = 1252
    seen = []
    for count in pages * 20:
        resp = nspi.hNspiQueryRows(dce, h, pStat=stat, Count=count, pPropTags=[P.PR_INSTANCE_KEY])
        rows = nspi.simplifyPropertyRowSet(resp["ppRows"])
        assert len(rows) <= count
        seen += [r[P.PR_INSTANCE_KEY] for r in rows]
        stat = resp["pStat"]
        if not rows:
            break
    assert seen == d.table(d.gal)[: len(seen)]
    assert len(seen) == len(set(seen))


def python_anr(d, text):
    """A straightforward filter: some word of a name field starts with the text."""
    import unicodedata

    def fold(s):
        s = unicodedata.normalize("NFKD", s.casefold())
        return "".join(c for c in s if not unicodedata.combining(c))

    want = fold(text)
    out = []
    for mid in d.table(d.gal):
        o = d.objects[mid]
        fields = [o.display_name, o.alias, o.smtp or "", o.props.get(P.PR_GIVEN_NAME, ""),
                  o.props.get(P.PR_SURNAME, "")]
        words = fields + [w for f in fields for w in str(f).split()]
        if any(fold(str(w)).startswith(want) for w in words):
            out.append(mid)
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(["al", "bob", "zo", "jür", "Øv", "smith", "u0001", "conf", "田", "x"]))
def test_anr_restriction_agrees_with_python_filter(session, text):
    host, dce, h = session
    stat = nspi.STAT()
    stat["CodePage"] = 1252
    resp = _get_matches(dce, h, stat, anr(text), requested=0)
    assert ints(resp["ppOutMIds"]["aulPropTag"]) == python_anr(host.directory, text)

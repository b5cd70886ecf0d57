"""DCE/RPC conformance of the endpoint mapper and the management interface.

Modelled on what impacket's remote suites exercise against a Windows host
(tests/dcerpc/test_epm.py, tests/dcerpc/test_mgmt.py, tests/SMB_RPC/test_rpcrt.py):
lookup, map, hept_map, inq_if_ids, inq_stats, inq_princ_name, is/stop listening,
and fragmented requests and responses, here at every authentication level with
NTLM and Kerberos, in NDR and NDR64, with the domain spelled CONTOSO.TEST and
CONTOSO.  impacket's client is the decoder of every answer; each assertion names
the rule it checks.
"""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5 import epm, mgmt, nspi, oxabref, transport
from impacket.dcerpc.v5.rpcrt import (
    RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_LEVEL_CONNECT,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
    RPC_C_AUTHN_WINNT,
    DCERPCException,
)
from impacket.uuid import bin_to_uuidtup

from fakegc.client.kerberos import kdc_port
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.registry import NDR20 as RAW_NDR
from fakegc.rpc.registry import NDR64 as RAW_NDR64
from fakegc.rpc.server import RpcLimits
from fakegc.testing.rawrpc import RawRpc
from fakegc.wire import pdu as P

NDR = ("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0")
NDR64 = ("71710533-BEBA-4937-8319-B5DBEF9CCC36", "1.0")
LEVELS = {"connect": RPC_C_AUTHN_LEVEL_CONNECT, "integrity": RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
          "privacy": RPC_C_AUTHN_LEVEL_PKT_PRIVACY}
EPM_UUID = "e1af8308-5d1f-11c9-91a4-08002b14a0fa"
MGMT_UUID = "afa8bd80-7d8a-11c9-bef4-08002b102989"
RPC_S_UNKNOWN_AUTHN_SERVICE = 0x6D3  # MS-ERREF 2.2
MGMT_SYNTAX = MGMT.syntax


def dce_for(ep, port, iface, *, mech, level, syntax, domain="CONTOSO.TEST", frag=0):
    """An impacket DCERPC_v5 bound to ``iface`` on gc01's ``port``."""
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:gc01.contoso.test[{port}]")
    t.setRemoteHost("127.0.0.1")
    t.set_credentials("alice", "Passw0rd!", domain)
    if mech == "kerberos":
        t.set_kerberos(True, kdcHost="127.0.0.1")
    d = t.get_dce_rpc()
    d.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE if mech == "kerberos" else RPC_C_AUTHN_WINNT)
    d.set_auth_level(LEVELS[level])
    if frag:
        d.set_max_fragment_size(frag)
    with kdc_port(ep["kdc"]["tcp"]):
        d.connect()
        if iface is not None:
            d.bind(iface, transfer_syntax=syntax)
    return d


def hept_map_nspi(ep, port, **kw):
    """impacket's hept_map on a connected, not yet bound, connection (it binds itself)."""
    d = dce_for(ep, port, None, **kw)
    with kdc_port(ep["kdc"]["tcp"]):
        binding = epm.hept_map("127.0.0.1", nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp", dce=d)
    d.disconnect()
    return binding


def map_tower(iface: bytes) -> bytes:
    """The 5-floor ncacn_ip_tcp query tower impacket's test_epm.test_map builds."""
    tower = epm.EPMTower()
    interface = epm.EPMRPCInterface()
    interface["InterfaceUUID"] = iface[:16]
    interface["MajorVersion"] = int.from_bytes(iface[16:18], "little")
    interface["MinorVersion"] = int.from_bytes(iface[18:20], "little")
    rep = epm.EPMRPCDataRepresentation()
    rep["DataRepUuid"] = epm.uuidtup_to_bin(NDR)[:16]
    rep["MajorVersion"] = 2
    rep["MinorVersion"] = 0
    prot = epm.EPMProtocolIdentifier()
    prot["ProtIdentifier"] = 0x0B
    port = epm.EPMPortAddr()
    port["IpPort"] = 0
    host = epm.EPMHostAddr()
    host["Ip4addr"] = b"\x00\x00\x00\x00"
    tower["NumberOfFloors"] = 5
    tower["Floors"] = (interface.getData() + rep.getData() + prot.getData() + port.getData()
                       + host.getData())
    return tower.getData()


CASES = [pytest.param(mech, level, syntax, domain, id=f"{mech}-{level}-{sname}-{domain}")
         for mech in ("ntlm", "kerberos") for level in LEVELS
         for sname, syntax in (("ndr", NDR), ("ndr64", NDR64))
         for domain in ("CONTOSO.TEST", "CONTOSO")]


@pytest.mark.parametrize("mech,level,syntax,domain", CASES)
def test_epm_and_mgmt(ct, mech, level, syntax, domain):
    ep = ct.endpoints()
    gc = ep["actors"]["gc01"]
    d = dce_for(ep, gc["epm"], epm.MSRPC_UUID_PORTMAP, mech=mech, level=level, syntax=syntax,
                domain=domain)

    # impacket test_epm.test_lookup: every entry carries a parsable tower (C706 O.2.5).
    req = epm.ept_lookup()
    req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
    req["object"] = epm.NULL
    req["Ifid"] = epm.NULL
    req["vers_option"] = epm.RPC_C_VERS_ALL
    req["max_ents"] = 499
    resp = d.request(req)
    towers = [epm.EPMTower(b"".join(e["tower"]["tower_octet_string"])) for e in resp["entries"]]
    assert len(towers) == resp["num_ents"] >= 3  # C706 O.2.5: num_ents entries

    # impacket test_epm.test_map: ept_map answers the NSPI tower with gc01's port (C706 O.2.7).
    req = epm.ept_map()
    req["max_towers"] = 4
    tower = map_tower(nspi.MSRPC_UUID_NSPI)
    req["map_tower"]["tower_length"] = len(tower)
    req["map_tower"]["tower_octet_string"] = tower
    resp = d.request(req)
    mapped = epm.EPMTower(b"".join(resp["ITowers"][0]["Data"]["tower_octet_string"]))
    assert resp["num_towers"] == 1
    assert epm.PrintStringBinding(mapped["Floors"]).endswith(f"[{gc['nspi']}]")

    # impacket test_epm.test_hept_map: the same through the helper (its own NDR bind).
    binding = hept_map_nspi(ep, gc["epm"], mech=mech, level=level, syntax=NDR, domain=domain)
    assert binding.endswith(f"[{gc['nspi']}]")

    # ept_insert from a remote caller is refused (access denied). Oracle gap: no Windows
    # capture; Samba's srv_epmapper.c _epm_Insert faults op_rng_error (see fakegc.rpc.epm).
    d.call(0, b"\x00" * 8)
    assert d.recv()[-4:] == (5).to_bytes(4, "little")
    d.disconnect()

    m = dce_for(ep, gc["epm"], mgmt.MSRPC_UUID_MGMT, mech=mech, level=level, syntax=syntax,
                domain=domain)
    # impacket test_mgmt.test_inq_if_ids: the port's interfaces (C706 Q.2.2).
    ids = mgmt.hinq_if_ids(m)["if_id_vector"]
    uuids = {bin_to_uuidtup(i["Data"].getData())[0].lower() for i in ids["if_id"]}
    assert uuids == {EPM_UUID, MGMT_UUID}
    # impacket test_mgmt.test_inq_stats: four counters (C706 Q.2.3; RPC_STATS_VECTOR: calls
    # received, calls initiated by the server, packets received, packets sent).
    before = list(mgmt.hinq_stats(m)["statistics"])
    after = list(mgmt.hinq_stats(m)["statistics"])
    assert len(after) == 4 and after[1] == 0  # this server initiates no calls
    assert after[0] - before[0] == 1  # exactly the second inq_stats arrived in between
    assert after[2] - before[2] >= 1 and after[3] - before[3] >= 1
    # impacket test_mgmt.test_is_server_listening (C706 Q.2.4).
    assert mgmt.his_server_listening(m)["status"] == 0
    # impacket test_mgmt.test_stop_server_listening expects rpc_s_access_denied.
    with pytest.raises(DCERPCException, match="rpc_s_access_denied"):
        mgmt.hstop_server_listening(m)
    # inq_princ_name per authentication service (C706 Q.2.6): our service names; NTLM in
    # DOMAIN\NAME$ form; a service not offered → rpc_s_unknown_authn_service.
    for proto, expect in ((16, "exchangeAB/gc01.contoso.test"), (9, "exchangeAB/gc01.contoso.test"),
                          (10, "CONTOSO\\GC01$")):
        name = mgmt.hinq_princ_name(m, authn_proto=proto, princ_name_size=256)["princ_name"]
        assert b"".join(name).rstrip(b"\x00").decode().lower() == expect.lower()
    req = mgmt.inq_princ_name()
    req["authn_proto"] = 0
    req["princ_name_size"] = 32
    assert m.request(req, checkError=False)["status"] == RPC_S_UNKNOWN_AUTHN_SERVICE
    m.disconnect()
    ct.journal.expect("auth", actor="gc01-epm", mech=mech, level=LEVELS[level])


@pytest.mark.parametrize("mech", ["ntlm", "kerberos"])
@pytest.mark.parametrize("level", list(LEVELS))
def test_one_byte_request_fragments(ct, mech, level):
    """impacket test_rpcrt fragmentation: requests cut to 1-byte stub fragments (8 when
    signed: impacket's floor) are reassembled (C706 §12.6.4.9)."""
    ep = ct.endpoints()
    gc = ep["actors"]["gc01"]
    binding = hept_map_nspi(ep, gc["epm"], mech=mech, level=level, syntax=NDR, frag=1)
    assert binding.endswith(f"[{gc['nspi']}]")
    req = ct.journal.expect("request", actor="gc01-epm", op="ept_map")[-1]
    assert req.fields["size"] > 50  # reassembled from that many fragments


@pytest.mark.parametrize("syntax", [RAW_NDR, RAW_NDR64], ids=["ndr", "ndr64"])
def test_eight_byte_response_fragments(make_server, syntax):
    """A response cut at a negotiated 32-byte fragment size (8-byte stub pieces, the least
    the 8-byte rounding of MS-RPCE 3.3.1.5.3 allows) reassembles into what impacket's
    inq_if_idsResponse decodes (C706 §12.6.4.10: alloc_hint, FIRST/LAST flags)."""
    server = make_server(anonymous=True, limits=RpcLimits(min_frag=32, max_frag=32))
    with RawRpc("127.0.0.1", server.port) as c:
        c.send(c.bind_pdu([(0, MGMT_SYNTAX, [syntax])], max_xmit=32, max_recv=32))
        ack = c.recv().bind_ack()
        assert ack.max_xmit == 32 and ack.results[0][:2] == (0, 0)
        c.send(c.request_pdu(2, 0, 0, b""))
        frags = []
        while True:
            reply = c.recv()
            frags.append(reply)
            if reply.header.flags & P.PFC.LAST_FRAG:
                break
    assert len(frags) > 5 and all(len(f.raw) <= 32 for f in frags)
    assert frags[0].header.flags & P.PFC.FIRST_FRAG
    stub = b"".join(f.stub for f in frags)
    decoded = mgmt.inq_if_idsResponse(isNDR64=syntax == RAW_NDR64)
    decoded.fromString(stub)
    uuids = {bin_to_uuidtup(i["Data"].getData())[0].lower()
             for i in decoded["if_id_vector"]["if_id"]}
    assert MGMT_UUID in uuids and EPM_UUID in uuids and decoded["status"] == 0


@pytest.mark.parametrize("syntax", [NDR, NDR64], ids=["ndr", "ndr64"])
@pytest.mark.parametrize("level", ["connect", "privacy"])
def test_rfr_in_both_syntaxes(ct, syntax, level):
    """MS-OXABREF over NDR and NDR64: impacket's oxabref helpers decode both answers
    (MS-RPCE 2.2.5: 8-byte referents and string counts in NDR64)."""
    ep = ct.endpoints()
    ex = ep["actors"]["ex01"]
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{ex['rfr']}]")
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    d = t.get_dce_rpc()
    d.set_auth_level(LEVELS[level])
    d.connect()
    d.bind(oxabref.MSRPC_UUID_OXABREF, transfer_syntax=syntax)
    # MS-OXABREF 3.1.4.1: the FQDN of an NSPI server.
    assert oxabref.hRfrGetNewDSA(d, "/o=Contoso/cn=alice")["ppszServer"] in {
        "gc01.contoso.test", "gc02.contoso.test"}
    server_dn = ct.cluster.directory.server_dn("ex01")
    # MS-OXABREF 3.1.4.2: the FQDN of the server named by its DN.
    assert oxabref.hRfrGetFQDNFromServerDN(d, server_dn)["ppszServerFQDN"] == "ex01.contoso.test"
    with pytest.raises(oxabref.DCERPCSessionError):
        oxabref.hRfrGetFQDNFromServerDN(d, "/o=x")  # MS-OXABREF 3.1.4.2: cb < 10 → error
    d.disconnect()

"""The lab network from inside its namespace: names, per-host endpoint mappers, gc_down.

Runs under ``fakegc lab --no-cluster -- pytest --fakegc-lab`` (tests/lab/test_in_namespace.py):
resolv.conf names the lab DNS, the plugin's cluster serves in lab mode, clients dial names.
"""

from __future__ import annotations

import socket

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest
from impacket.dcerpc.v5 import epm, nspi, oxabref, transport

GC01, GC02, EX01 = "gc01.contoso.test", "gc02.contoso.test", "ex01.contoso.test"


def _epm_interfaces(host: str) -> set[str]:
    """Interface UUIDs an endpoint mapper lists, as impacket's rpcdump.py asks (ept_lookup)."""
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{host}[135]")
    dce = t.get_dce_rpc()
    dce.connect()
    try:
        entries = epm.hept_lookup(None, dce=dce)
    finally:
        dce.disconnect()
    return {str(e["tower"]["Floors"][0]).lower() for e in entries} | {
        epm.PrintStringBinding(e["tower"]["Floors"]).lower() for e in entries}


def _uuids(host: str) -> str:
    return " ".join(sorted(_epm_interfaces(host)))


def test_names_resolve_to_each_actors_own_address(fake_gc_endpoints):
    """getaddrinfo through resolv.conf → the lab DNS (RFC 1035 A records): one address per actor."""
    addrs = {name: socket.gethostbyname(name) for name in (GC01, GC02, EX01)}
    assert len(set(addrs.values())) == 3
    for actor in fake_gc_endpoints["actors"].values():
        assert addrs[actor["fqdn"]] == actor["address"]


def test_each_endpoint_mapper_lists_only_its_host(fake_gc_cluster):
    """MS-RPCE 2.2.1.2 / impacket rpcdump.py: ept_lookup on a host lists what that host
    registered — NSPI on a GC (MS-OXNSPI 1.9 UUID F5CC5A18-…), RFR on the Exchange server
    (MS-OXABREF 1.9 UUID 1544F5E0-…), never the other's."""
    gc01, ex01 = _uuids(GC01), _uuids(EX01)
    nspi_uuid, rfr_uuid = "f5cc5a18-4264-101a-8c59-08002b2f8426", "1544f5e0-613c-11d1-93df-00c04fd7bd09"
    assert nspi_uuid in gc01 and rfr_uuid not in gc01
    assert rfr_uuid in ex01 and nspi_uuid not in ex01
    assert "127.29.39.11" in gc01 and "127.29.39.10" not in gc01  # bindings name the host's own address


def test_nspi_bind_by_name_with_kerberos_through_epm_135(fake_gc_cluster):
    """impacket as a Windows client: ept_map on gc01:135 (MS-RPCE 2.2.1.2.5), then NspiBind
    (MS-OXNSPI 3.1.4.1.1) over SPNEGO/Kerberos; no KDC host given, so impacket dials the realm
    name itself on port 88 (impacket kerberosv5.sendReceive), which the apex A record names."""
    binding = epm.hept_map(GC01, nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp")
    assert binding == f"ncacn_ip_tcp:{GC01}[6004]"  # impacket keeps the name it was given
    t = transport.DCERPCTransportFactory(binding)
    t.setRemoteHost(GC01)  # the SPN comes from the name dialled: host/gc01.contoso.test
    t.set_credentials("alice", "Passw0rd!", "CONTOSO.TEST")
    t.set_kerberos(True)
    dce = t.get_dce_rpc()
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_GSS_NEGOTIATE, RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    dce.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    try:
        dce.bind(nspi.MSRPC_UUID_NSPI)
        handle = nspi.hNspiBind(dce)["contextHandle"]
        assert handle is not None
    finally:
        dce.disconnect()
    fake_gc_cluster.journal.expect("krb_reply", msg="TGS", service="host/gc01.contoso.test")


def test_gc_down_refuses_every_port_at_its_address_while_gc02_serves(fake_gc_cluster):
    """gc_down closes gc01's listeners: TCP connect gets RST → ECONNREFUSED (RFC 9293 §3.10.7.1),
    which Windows RPC reports as 1722; gc02's endpoint mapper still maps NSPI (MS-RPCE 2.2.1.2.5)."""
    fake_gc_cluster.fire("gc_down", gc="gc01")
    for port in (135, 6004):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((GC01, port), timeout=3).close()
    binding = epm.hept_map(GC02, nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp")
    assert binding == f"ncacn_ip_tcp:{GC02}[6004]"
    socket.create_connection((EX01, 135), timeout=3).close()  # other hosts unaffected


def test_referral_by_name(fake_gc_cluster):
    """RfrGetNewDSA (MS-OXABREF 3.1.4.1.1) on ex01 found through its EPM on 135."""
    binding = epm.hept_map(EX01, oxabref.MSRPC_UUID_OXABREF, protocol="ncacn_ip_tcp")
    t = transport.DCERPCTransportFactory(binding)
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    dce = t.get_dce_rpc()
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    try:
        dce.bind(oxabref.MSRPC_UUID_OXABREF)
        server = str(oxabref.hRfrGetNewDSA(dce, "")["ppszServer"]).rstrip("\x00").lower()
    finally:
        dce.disconnect()
    assert server == GC01
    assert socket.gethostbyname(server) == "127.29.39.11"


# -- DNS -------------------------------------------------------------------------------------

def _srv(name: str) -> set[tuple[int, str]]:
    answer = dns.resolver.resolve(name, "SRV")
    return {(r.port, r.target.to_text(omit_final_dot=True)) for r in answer}


def test_srv_records_as_netlogon_registers_them(fake_gc_cluster):
    """MS-ADTS 6.3.2 (DC locator DNS records) and MS-NRPC NL_DNS_NAME_INFO: Kerberos SRVs on 88
    name the DC (RFC 4120 §7.2.3.2 _kerberos._udp/_tcp), LDAP on 389, GC SRVs on 3268 name each
    GC; RFC 2782 record form (priority, weight, port, target)."""
    dc = {(88, "dc01.contoso.test")}
    for name in ("_kerberos._udp", "_kerberos._tcp", "_kerberos-master._udp", "_kerberos-master._tcp",
                 "_kerberos._tcp.dc._msdcs"):
        assert _srv(f"{name}.contoso.test") == dc, name
    assert _srv("_ldap._tcp.dc._msdcs.contoso.test") == {(389, "dc01.contoso.test")}
    gcs = {(3268, GC01), (3268, GC02)}
    assert _srv("_gc._tcp.contoso.test") == gcs
    assert _srv("_ldap._tcp.gc._msdcs.contoso.test") == gcs
    fake_gc_cluster.journal.expect("dns", qname="_gc._tcp.contoso.test", qtype="SRV")


def test_a_ptr_apex_soa_ns(fake_gc_endpoints):
    """MS-ADTS 6.3.2: the domain apex A names the DCs (impacket dials the realm name for its
    KDC); PTR for every host (RFC 1035 §3.5); SOA and NS at the zone apex (RFC 1035 §3.3.13)."""
    kdc = fake_gc_endpoints["kdc"]["address"]
    assert [str(r) for r in dns.resolver.resolve("contoso.test", "A")] == [kdc]
    assert [str(r) for r in dns.resolver.resolve("dc01.contoso.test", "A")] == [kdc]
    ptr = dns.resolver.resolve_address(fake_gc_endpoints["actors"]["gc02"]["address"])
    assert [str(r) for r in ptr] == ["gc02.contoso.test."]
    assert dns.resolver.resolve("contoso.test", "SOA")[0].mname.to_text() == "ns1.contoso.test."
    ns = dns.resolver.resolve("contoso.test", "NS")[0].target.to_text(omit_final_dot=True)
    assert socket.gethostbyname(ns) == fake_gc_endpoints["dns"]["address"]


def _ask(name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    server = dns.resolver.get_default_resolver().nameservers[0]
    q = dns.message.make_query(name, rdtype)
    return (dns.query.tcp if tcp else dns.query.udp)(q, str(server), timeout=3)


def test_nxdomain_inside_refused_outside(fake_gc_cluster):
    """RFC 1035 §4.1.1 / RFC 2308 §2.1: an unknown name in an authoritative zone is NXDOMAIN
    with the SOA in authority; a name outside every zone served is REFUSED."""
    r = _ask("nope.contoso.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert r.authority and r.authority[0].rdtype == 6  # SOA
    nodata = _ask("gc01.contoso.test", "MX")  # known name, other type: NOERROR, no answer
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert _ask("www.example.com", "A").rcode() == dns.rcode.REFUSED
    assert _ask("gc01.contoso.test", "A", tcp=True).answer  # RFC 7766: TCP too
    fake_gc_cluster.journal.expect("dns", qname="www.example.com", rcode="REFUSED")


def test_malformed_and_oversized_queries(fake_gc_cluster):
    """Hostile input: garbage with a header gets FORMERR (RFC 1035 §4.1.1), a TCP length over
    the bound closes the connection; both journaled, the server keeps answering."""
    server = str(dns.resolver.get_default_resolver().nameservers[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(b"\x12\x34\x01\x00" + b"\xff" * 20, (server, 53))
        reply = s.recv(512)
    assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR
    with socket.create_connection((server, 53), timeout=3) as s:
        s.sendall(b"\xff\xff")
        assert s.recv(10) == b""  # closed, not waiting for 64 KiB
    fake_gc_cluster.journal.expect("dns", rcode="FORMERR")
    assert _ask("gc02.contoso.test", "A").answer


def test_gc_down_deregisters_netlogon_records_by_default(fake_gc_cluster):
    """A DC that shuts down cleanly deregisters its netlogon records (MS-ADTS 6.3.2; netlogon's
    DNS deregistration): _gc._tcp no longer names gc01, its host A (the DNS client's) stays;
    gc_restart registers them again."""
    fake_gc_cluster.fire("gc_down", gc="gc01")
    assert _srv("_gc._tcp.contoso.test") == {(3268, GC02)}
    assert socket.gethostbyname(GC01) == "127.29.39.11"
    fake_gc_cluster.fire("gc_restart", gc="gc01")
    assert _srv("_gc._tcp.contoso.test") == {(3268, GC01), (3268, GC02)}


def test_gc_down_can_keep_its_records(fake_gc_cluster):
    """deregister=false plays a GC that crashed: its records linger (TTL 600 s), as after
    a power loss."""
    fake_gc_cluster.fire("gc_down", gc="gc01", deregister=False)
    assert _srv("_gc._tcp.contoso.test") == {(3268, GC01), (3268, GC02)}


def test_kb929439_cell_resolves_gc02_before_rebinding(fake_gc_cluster):
    """The emulated provider resolves every host through the lab DNS: after the referral names
    gc02 (MS-OXABREF RfrGetNewDSA), the journal shows the A lookup of gc02 before NSPI binds
    there (PROTOCOL.md §12: a Windows client resolves the name, then ept_map on 135 of that address,
    MS-RPCE 2.1.1.1)."""
    from fakegc import kbdemo
    from fakegc.scenario.model import load_scenario

    sc = load_scenario("kb929439")
    cell = next(c for c in kbdemo.CELLS if c.reconnect and c.user_auth_credentials)
    result = kbdemo.run_cell(fake_gc_cluster, cell, sc, keep_journal=True)
    assert result.verdict == "PASS", result  # the article states this cell
    journal = result.journal
    lookup = next(i for i, e in enumerate(journal)
                  if e["kind"] == "dns" and e.get("qname") == GC02 and e.get("qtype") == "A")
    bind = next(i for i, e in enumerate(journal) if e["kind"] == "bind" and e["actor"] == "gc02")
    assert lookup < bind


@pytest.mark.fakegc(lab="127.29.40.0/24")
def test_marker_gives_a_lab_cluster_of_its_own(fake_gc_cluster, fake_gc_endpoints):
    """@pytest.mark.fakegc(lab=NET): a second lab cluster on other addresses, same ports."""
    gc01 = fake_gc_endpoints["actors"]["gc01"]
    assert gc01["address"] == "127.29.40.11" and gc01["epm"] == 135
    binding = epm.hept_map(gc01["address"], nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp")
    assert binding == "ncacn_ip_tcp:127.29.40.11[6004]"
    r = dns.query.udp(dns.message.make_query("gc01.contoso.test", "A"),
                      fake_gc_endpoints["dns"]["address"], timeout=3)
    assert r.answer[0][0].address == "127.29.40.11"


def test_unresolvable_gc_is_server_unavailable(fake_gc_cluster, fake_gc_endpoints):
    """A name the DNS does not know (NXDOMAIN, RFC 1035 §4.1.1) is RPC_S_SERVER_UNAVAILABLE
    (1722) to the emulated provider, as the Windows RPC runtime reports an unreachable name."""
    from fakegc.client.transport import AbTransport, Credentials, Endpoints, RpcFailure

    ep = Endpoints.from_cluster(fake_gc_endpoints)
    ep.gc_epm["gc09.contoso.test"] = ("gc09.contoso.test", 135)
    io = AbTransport(ep)
    with pytest.raises(RpcFailure) as err:
        io.bind(Credentials("alice", "Passw0rd!"), "gc09.contoso.test")
    assert err.value.status == 1722
    fake_gc_cluster.journal.expect("dns", qname="gc09.contoso.test", rcode="NXDOMAIN")

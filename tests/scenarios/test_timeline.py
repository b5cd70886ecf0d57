"""The kb929439 timeline walked with impacket's real RFR, NSPI and Kerberos clients (issue #5)."""

from __future__ import annotations

import struct

import pytest
from impacket.dcerpc.v5 import nspi, oxabref, transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException
from impacket.krb5.kerberosv5 import KerberosError

from fakegc.client.kerberos import get_tgs, get_tgt
from fakegc.codes import NspiStatus
from fakegc.scenario.cluster import ClusterState
from fakegc.testing.rawrpc import NDR20, RawRpc


def dce(port, iface, user="alice", password="Passw0rd!"):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    t.set_credentials(user, password, "CONTOSO")
    d = t.get_dce_rpc()
    d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    d.connect()
    d.bind(iface)
    return d


def referral(ep):
    return oxabref.hRfrGetNewDSA(dce(ep["actors"]["ex01"]["rfr"], oxabref.MSRPC_UUID_OXABREF),
                                 "/o=Contoso/cn=alice")["ppszServer"]


def test_kb929439_timeline_from_client_and_journal(ct):
    ep = ct.endpoints()
    kdc = ep["kdc"]["tcp"]
    j = ct.journal
    # HEALTHY: referral gc01, ticket for gc01, bind OK
    assert referral(ep) == "gc01.contoso.test"
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc)
    get_tgs("exchangeAB/gc01.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc, tgt, cipher, key)
    gc01 = dce(ep["actors"]["gc01"]["nspi"], nspi.MSRPC_UUID_NSPI)
    handle = nspi.hNspiBind(gc01)["contextHandle"]
    # SHUTTING_DOWN
    start = j.last("state")
    summary = ct.fire("shutdown_begin", gc="gc01")
    assert summary["connections_cut"] >= 1 and ct.cluster.state is ClusterState.SHUTTING_DOWN
    with pytest.raises(DCERPCException, match="Connection closed"):
        nspi.hNspiGetSpecialTable(gc01, handle)  # in-flight connection cut (1726)
    with pytest.raises(KerberosError) as err:
        get_tgs("exchangeAB/gc01.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc, tgt, cipher, key)
    assert err.value.getErrorCode() == 7
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiBind(dce(ep["actors"]["gc01"]["nspi"], nspi.MSRPC_UUID_NSPI))
    assert err.value.error_code == NspiStatus.LogonFailed
    with pytest.raises(oxabref.DCERPCSessionError):
        referral(ep)
    # DOWN
    ct.fire("gc_down", gc="gc01")
    with pytest.raises(DCERPCException, match="Connection refused"):
        dce(ep["actors"]["gc01"]["nspi"], nspi.MSRPC_UUID_NSPI)
    # NEW_GC
    ct.fire("new_gc_ready", gc="gc02")
    assert referral(ep) == "gc02.contoso.test"
    get_tgs("exchangeAB/gc02.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc, tgt, cipher, key)
    bind = nspi.hNspiBind(dce(ep["actors"]["gc02"]["nspi"], nspi.MSRPC_UUID_NSPI))
    assert bytes(bind["pServerGuid"]) == ct.cluster.gcs["gc02"].server_guid.bytes_le
    # the journal tells the same story
    j.expect("event", event="shutdown_begin", after=start)
    j.expect("krb_error", code=7, service="exchangeAB/gc01.contoso.test")
    j.expect("response", op="NspiBind", status=NspiStatus.LogonFailed)
    j.expect("response", op="RfrGetNewDSA", server="gc02.contoso.test")
    j.expect("krb_reply", msg="TGS", service="exchangeAB/gc02.contoso.test")
    j.expect("response", op="NspiBind", gc="gc02", status=0)
    j.expect("state", state="NEW_GC")


def test_restarted_gc_rejects_stale_handles_and_groups(ct):
    ep = ct.endpoints()
    port = ep["actors"]["gc01"]["nspi"]
    d = dce(port, nspi.MSRPC_UUID_NSPI)
    handle = nspi.hNspiBind(d)["contextHandle"]
    old_guid = ct.cluster.gcs["gc01"].server_guid
    with RawRpc("127.0.0.1", port) as raw:
        group = raw.bind(ct.cluster.gcs["gc01"].nspi.interfaces[0].syntax).bind_ack().assoc_group
    ct.fire("gc_down", gc="gc01")
    summary = ct.fire("gc_restart", gc="gc01")
    assert summary["server_guid"] != str(old_guid)
    d2 = dce(port, nspi.MSRPC_UUID_NSPI)
    with pytest.raises(DCERPCException, match="context_mismatch"):
        nspi.hNspiGetSpecialTable(d2, handle)
    with RawRpc("127.0.0.1", port) as raw:
        raw.send(raw.bind_pdu([(0, ct.cluster.gcs["gc01"].nspi.interfaces[0].syntax, [NDR20])],
                              assoc_group=group))
        assert raw.recv().ptype == 13  # bind_nak: the group died with the restart


def test_fault_rules_and_reset(ct):
    ep = ct.endpoints()
    rule = ct.add_rule(kind="nspi_status", actor="gc01", op="NspiBind", value=NspiStatus.GeneralFailure,
                       times=1)
    d = dce(ep["actors"]["gc01"]["nspi"], nspi.MSRPC_UUID_NSPI)
    with pytest.raises(nspi.DCERPCSessionError) as err:
        nspi.hNspiBind(d)
    assert err.value.error_code == NspiStatus.GeneralFailure
    assert nspi.hNspiBind(d)["ErrorCode"] == 0  # times = 1
    ct.add_rule(kind="rpc_fault", actor="gc01", op="NspiGetSpecialTable", value=0x1C00001A)
    h = nspi.hNspiBind(d)["contextHandle"]
    with pytest.raises(DCERPCException, match="context_mismatch"):
        nspi.hNspiGetSpecialTable(d, h)
    ct.add_rule(kind="reset", actor="gc01", op="NspiQueryRows")
    with pytest.raises(DCERPCException):
        nspi.hNspiQueryRows(d, h)
    ct.add_rule(kind="krb_error", service="exchangeAB/gc02*", value=6)
    kdc = ep["kdc"]["tcp"]
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc)
    with pytest.raises(KerberosError) as err:
        get_tgs("exchangeAB/gc02.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc, tgt, cipher, key)
    assert err.value.getErrorCode() == 6
    ct.add_rule(kind="refuse", actor="gc02")
    with pytest.raises((DCERPCException, OSError, struct.error)):  # impacket reads an empty reply
        dce(ep["actors"]["gc02"]["nspi"], nspi.MSRPC_UUID_NSPI)
    ct.reset()
    assert ct.cluster.rules == [] and ct.cluster.kdc.rules == []
    assert nspi.hNspiBind(dce(ep["actors"]["gc02"]["nspi"], nspi.MSRPC_UUID_NSPI))["ErrorCode"] == 0
    del rule


def test_delay_rule(ct):
    ep = ct.endpoints()
    ct.add_rule(kind="delay", actor="gc01", op="NspiBind", delay=0.3)
    d = dce(ep["actors"]["gc01"]["nspi"], nspi.MSRPC_UUID_NSPI)
    assert nspi.hNspiBind(d)["ErrorCode"] == 0
    ct.journal.expect("rule", action="delay", op="NspiBind")  # its length: a benchmark matter


def test_referral_pinning_and_fqdn(ct):
    ep = ct.endpoints()
    ct.fire("pin_referral", gc="gc02")
    assert referral(ep) == "gc02.contoso.test"
    ct.fire("pin_referral")
    assert referral(ep) == "gc01.contoso.test"
    rfr = dce(ep["actors"]["ex01"]["rfr"], oxabref.MSRPC_UUID_OXABREF)
    server_dn = ct.cluster.directory.server_dn("ex01")
    assert oxabref.hRfrGetFQDNFromServerDN(rfr, server_dn)["ppszServerFQDN"] == "ex01.contoso.test"
    with pytest.raises(oxabref.DCERPCSessionError):
        oxabref.hRfrGetFQDNFromServerDN(rfr, "/o=x")  # shorter than 10 bytes
    with pytest.raises(oxabref.DCERPCSessionError):
        oxabref.hRfrGetFQDNFromServerDN(rfr, "/o=Contoso/cn=Servers/cn=nosuch")


def test_rfr_unauthenticated_is_logon_failed(ct):
    ep = ct.endpoints()
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{ep['actors']['ex01']['rfr']}]")
    d = t.get_dce_rpc()
    d.connect()
    d.bind(oxabref.MSRPC_UUID_OXABREF)
    with pytest.raises(oxabref.DCERPCSessionError) as err:
        oxabref.hRfrGetNewDSA(d, "")
    assert err.value.error_code == NspiStatus.LogonFailed

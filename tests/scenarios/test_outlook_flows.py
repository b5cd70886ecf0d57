"""Outlook's call sequences against every GC, and across a KB 929439 failover (issue #12)."""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5 import nspi

from fakegc.client import nspi_wire
from fakegc.client.nspi_wire import stat_values
from fakegc.client.transport import AbTransport, Credentials, Endpoints, NspiFailure, OutlookFlows
from fakegc.codes import NspiStatus

ALICE = Credentials("alice", "Passw0rd!")


def flows(ct, gc: str) -> tuple[AbTransport, OutlookFlows]:
    io = AbTransport(Endpoints.from_cluster(ct.endpoints()))
    io.bind(ALICE, f"{gc}.contoso.test")
    return io, OutlookFlows(io)


@pytest.mark.parametrize("gc", ["gc01", "gc02"])
def test_connect_profile_name_check_details_and_dl(ct, gc):
    io = AbTransport(Endpoints.from_cluster(ct.endpoints()))
    ct.fire("pin_referral", gc=gc)
    fqdn = io.get_new_dsa(ALICE)  # connect: RfrGetNewDSA → Bind → GetSpecialTable → QueryRows
    assert fqdn == f"{gc}.contoso.test"
    io.bind(ALICE, fqdn)
    assert len(io.browse_gal(10)) == 10
    f = OutlookFlows(io)
    d = ct.cluster.directory
    profile = f.profile_creation("Wonder")
    assert profile["user"][0x3001001F] == "Alice Wonder"
    assert profile["server_dn"] == d.server_dn("ex01")
    assert profile["network_address"][0] == "ncacn_ip_tcp:ex01.contoso.test"
    assert [r[0x3001001F] for r in f.check_name("alice")] == ["Alice Wonder"]
    missed = f.check_name("Wond")  # ResolveNames misses a partial... then ANR finds it
    assert [r[0x3001001F] for r in missed] == ["Alice Wonder"]
    props, blob = f.details(d.find_alias("bob").dn)
    assert props[0x3A17001F] == "Manager" and blob[:4] == b"\x01\x00\x00\x00"
    assert f.expand_dl(d.find_alias("sales").dn) == ["Alice Wonder", "Bob Builder"]
    ct.journal.expect("response", actor=gc, op="NspiGetMatches", status=0)
    ct.journal.expect("response", actor=gc, op="NspiGetTemplateInfo", status=0)
    io.close()


def test_mids_and_ephemeral_ids_go_stale_across_failover_permanent_ids_do_not(ct):
    io, f = flows(ct, "gc01")
    alice = ct.cluster.directory.find_alias("alice")
    mid = f.anr("Wonder", [0x0FF60102])[0][0x0FF60102]
    # NspiGetProps in the IDL's form (MS-OXNSPI 3.1.4.1.7), as Outlook's stubs send it
    eph = io._nspi(nspi_wire.get_props, stat_values(current_rec=mid), flags=0x2, tags=[0x0FFF0102])
    entry = nspi.simplifyPropertyRow(eph["ppRows"])[0x0FFF0102]
    assert isinstance(entry, nspi.EphemeralEntryID)
    assert entry["ProviderUID"] == ct.cluster.gcs["gc01"].server_guid.bytes_le
    ct.fire("shutdown_begin", gc="gc01")
    ct.fire("gc_down", gc="gc01")
    ct.fire("new_gc_ready", gc="gc02")
    io2, _f2 = flows(ct, "gc02")
    # the gc01 MId names nothing on gc02 (MS-OXNSPI: an unknown MId)
    with pytest.raises(NspiFailure) as err:
        io2._nspi(nspi_wire.get_props, stat_values(current_rec=mid), tags=[0x3001001F])
    assert err.value.code == NspiStatus.ErrorsReturned
    # the permanent ID (the DN) still works, and yields gc02's own MId
    new_mid = io2._nspi(nspi.hNspiDNToMId, pNames=[alice.dn])["ppOutMIds"]["aulPropTag"][0]["Data"]
    assert new_mid != mid
    props = io2._nspi(nspi_wire.get_props, stat_values(current_rec=new_mid), tags=[0x3001001F])
    assert nspi.simplifyPropertyRow(props["ppRows"])[0x3001001F] == "Alice Wonder"
    io.close()
    io2.close()

"""Documentation examples (the README's tour), run as tests through the pytest plugin."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from impacket.dcerpc.v5 import epm, nspi, transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException


def test_find_nspi_through_the_gc_endpoint_mapper(fake_gc_endpoints):
    gc01 = fake_gc_endpoints["actors"]["gc01"]
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{gc01['epm']}]")
    dce = t.get_dce_rpc()
    dce.connect()
    binding = epm.hept_map("127.0.0.1", nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp", dce=dce)
    assert binding == f"ncacn_ip_tcp:127.0.0.1[{gc01['nspi']}]"

    t = transport.DCERPCTransportFactory(binding)
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    dce = t.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    dce.bind(nspi.MSRPC_UUID_NSPI)
    assert nspi.hNspiBind(dce)["ErrorCode"] == 0


def test_script_a_gc_shutdown(fake_gc_cluster, fake_gc_endpoints):
    port = fake_gc_endpoints["actors"]["gc01"]["nspi"]
    fake_gc_cluster.fire("shutdown_begin", gc="gc01")
    fake_gc_cluster.fire("gc_down", gc="gc01")
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    with pytest.raises(DCERPCException, match="Connection refused"):
        t.get_dce_rpc().connect()
    # the journal is the test's eyes
    fake_gc_cluster.journal.expect("state", state="DOWN")


def test_reset_between_tests_brings_every_gc_back(fake_gc_cluster):
    assert fake_gc_cluster.cluster.state.value == "HEALTHY"
    assert all(g.state.value == "up" for g in fake_gc_cluster.cluster.gcs.values())


def test_compare_your_client_with_the_reference_provider(fake_gc_cluster, fake_gc_endpoints):
    from fakegc.client import AddressBook, Credentials, Endpoints, Profile
    from fakegc.codes import MapiCode

    ab = AddressBook(Profile(allow_reconnect=True, user_auth_credentials=True),
                     Endpoints.from_cluster(fake_gc_endpoints), fake_gc_cluster.journal)
    assert ab.logon() is MapiCode.SUCCESS
    code, row = ab.resolve_name("alice")
    assert code is MapiCode.SUCCESS and row[0x39FE001F] == "alice@contoso.test"
    fake_gc_cluster.fire("shutdown_begin", gc="gc01")
    assert ab.resolve_name("alice")[0] is MapiCode.NETWORK_ERROR
    fake_gc_cluster.fire("new_gc_ready", gc="gc02")
    assert ab.resolve_name("alice")[0] is MapiCode.END_OF_SESSION
    assert ab.resolve_name("alice")[0] is MapiCode.SUCCESS
    ab.close()
    del Credentials


@pytest.mark.fakegc(gcs=["gc01", "gc02", "gc03"])
def test_a_bigger_cluster_from_a_marker(fake_gc_endpoints):
    assert {"gc01", "gc02", "gc03"} <= set(fake_gc_endpoints["actors"])


@pytest.mark.skipif(shutil.which("kinit") is None and os.environ.get("CI") != "true",
                    reason="MIT krb5-user not installed")
def test_mit_kinit_with_krb5_env(krb5_env, fake_kdc):
    done = subprocess.run(["kinit", "alice@CONTOSO.TEST"], input="Passw0rd!\n", env=krb5_env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    fake_kdc.journal.expect("krb_reply", msg="AS", client="alice")

"""NSPI over Kerberos-authenticated RPC with impacket's client (set_kerberos(True), SPNEGO; issue #4)."""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5 import nspi, transport
from impacket.dcerpc.v5.rpcrt import (
    RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_LEVEL_CONNECT,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
)
from impacket.krb5.kerberosv5 import KerberosError

from fakegc.client.kerberos import kdc_port


def kerberos_dce(ep, gc="gc01", level=RPC_C_AUTHN_LEVEL_PKT_PRIVACY, password="Passw0rd!"):
    with kdc_port(ep["kdc"]["tcp"]):
        t = transport.DCERPCTransportFactory(
            f"ncacn_ip_tcp:{gc}.contoso.test[{ep['actors'][gc]['nspi']}]")
        t.setRemoteHost("127.0.0.1")  # the SPN names the GC; the socket goes to loopback
        t.set_credentials("alice", password, "CONTOSO.TEST")
        t.set_kerberos(True, kdcHost="127.0.0.1")
        d = t.get_dce_rpc()
        d.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
        d.set_auth_level(level)
        d.connect()
        d.bind(nspi.MSRPC_UUID_NSPI)
        return d


@pytest.mark.parametrize("level", [RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
                                   RPC_C_AUTHN_LEVEL_PKT_PRIVACY])
def test_nspi_over_kerberos(ct, level):
    ep = ct.endpoints()
    d = kerberos_dce(ep, level=level)
    resp = nspi.hNspiBind(d)
    assert resp["ErrorCode"] == 0
    rows = nspi.hNspiQueryRows(d, resp["contextHandle"], Count=120, pPropTags=[0x3001001F])
    assert len(nspi.simplifyPropertyRowSet(rows["ppRows"])) == 120  # several fragments
    auth = ct.journal.expect("auth", actor="gc01", mech="kerberos", user="alice", level=level)[0]
    assert auth.fields["auth_type"] == 9
    ct.journal.expect("krb_reply", msg="TGS", service="host/gc01.contoso.test")


def test_scripted_principal_unknown_stops_the_bind(ct):
    ep = ct.endpoints()
    ct.add_rule(kind="krb_error", service="host/gc01.contoso.test", value=7)
    with pytest.raises(KerberosError) as err:
        kerberos_dce(ep)
    assert err.value.getErrorCode() == 7
    ct.journal.expect("krb_error", code=7, service="host/gc01.contoso.test")
    kerberos_dce(ep, gc="gc02")  # the other GC is unaffected


def test_ticket_for_another_gc_is_refused(ct):
    """A ticket for gc02 presented to gc01: KRB_AP_ERR_NOT_US → bind refused, server unharmed."""
    ep = ct.endpoints()
    with kdc_port(ep["kdc"]["tcp"]):
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:gc02.contoso.test[{ep['actors']['gc01']['nspi']}]")
        t.setRemoteHost("127.0.0.1")
        t.set_credentials("alice", "Passw0rd!", "CONTOSO.TEST")
        t.set_kerberos(True, kdcHost="127.0.0.1")
        d = t.get_dce_rpc()
        d.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
        d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
        d.connect()
        with pytest.raises(Exception):  # noqa: B017 - impacket's error type varies by version
            d.bind(nspi.MSRPC_UUID_NSPI)
    ct.journal.expect("auth_failed", actor="gc01", reason=lambda r: "not for this server" in r)
    assert nspi.hNspiBind(kerberos_dce(ep))["ErrorCode"] == 0


@pytest.mark.parametrize("options,mech", [("seal,spnego,ntlm", "ntlm"),
                                          ("seal,spnego,krb5,target_hostname=gc01.contoso.test",
                                           "kerberos")])
def test_samba_spnego_to_a_cluster_gc(ct, tmp_path, options, mech):
    """Samba's client negotiates NTLM or Kerberos inside SPNEGO with gc01 (auth type 9)."""
    from tests.interop.test_kerberos_rpc_samba import samba

    ep = ct.endpoints()
    env = ct.cluster.krb5_env(tmp_path)
    out = samba(ep["actors"]["gc01"]["nspi"], options, env, echo=False)
    assert "error" not in out, out
    assert out["listening"] is True
    auth = ct.journal.expect("auth", actor="gc01", user="alice", auth_type=9, level=6)[0]
    assert auth.fields["mech"] == mech

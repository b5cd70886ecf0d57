"""impacket's Kerberos-in-SPNEGO client (auth type 9) against :class:`SpnegoProvider` (issue #4)."""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5 import mgmt, transport
from impacket.dcerpc.v5.rpcrt import (
    RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_LEVEL_CONNECT,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
)

from fakegc.client.kerberos import kdc_port
from tests.interop.test_kerberos_rpc_samba import world  # noqa: F401  (fixture)


@pytest.mark.parametrize("level", [RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
                                   RPC_C_AUTHN_LEVEL_PKT_PRIVACY])
def test_impacket_kerberos_through_spnego_provider(world, level):  # noqa: F811
    server, _env, journal = world
    with kdc_port(server.kdc.tcp_port):
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:gc01.contoso.test[{server.port}]")
        t.setRemoteHost("127.0.0.1")
        t.set_credentials("alice", "Passw0rd!", "CONTOSO.TEST")
        t.set_kerberos(True, kdcHost="127.0.0.1")
        d = t.get_dce_rpc()
        d.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
        d.set_auth_level(level)
        d.connect()
        d.bind(mgmt.MSRPC_UUID_MGMT)
        ids = mgmt.hinq_if_ids(d)
        assert ids["if_id_vector"]["count"] == 3
        assert mgmt.his_server_listening(d)["status"] == 0
        d.disconnect()
    auth = journal.expect("auth", user="alice", level=level, auth_type=9)[0]
    assert auth.fields["mech"] == "kerberos"
    assert len(journal.entries("response")) == 2


def test_impacket_wrong_password_never_reaches_the_server(world):  # noqa: F811
    from impacket.krb5.kerberosv5 import KerberosError

    server, _env, journal = world
    with kdc_port(server.kdc.tcp_port):
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:gc01.contoso.test[{server.port}]")
        t.setRemoteHost("127.0.0.1")
        t.set_credentials("alice", "wrong", "CONTOSO.TEST")
        t.set_kerberos(True, kdcHost="127.0.0.1")
        d = t.get_dce_rpc()
        d.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
        d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)
        d.connect()
        with pytest.raises(KerberosError) as err:
            d.bind(mgmt.MSRPC_UUID_MGMT)
        d.disconnect()
    assert err.value.getErrorCode() == 24  # KDC_ERR_PREAUTH_FAILED
    journal.expect("krb_error", msg="AS", code=24)
    assert not journal.entries("auth")

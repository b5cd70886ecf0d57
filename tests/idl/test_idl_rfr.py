"""MS-OXABREF's two methods on the wire, judged by the IDL-driven oracle (issue #22).

Requests are encoded from the MS-OXABREF IDL table (tests/idl/nspi_idl.py RFR_METHODS),
sent raw to the cluster's Exchange actor, and the answers must decode with the same
table, nothing left over, to what the scenario says (MS-OXABREF 3.1.4.1, 3.1.4.2).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from impacket.dcerpc.v5 import oxabref, transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY

from tests.idl.ndr import decode_params, encode_params
from tests.idl.nspi_idl import RFR_METHODS


def rfr(ct):
    ep = ct.endpoints()
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{ep['actors']['ex01']['rfr']}]")
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    dce = t.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    dce.bind(oxabref.MSRPC_UUID_OXABREF)
    return dce


def call(dce, opnum: int, params: dict) -> dict:
    dce.call(opnum, encode_params(RFR_METHODS[opnum][1], params))
    values, left = decode_params(RFR_METHODS[opnum][2], dce.recv())
    assert left == 0  # MS-OXABREF section 6: nothing after the long return value
    return values


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(unused=st.booleans(), server=st.booleans())
def test_get_new_dsa_answers_in_idl_form(ct, unused, server):
    dce = rfr(ct)
    try:
        alice = ct.cluster.directory.find_alias("alice")
        out = call(dce, 0, {"ulFlags": 0, "pUserDN": alice.dn.encode(),
                            "ppszUnused": b"" if unused else None,
                            "ppszServer": b"" if server else None})
    finally:
        dce.disconnect()
    # MS-OXABREF 3.1.4.1: success, the FQDN of an NSPI server in ppszServer
    assert out["result"] == 0
    if server:
        assert out["ppszServer"] == ct.cluster.current_gc.encode() + b".contoso.test"
    else:  # [in, out, unique]: a NULL sent comes back NULL (C706 14.3.11.3)
        assert out["ppszServer"] is None
    assert out["ppszUnused"] is None


def test_get_fqdn_from_server_dn_answers_in_idl_form(ct):
    dce = rfr(ct)
    try:
        ex01 = ct.cluster.directory.find_alias("ex01")
        dn = ex01.dn.encode()
        out = call(dce, 1, {"ulFlags": 0, "cbMailboxServerDN": len(dn) + 1,
                            "szMailboxServerDN": dn})
    finally:
        dce.disconnect()
    # MS-OXABREF 3.1.4.2: the server's FQDN in ppszServerFQDN
    assert out["result"] == 0 and out["ppszServerFQDN"] == b"ex01.contoso.test"

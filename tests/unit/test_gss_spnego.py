"""SpnegoProvider (RFC 4178, MS-SPNG) driven by impacket's NTLM initiator code."""

from __future__ import annotations

import pytest
from Cryptodome.Cipher import ARC4
from hypothesis import given, settings
from hypothesis import strategies as st
from impacket import ntlm

from fakegc.rpc.auth.base import LEVEL_INTEGRITY, AuthError
from fakegc.rpc.auth.kerberos import KerberosProvider
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.auth.simple import SimpleCredentials
from fakegc.rpc.auth.spnego import (
    ACCEPT_COMPLETED,
    ACCEPT_INCOMPLETE,
    OID_KRB5,
    OID_MS_KRB5,
    OID_NTLM,
    REQUEST_MIC,
    NegTokenResp,
    SpnegoProvider,
    encode_neg_token_init,
    encode_neg_token_resp,
    parse_neg_token_init,
    parse_neg_token_resp,
)

CREDS = SimpleCredentials({"alice": "Passw0rd!"})
OTHER_OID = bytes.fromhex("2b0601040182370202 1e".replace(" ", ""))  # NEGOEX


def provider(kerberos: bool = False) -> SpnegoProvider:
    krb = KerberosProvider(CREDS, ["host/gc01.contoso.test"]) if kerberos else None
    return SpnegoProvider(NtlmProvider(CREDS), krb)


def test_der_round_trip_keeps_the_signed_mech_list_bytes():
    token = encode_neg_token_init([OID_MS_KRB5, OID_KRB5, OID_NTLM], b"optimistic")
    init = parse_neg_token_init(token)
    assert init.mech_types == [OID_MS_KRB5, OID_KRB5, OID_NTLM]
    assert init.mech_token == b"optimistic"
    assert init.mech_list_der[0] == 0x30 and init.mech_list_der in token
    resp = parse_neg_token_resp(encode_neg_token_resp(NegTokenResp(1, OID_NTLM, b"x" * 300, b"m")))
    assert (resp.state, resp.mech, resp.token, resp.mic) == (1, OID_NTLM, b"x" * 300, b"m")


def ntlm_client_legs(ctx, mech_types, password="Passw0rd!"):
    """Run NEGOTIATE/CHALLENGE/AUTHENTICATE the way Samba does; returns (final resp, keys)."""
    type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
    first = parse_neg_token_resp(ctx.step(encode_neg_token_init(mech_types, type1.getData())).token)
    assert first.state == ACCEPT_INCOMPLETE and first.mech == OID_NTLM
    type3, key = ntlm.getNTLMSSPType3(type1, first.token, "alice", password, "CONTOSO")
    flags = type3["flags"]
    keys = {
        "flags": flags,
        "csign": ntlm.SIGNKEY(flags, key), "cseal": ntlm.SEALKEY(flags, key),
        "ssign": ntlm.SIGNKEY(flags, key, b"Server"), "sseal": ntlm.SEALKEY(flags, key, b"Server"),
    }
    mech_list = parse_neg_token_init(encode_neg_token_init(mech_types)).mech_list_der
    mic = ntlm.SIGN(flags, keys["csign"], mech_list, 0, ARC4.new(keys["cseal"]).encrypt).getData()
    step = ctx.step(encode_neg_token_resp(NegTokenResp(None, None, type3.getData(), mic)))
    assert step.complete
    return parse_neg_token_resp(step.token), keys, mech_list


def test_ntlm_in_spnego_exchanges_mechlistmics_then_restarts_rc4():
    ctx = provider().new_context()
    final, keys, mech_list = ntlm_client_legs(ctx, [OID_NTLM])
    assert final.state == ACCEPT_COMPLETED
    flags = keys["flags"]
    expected = ntlm.SIGN(flags, keys["ssign"], mech_list, 0, ARC4.new(keys["sseal"]).encrypt).getData()
    assert final.mic == expected
    assert ctx.user == "alice" and ctx.mech == "ntlm"
    # first RPC PDU: sequence 1, RC4 handle restarted (MS-SPNG 3.3.5.1)
    header, body, trailer = b"H" * 24, b"stub" * 4, b"T" * 8
    sig = ntlm.SIGN(flags, keys["csign"], header + body + trailer, 1,
                    ARC4.new(keys["cseal"]).encrypt).getData()
    assert ctx.verify(LEVEL_INTEGRITY, header, body, trailer, sig, False) == body


def test_tampered_mechlistmic_is_refused():
    ctx = provider().new_context()
    type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
    first = parse_neg_token_resp(ctx.step(encode_neg_token_init([OID_NTLM], type1.getData())).token)
    type3, _ = ntlm.getNTLMSSPType3(type1, first.token, "alice", "Passw0rd!", "CONTOSO")
    with pytest.raises(AuthError, match="mechListMIC"):
        ctx.step(encode_neg_token_resp(NegTokenResp(None, None, type3.getData(), b"\x01" + b"\x00" * 15)))


def test_wrong_password_inside_spnego():
    ctx = provider().new_context()
    with pytest.raises(AuthError, match="wrong password"):
        ntlm_client_legs(ctx, [OID_NTLM], password="nope")


def test_second_choice_mech_asks_for_a_mic_and_ignores_the_optimistic_token():
    ctx = provider(kerberos=False).new_context()
    resp = parse_neg_token_resp(ctx.step(encode_neg_token_init([OID_MS_KRB5, OID_NTLM], b"ap-req")).token)
    assert resp.state == REQUEST_MIC and resp.mech == OID_NTLM and resp.token is None
    type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
    chal = parse_neg_token_resp(ctx.step(encode_neg_token_resp(NegTokenResp(None, None, type1.getData()))).token)
    assert chal.token[:8] == b"NTLMSSP\x00" and chal.token[8] == 2


def test_kerberos_preferred_when_first():
    ctx = provider(kerberos=True).new_context()
    with pytest.raises(AuthError, match="AP-REQ"):
        ctx.step(encode_neg_token_init([OID_MS_KRB5, OID_NTLM], b"not-der"))
    assert ctx.mech == "kerberos"


def test_no_supported_mechanism():
    with pytest.raises(AuthError) as err:
        provider().new_context().step(encode_neg_token_init([OTHER_OID], b"x"))
    assert err.value.status == 8


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 2))
def test_garbage_only_raises_autherror(data, leg):
    ctx = provider(kerberos=True).new_context()
    if leg:
        ctx.step(encode_neg_token_init([OID_NTLM], ntlm.getNTLMSSPType1("", "").getData()))
    token = data if leg != 2 else encode_neg_token_init([OID_NTLM], data)
    try:
        ctx.step(token)
    except AuthError:
        pass


def test_cluster_factory_names_its_own_host_in_the_ntlm_challenge():
    from fakegc.rpc.auth.kerberos import SpnegoKerberosProvider

    ctx = SpnegoKerberosProvider(CREDS, ["exchangeAB/gc02.contoso.test"]).new_context()
    type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True)
    chal = parse_neg_token_resp(ctx.step(encode_neg_token_init([OID_NTLM], type1.getData())).token).token
    assert "GC02".encode("utf-16le") in chal and "GC01".encode("utf-16le") not in chal

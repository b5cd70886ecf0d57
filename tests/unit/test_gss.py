"""GSS per-message tokens of the Kerberos acceptor against impacket's initiator code (RFC 4121, 4757)."""

from __future__ import annotations

import os

import pytest
from impacket.krb5.crypto import Key
from impacket.krb5.gssapi import GSSAPI_AES256, GSSAPI_RC4

from fakegc.rpc.auth.base import AuthError
from fakegc.rpc.auth.kerberos import KerberosContext, KerberosProvider
from fakegc.rpc.auth.simple import SimpleCredentials


def context(etype: int) -> KerberosContext:
    ctx = KerberosContext(KerberosProvider(SimpleCredentials(), []))
    ctx.key = Key(etype, os.urandom(32 if etype == 18 else 16))
    ctx.complete = True
    return ctx


TRAILER = b"\x09\x06\x00\x00\x7f\x35\x01\x00"


@pytest.mark.parametrize("etype,gss", [(18, GSSAPI_AES256), (23, GSSAPI_RC4)])
def test_unwrap_initiator_tokens_and_wrap_for_the_initiator(etype, gss):
    ctx = context(etype)
    body = bytes(range(48))
    sealed, token = gss().GSS_Wrap(ctx.key, body, 0)
    assert ctx.verify(6, b"", sealed, TRAILER, token, False)[:48] == body
    # our answer opens with impacket's initiator-side unwrap
    out_body, out_token = ctx.protect(6, b"", body, TRAILER, False)
    assert len(out_token) == ctx.signature_size(6) and len(out_body) == len(body)
    plain, _ = gss().GSS_Unwrap(ctx.key, out_body, 0, authData=TRAILER + out_token)
    assert plain[:48] == body


@pytest.mark.parametrize("etype,gss", [(18, GSSAPI_AES256), (23, GSSAPI_RC4)])
def test_tampered_wrap_and_mic_are_refused(etype, gss):
    ctx = context(etype)
    body = b"A" * 32
    sealed, token = gss().GSS_Wrap(ctx.key, body, 0)
    with pytest.raises(AuthError):
        ctx.verify(6, b"", bytes([sealed[0] ^ 1]) + sealed[1:], TRAILER, token, False)
    mic = gss().GSS_GetMIC(ctx.key, body, 1)
    assert ctx.verify(5, b"", body, TRAILER, mic, False) == body
    with pytest.raises(AuthError):
        ctx.verify(5, b"", b"B" + body[1:], TRAILER, mic, False)


def test_ap_req_without_mutual_auth_completes_in_one_leg(kdc):
    """No mutual-required: no AP-REP, the initiator's subkey protects the PDUs (RFC 4120 §3.2.4)."""
    import datetime as dt

    from impacket.krb5 import constants
    from impacket.krb5.asn1 import AP_REQ, TGS_REP, Authenticator, seq_set
    from impacket.krb5.crypto import _enctype_table
    from impacket.krb5.types import KerberosTime, Principal, Ticket
    from pyasn1.codec.der import decoder, encoder
    from pyasn1.type.univ import noValue

    from fakegc.client.kerberos import get_tgs, get_tgt

    spn = "exchangeAB/gc01.contoso.test"
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    tgs, _, _, session = get_tgs(spn, "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)
    ticket = Ticket()
    ticket.from_asn1(decoder.decode(tgs, asn1Spec=TGS_REP())[0]["ticket"])
    subkey = Key(18, os.urandom(32))
    auth = Authenticator()
    auth["authenticator-vno"] = 5
    auth["crealm"] = "CONTOSO.TEST"
    seq_set(auth, "cname", Principal("alice", type=1).components_to_asn1)
    now = dt.datetime.now(dt.UTC)
    auth["cusec"] = now.microsecond
    auth["ctime"] = KerberosTime.to_asn1(now)
    auth["subkey"] = noValue
    auth["subkey"]["keytype"] = 18
    auth["subkey"]["keyvalue"] = subkey.contents
    auth["seq-number"] = 77
    ap = AP_REQ()
    ap["pvno"] = 5
    ap["msg-type"] = 14
    ap["ap-options"] = constants.encodeFlags([])
    seq_set(ap, "ticket", ticket.to_asn1)
    ap["authenticator"] = noValue
    ap["authenticator"]["etype"] = session.enctype
    ap["authenticator"]["cipher"] = _enctype_table[session.enctype].encrypt(
        session, 11, encoder.encode(auth), None)
    ctx = KerberosProvider(kdc.db, [spn]).new_context()
    step = ctx.step(encoder.encode(ap))
    assert step.complete and step.token is None and ctx.user == "alice"
    assert ctx.key.contents == subkey.contents and not ctx.mutual
    body = bytes(range(32))
    sealed, token = GSSAPI_AES256().GSS_Wrap(subkey, body, 77)
    assert ctx.verify(6, b"", sealed, TRAILER, token, False)[:32] == body
    out_body, out_token = ctx.protect(6, b"", body, TRAILER, False)
    assert out_token[2] == 0x03  # SentByAcceptor | Sealed, no AcceptorSubkey flag
    plain, _ = GSSAPI_AES256().GSS_Unwrap(subkey, out_body, 77, authData=TRAILER + out_token)
    assert plain[:32] == body

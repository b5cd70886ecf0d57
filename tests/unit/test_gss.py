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

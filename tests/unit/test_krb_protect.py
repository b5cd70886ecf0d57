"""Kerberos AES answers laid out in place (``KerberosContext.protect_into``, issue #19.6).

``protect_response`` over a Kerberos context writes each RFC 4121 wrap token straight into
the answer buffer (no rotation copies), and each MIC from HMAC states.  impacket's initiator-side ``GSS_Unwrap`` is the
oracle: it unrotates, decrypts and checks the HMAC-SHA1-96 of every fragment (RFC 3961
§5.3) as a client does; header fields are checked against RFC 4121 §4.2.6.2.  With DCE
header signing (sign-only buffers) MIT's library inside Samba is the oracle
(tests/interop/test_kerberos_rpc_samba.py); here that path must equal ``protect``'s.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from impacket.krb5.crypto import Key, _checksum_table
from impacket.krb5.gssapi import GSSAPI_AES128, GSSAPI_AES256

from fakegc import crypto
from fakegc.rpc.auth.base import LEVEL_INTEGRITY, LEVEL_PRIVACY
from fakegc.rpc.auth.kerberos import KerberosContext, KerberosProvider
from fakegc.rpc.auth.legs import AuthCtx, protect_response
from fakegc.rpc.auth.simple import SimpleCredentials


def _context(etype: int, key: bytes, mutual: bool) -> KerberosContext:
    ctx = KerberosContext(KerberosProvider(SimpleCredentials(), []))
    ctx.key = Key(etype, key)
    ctx.complete, ctx.mutual = True, mutual
    return ctx


@settings(max_examples=30, deadline=None)
@given(etype=st.sampled_from([17, 18]), key=st.binary(min_size=32, max_size=32),
       stub=st.binary(max_size=3000), max_xmit=st.sampled_from([160, 1024, 4280, 5840]),
       mutual=st.booleans())
@example(etype=18, key=bytes(32), stub=b"", max_xmit=4280, mutual=True)  # empty answer
@example(etype=18, key=bytes(32), stub=bytes(2 * 4160), max_xmit=4280, mutual=True)  # no pad
def test_sealed_fragments_unwrap_with_impacket(etype: int, key: bytes, stub: bytes,
                                               max_xmit: int, mutual: bool) -> None:
    ctx = _context(etype, key[:16 if etype == 17 else 32], mutual)
    assert ctx.key is not None
    gss = GSSAPI_AES128() if etype == 17 else GSSAPI_AES256()
    wire = bytes(protect_response(AuthCtx(ctx, 16, LEVEL_PRIVACY, 1), stub, 9, 0, max_xmit, False))
    got = b""
    off = seq = 0
    while off < len(wire):
        frag_len, auth_len = struct.unpack_from("<HH", wire, off + 8)
        pdu = wire[off:off + frag_len]
        off += frag_len
        assert auth_len == 76 and frag_len <= max_xmit  # 16-byte header + EC + RRC + conf + MAC
        body_end = frag_len - auth_len - 8
        trailer, token = pdu[body_end:body_end + 8], pdu[body_end + 8:]
        # RFC 4121 4.2.6.2: TOK_ID 05 04, SentByAcceptor | Sealed (| AcceptorSubkey), filler
        # 0xFF, EC 16, RRC 28 (as Windows sends for DCE), SND_SEQ one per fragment
        assert token[:4] == bytes([5, 4, 0x03 | (0x04 if mutual else 0), 0xFF])
        assert struct.unpack(">HHQ", token[4:16]) == (16, 28, seq)
        # oracle: impacket unrotates, decrypts and checks the HMAC (raises on a mismatch)
        plain, _ = gss.GSS_Unwrap(ctx.key, pdu[24:body_end], seq, authData=trailer + token)
        got += plain[:len(plain) - trailer[2]]  # sec_trailer auth_pad_length (MS-RPCE 2.2.2.11)
        seq += 1
    assert got == stub


@pytest.mark.parametrize("level", [LEVEL_INTEGRITY, LEVEL_PRIVACY])
@pytest.mark.parametrize("header_sign", [True, False])
@pytest.mark.parametrize("etype", [17, 18])
def test_in_place_token_equals_protect(monkeypatch: pytest.MonkeyPatch, etype: int,
                                       header_sign: bool, level: int) -> None:
    # protect (checked by MIT/Samba with header signing) and protect_into with the same
    # confounders produce the same bytes, message after message
    key = os.urandom(16 if etype == 17 else 32)
    a, b = _context(etype, key, True), _context(etype, key, True)
    size = a.signature_size(level)
    confounders = [os.urandom(16) for _ in range(6)]
    for i, n in enumerate([0, 16, 48, 4160, 32, 4160]):
        header, body, trailer = os.urandom(24), os.urandom(n), os.urandom(8)
        monkeypatch.setattr(crypto, "random_bytes", lambda _n, conf=confounders[i]: conf)
        want_body, want_sig = a.protect(level, header, body, trailer, header_sign)
        out = bytearray(24 + n + 8 + size)
        out[:24], out[24 + n:32 + n] = header, trailer
        b.protect_into(level, memoryview(out), 0, 24, 24 + n, memoryview(body), header_sign)
        assert out[24:24 + n] == want_body and out[32 + n:] == want_sig
        assert out[:24] == header and out[24 + n:32 + n] == trailer


@pytest.mark.parametrize("header_sign", [True, False])
@pytest.mark.parametrize("etype", [17, 18])
def test_signed_fragments_carry_rfc4121_mics(etype: int, header_sign: bool) -> None:
    ctx = _context(etype, os.urandom(16 if etype == 17 else 32), False)
    assert ctx.key is not None
    stub = os.urandom(9000)
    wire = bytes(protect_response(AuthCtx(ctx, 16, LEVEL_INTEGRITY, 1), stub, 9, 0, 4280,
                                  header_sign))
    got = b""
    off = seq = 0
    while off < len(wire):
        frag_len, auth_len = struct.unpack_from("<HH", wire, off + 8)
        pdu = wire[off:off + frag_len]
        off += frag_len
        body_end = frag_len - auth_len - 8
        token = pdu[body_end + 8:]
        # RFC 4121 4.2.6.1: TOK_ID 04 04, SentByAcceptor, five 0xFF filler, SND_SEQ; then
        # the HMAC-SHA1-96 (auth_length 28)
        assert auth_len == 28 and token[:8] == b"\x04\x04\x01" + b"\xff" * 5
        assert struct.unpack(">Q", token[8:16])[0] == seq
        signed = pdu[:body_end + 8] if header_sign else pdu[24:body_end]
        # oracle: impacket's RFC 3961 keyed checksum (hmac-sha1-96-aes, key usage 23)
        want = _checksum_table[16 if etype == 18 else 15].checksum(ctx.key, 23, signed + token[:16])
        assert token[16:] == want
        got += pdu[24:body_end - pdu[body_end + 2]]
        seq += 1
    assert got == stub

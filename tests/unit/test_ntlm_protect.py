"""NTLM per-PDU protection against impacket's client-side implementation (issue #19.6).

``NtlmContext.protect`` / ``protect_into`` MAC from precomputed HMAC-MD5 states and (in place)
seal into the answer buffer; the oracle is impacket's ``ntlm.SEAL`` / ``ntlm.SIGN`` (MS-NLMP
3.4.4.2 as a real client computes it) on its own RC4 (Cryptodome), fed the same keys, sequence
numbers and fragments.  ``protect_response`` lays the whole answer out in one buffer; its
fragments are checked field by field against C706 12.6.4.10 / MS-RPCE 2.2.2.11 and unsealed +
verified with impacket's functions, for NTLM directly, inside SPNEGO, and through the
``protect``-only path other mechanisms take.  ``verify`` takes what impacket's client seals.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from Cryptodome.Cipher import ARC4
from hypothesis import example, given, settings
from hypothesis import strategies as st
from impacket import ntlm

from fakegc.rpc.auth.base import LEVEL_INTEGRITY, LEVEL_PRIVACY, AuthError
from fakegc.rpc.auth.legs import AuthCtx, protect_response
from fakegc.rpc.auth.ntlm import NtlmContext, NtlmProvider
from fakegc.rpc.auth.spnego import SpnegoContext, SpnegoProvider

_BASE = (ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | ntlm.NTLMSSP_NEGOTIATE_SIGN
         | ntlm.NTLMSSP_NEGOTIATE_SEAL)
_flags = st.sampled_from([
    _BASE | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH | ntlm.NTLMSSP_NEGOTIATE_128,
    _BASE | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH | ntlm.NTLMSSP_NEGOTIATE_56,
    _BASE | ntlm.NTLMSSP_NEGOTIATE_128,
    _BASE,
])


def _server(flags: int, key: bytes) -> NtlmContext:
    ctx = NtlmContext(NtlmProvider(None))  # type: ignore[arg-type]  # creds unused past the legs
    ctx.flags, ctx.session_key = flags, key
    ctx._derive()
    ctx.complete = True
    return ctx


def _impacket_server_side(flags: int, key: bytes) -> tuple[bytes, Callable[[bytes], bytes]]:
    """impacket's keys for the server-to-client direction (MS-NLMP 3.4.5.2, 3.4.5.3)."""
    sign = ntlm.SIGNKEY(flags, key, "Server")
    handle: Callable[[bytes], bytes] = ARC4.new(ntlm.SEALKEY(flags, key, "Server")).encrypt
    return sign, handle


@settings(max_examples=60, deadline=None)
@given(flags=_flags, key=st.binary(min_size=16, max_size=16),
       pdus=st.lists(st.tuples(st.binary(max_size=24), st.binary(max_size=600),
                               st.binary(min_size=8, max_size=8), st.booleans()),
                     min_size=1, max_size=6))
def test_protect_matches_impacket_seal_and_sign(flags: int, key: bytes,
                                                pdus: list[tuple[bytes, bytes, bytes, bool]]) -> None:
    ctx = _server(flags, key)
    sign, handle = _impacket_server_side(flags, key)
    for seq, (header, body, trailer, privacy) in enumerate(pdus):
        got_body, got_sig = ctx.protect(LEVEL_PRIVACY if privacy else LEVEL_INTEGRITY,
                                        header, body, trailer, False)
        message = header + body + trailer
        if privacy:
            # oracle: impacket ntlm.SEAL (seals the body, then MACs the plaintext PDU)
            want_body, want_sig = ntlm.SEAL(flags, sign, None, message, body, seq, handle)
        else:
            want_body, want_sig = body, ntlm.SIGN(flags, sign, message, seq, handle)
        assert got_body == want_body
        assert got_sig == want_sig.getData()


class _ProtectOnly:
    """A context with ``protect`` but no ``protect_into`` (as Kerberos): the generic path."""

    def __init__(self, inner: NtlmContext) -> None:
        self.inner = inner
        self.complete = True

    def signature_size(self, level: int = 6) -> int:
        return self.inner.signature_size(level)

    def protect(self, *args: object) -> tuple[bytes, bytes]:
        return self.inner.protect(*args)  # type: ignore[arg-type]


def _spnego(inner: NtlmContext) -> SpnegoContext:
    ctx = SpnegoProvider(None, None).new_context()
    ctx.inner, ctx.complete = inner, True
    return ctx


_WAYS = {"ntlm": lambda c: c, "spnego": _spnego, "protect-only": _ProtectOnly}


@pytest.mark.parametrize("way", list(_WAYS))
@settings(max_examples=40, deadline=None)
@given(flags=_flags, key=st.binary(min_size=16, max_size=16),
       stub=st.binary(max_size=3000), max_xmit=st.sampled_from([72, 160, 1024, 4280, 5840]),
       privacy=st.booleans())
@example(flags=_BASE, key=bytes(16), stub=b"", max_xmit=4280, privacy=True)  # empty answer
@example(flags=_BASE, key=bytes(16), stub=bytes(range(32)), max_xmit=72, privacy=True)  # 16 B room
@example(flags=_BASE, key=bytes(16), stub=bytes(2 * 4224), max_xmit=4280, privacy=True)  # no pad
@example(flags=_BASE, key=bytes(16), stub=bytes(4225), max_xmit=4280, privacy=True)  # 1 B last
def test_protect_response_fragments_unseal_with_impacket(way: str, flags: int, key: bytes,
                                                         stub: bytes, max_xmit: int,
                                                         privacy: bool) -> None:
    level = LEVEL_PRIVACY if privacy else LEVEL_INTEGRITY
    main = AuthCtx(_WAYS[way](_server(flags, key)), 10, level, 7)
    wire = bytes(protect_response(main, stub, 42, 3, max_xmit, False))
    sign, handle = _impacket_server_side(flags, key)
    got = b""
    off = seq = 0
    while off < len(wire):
        ver, minor, ptype, pfc, drep, frag_len, auth_len, call_id = struct.unpack_from("<BBBB4sHHI", wire, off)
        alloc, ctx_id = struct.unpack_from("<IH", wire, off + 16)
        pdu = wire[off:off + frag_len]
        off += frag_len
        # C706 12.6.3.1 / 12.6.4.10: version 5.0, response (2), LE drep, the call's ids
        assert (ver, minor, ptype, drep, call_id, ctx_id) == (5, 0, 2, b"\x10\x00\x00\x00", 42, 3)
        assert auth_len == 16  # MS-NLMP 2.2.2.9.1: NTLMSSP_MESSAGE_SIGNATURE is 16 bytes
        assert bool(pfc & 1) == (seq == 0) and bool(pfc & 2) == (off == len(wire))
        assert alloc == len(stub) - len(got)  # alloc_hint: stub bytes still to come
        body_end = frag_len - 16 - 8
        atype, alevel, pad, _rsv, actx = struct.unpack_from("<BBBBI", pdu, body_end)
        assert (atype, alevel, actx) == (10, level, 7)  # MS-RPCE 2.2.2.11 sec_trailer
        assert (body_end - 24) % 16 == 0  # MS-RPCE 2.2.2.11: stub padded to 16 bytes
        assert frag_len <= max(max_xmit, 24 + 16 + 8 + 16)
        body = pdu[24:body_end]
        if privacy:
            body = handle(body)  # impacket's RC4 keystream, as its client unseals
        sig = ntlm.SIGN(flags, sign, pdu[:24] + body + pdu[body_end:body_end + 8], seq, handle)
        assert pdu[-16:] == sig.getData()  # oracle: impacket ntlm.SIGN over the plaintext PDU
        # auth padding is zeros: Samba's ndr_basic.c flags non-zero pad bytes as a data leak
        assert body[len(body) - pad:] == bytes(pad)
        got += body[:len(body) - pad]
        seq += 1
    assert got == stub


@settings(max_examples=60, deadline=None)
@given(flags=_flags, key=st.binary(min_size=16, max_size=16),
       pdus=st.lists(st.tuples(st.binary(min_size=16, max_size=24), st.binary(max_size=600),
                               st.binary(min_size=8, max_size=8), st.booleans()),
                     min_size=1, max_size=6))
def test_protect_into_matches_impacket_seal_and_sign(flags: int, key: bytes,
                                                     pdus: list[tuple[bytes, bytes, bytes, bool]]) -> None:
    ctx = _server(flags, key)
    sign, handle = _impacket_server_side(flags, key)
    for seq, (header, body, trailer, privacy) in enumerate(pdus):
        # a fragment laid out in a buffer with bytes before and after it; the body comes
        # from a memoryview of another buffer, as protect_response passes the stub
        at, b, t = 5, 5 + len(header), 5 + len(header) + len(body)
        out = bytearray(b"\xee" * (t + 8 + 16 + 3))
        out[at:b], out[t:t + 8] = header, trailer
        ctx.protect_into(LEVEL_PRIVACY if privacy else LEVEL_INTEGRITY, memoryview(out), at, b, t,
                         memoryview(b"##" + body)[2:], False)
        message = header + body + trailer
        if privacy:  # oracle: impacket ntlm.SEAL / ntlm.SIGN (MS-NLMP 3.4.4.2)
            want_body, want_sig = ntlm.SEAL(flags, sign, None, message, body, seq, handle)
        else:
            want_body, want_sig = body, ntlm.SIGN(flags, sign, message, seq, handle)
        assert out[b:t] == want_body and out[t + 8:t + 24] == want_sig.getData()
        assert out[:at] == b"\xee" * at and out[t + 24:] == b"\xee" * 3  # nothing outside


@settings(max_examples=40, deadline=None)
@given(flags=_flags, key=st.binary(min_size=16, max_size=16),
       bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=5), privacy=st.booleans())
def test_verify_takes_what_impacket_seals(flags: int, key: bytes, bodies: list[bytes],
                                          privacy: bool) -> None:
    # oracle: impacket's client side (ntlm.SEAL / SIGN with the client keys, MS-NLMP 3.4.5.2)
    ctx = _server(flags, key)
    sign = ntlm.SIGNKEY(flags, key, "Client")
    handle = ARC4.new(ntlm.SEALKEY(flags, key, "Client")).encrypt
    header, trailer = bytes(range(24)), b"\x0a\x06\x00\x00\x07\x00\x00\x00"
    level = LEVEL_PRIVACY if privacy else LEVEL_INTEGRITY
    for seq, body in enumerate(bodies):
        message = header + body + trailer
        if privacy:
            wire, sig = ntlm.SEAL(flags, sign, None, message, body, seq, handle)
        else:
            wire, sig = body, ntlm.SIGN(flags, sign, message, seq, handle)
        assert ctx.verify(level, header, wire, trailer, sig.getData(), False) == body
    tampered = bytes(bodies[0][:1]) + b"x"  # after a refusal the context is not reused
    with pytest.raises(AuthError):
        _server(flags, key).verify(level, header, tampered, trailer, bytes(16), False)

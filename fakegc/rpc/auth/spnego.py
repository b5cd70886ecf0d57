"""SPNEGO / Negotiate acceptor for DCE/RPC auth type 9 (RFC 4178, MS-SPNG 3.2.5, MS-RPCE 2.2.1.1.7).

The client's NegTokenInit lists mechanisms (DER OIDs) and usually carries an optimistic
token for the first one.  We pick the client's first mechanism we support (NTLM or
Kerberos), run the inner context (:mod:`fakegc.rpc.auth.ntlm`,
:mod:`fakegc.rpc.auth.kerberos`) on the wrapped tokens, and answer NegTokenResps:

* NTLM (Samba, Windows): NEGOTIATE → CHALLENGE (accept-incomplete); AUTHENTICATE with
  a mechListMIC → accept-completed with our mechListMIC (PROTOCOL.md §10).  The MICs are
  NTLM signatures over the DER MechTypeList; afterwards both RC4 handles restart
  (MS-SPNG 3.3.5.1) while sequence numbers go on (the first RPC PDU uses 1).
* Kerberos (impacket's ``set_kerberos(True)``, Samba with krb5): DCE style, AP-REQ →
  AP-REP (accept-incomplete); the client's AP-REP → accept-completed.

When the chosen mechanism is not the client's first choice the optimistic token is
ignored and negState is request-mic (RFC 4178 §5).  Each context is its own small
state machine; nothing here touches sockets.
"""

from __future__ import annotations

import hmac as hmaclib
import struct
from typing import Any

from fakegc.rpc.auth.base import (
    LEVEL_PRIVACY,
    RPC_C_AUTHN_GSS_NEGOTIATE,
    AuthError,
    SecurityProvider,
    StepResult,
)
from fakegc.wire.der import DerError, der, read_tlv

__all__ = [
    "OID_KRB5",
    "OID_MS_KRB5",
    "OID_NTLM",
    "NegTokenInit",
    "NegTokenResp",
    "SpnegoContext",
    "SpnegoProvider",
    "encode_neg_token_init",
    "encode_neg_token_resp",
    "parse_neg_token_init",
    "parse_neg_token_resp",
]

# DER contents of the mechanism OIDs (without tag and length)
OID_SPNEGO = bytes.fromhex("2b0601050502")                  # 1.3.6.1.5.5.2
OID_NTLM = bytes.fromhex("2b06010401823702020a")            # 1.3.6.1.4.1.311.2.2.10
OID_KRB5 = bytes.fromhex("2a864886f712010202")              # 1.2.840.113554.1.2.2
OID_MS_KRB5 = bytes.fromhex("2a864882f712010202")           # 1.2.840.48018.1.2.2

ACCEPT_COMPLETED, ACCEPT_INCOMPLETE, REJECT, REQUEST_MIC = 0, 1, 2, 3


# -- minimal DER (X.690) ----------------------------------------------------------------
def _tlv(data: bytes, off: int) -> tuple[int, bytes, int]:
    """(tag, value, next offset) of the TLV at ``off``; raises AuthError when truncated."""
    try:
        return read_tlv(data, off)
    except DerError as exc:
        raise AuthError(f"bad SPNEGO token: {exc}") from None


def _children(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    off = 0
    while off < len(data):
        tag, value, off = _tlv(data, off)
        out.append((tag, value))
    return out


class NegTokenInit:
    """RFC 4178 §4.2.1 NegTokenInit: ``mech_types`` (OID contents), ``mech_token``, ``mic``."""

    __slots__ = ("mech_list_der", "mech_token", "mech_types", "mic")

    def __init__(self, mech_types: list[bytes], mech_token: bytes | None = None,
                 mic: bytes | None = None) -> None:
        self.mech_types = mech_types
        self.mech_token = mech_token
        self.mic = mic
        self.mech_list_der = der(0x30, b"".join(der(0x06, m) for m in mech_types))


class NegTokenResp:
    """RFC 4178 §4.2.2 NegTokenResp."""

    __slots__ = ("mech", "mic", "state", "token")

    def __init__(self, state: int | None = None, mech: bytes | None = None,
                 token: bytes | None = None, mic: bytes | None = None) -> None:
        self.state = state
        self.mech = mech
        self.token = token
        self.mic = mic


def parse_neg_token_init(data: bytes) -> NegTokenInit:
    """Parse a GSS InitialContextToken carrying SPNEGO's NegTokenInit (RFC 2743 §3.1)."""
    tag, body, _ = _tlv(data, 0)
    if tag != 0x60:
        raise AuthError("SPNEGO token does not start with an InitialContextToken")
    tag, oid, off = _tlv(body, 0)
    if tag != 0x06 or oid != OID_SPNEGO:
        raise AuthError("InitialContextToken is not SPNEGO")
    tag, choice, _ = _tlv(body, off)
    if tag != 0xA0:
        raise AuthError("expected negTokenInit [0]")
    tag, seq, _ = _tlv(choice, 0)
    if tag != 0x30:
        raise AuthError("NegTokenInit is not a SEQUENCE")
    mechs: list[bytes] = []
    token = mic = None
    mech_list_der = None
    for ctag, value in _children(seq):
        if ctag == 0xA0:
            t, lst, _ = _tlv(value, 0)
            if t != 0x30:
                raise AuthError("MechTypeList is not a SEQUENCE")
            mech_list_der = value
            for otag, oid in _children(lst):
                if otag != 0x06:
                    raise AuthError("MechTypeList holds a non-OID")
                mechs.append(oid)
        elif ctag == 0xA2:
            t, token, _ = _tlv(value, 0)
            if t != 0x04:
                raise AuthError("mechToken is not an OCTET STRING")
        elif ctag == 0xA3:
            t, raw, _ = _tlv(value, 0)
            mic = raw if t == 0x04 else None
    if not mechs:
        raise AuthError("NegTokenInit without mechTypes")
    init = NegTokenInit(mechs, token, mic)
    if mech_list_der is not None:
        t, _, end = _tlv(mech_list_der, 0)
        init.mech_list_der = mech_list_der[:end]  # the client's own bytes, as signed
    return init


def encode_neg_token_init(mech_types: list[bytes], mech_token: bytes | None = None) -> bytes:
    """Initiator side (tests): InitialContextToken with a NegTokenInit."""
    parts = der(0xA0, der(0x30, b"".join(der(0x06, m) for m in mech_types)))
    if mech_token is not None:
        parts += der(0xA2, der(0x04, mech_token))
    return der(0x60, der(0x06, OID_SPNEGO) + der(0xA0, der(0x30, parts)))


def parse_neg_token_resp(data: bytes) -> NegTokenResp:
    """Parse ``[1] NegTokenResp`` (the client's later legs)."""
    tag, choice, _ = _tlv(data, 0)
    if tag != 0xA1:
        raise AuthError("expected negTokenResp [1]")
    tag, seq, _ = _tlv(choice, 0)
    if tag != 0x30:
        raise AuthError("NegTokenResp is not a SEQUENCE")
    resp = NegTokenResp()
    for ctag, value in _children(seq):
        t, inner, _ = _tlv(value, 0)
        if ctag == 0xA0 and t == 0x0A and len(inner) == 1:
            resp.state = inner[0]
        elif ctag == 0xA1 and t == 0x06:
            resp.mech = inner
        elif ctag == 0xA2 and t == 0x04:
            resp.token = inner
        elif ctag == 0xA3 and t == 0x04:
            resp.mic = inner
        else:
            raise AuthError(f"unexpected element {ctag:#x} in NegTokenResp")
    return resp


def encode_neg_token_resp(resp: NegTokenResp) -> bytes:
    """DER ``[1] NegTokenResp`` (RFC 4178 §4.2.2)."""
    parts = b""
    if resp.state is not None:
        parts += der(0xA0, der(0x0A, bytes([resp.state])))
    if resp.mech is not None:
        parts += der(0xA1, der(0x06, resp.mech))
    if resp.token is not None:
        parts += der(0xA2, der(0x04, resp.token))
    if resp.mic is not None:
        parts += der(0xA3, der(0x04, resp.mic))
    return der(0xA1, der(0x30, parts))


# -- mechListMIC per mechanism -------------------------------------------------------------
def _ntlm_mic(ctx: Any, data: bytes, incoming: bytes | None) -> bytes:
    """NTLM GSS_GetMIC / GSS_VerifyMIC over ``data`` (MS-NLMP 3.4.4.2), then the RC4 reset."""
    if incoming is not None:
        if len(incoming) != 16:
            raise AuthError("bad NTLM mechListMIC length")
        seq = struct.unpack_from("<I", incoming, 12)[0]
        expected = ctx._mac(ctx._client_sign, ctx._client_seal, seq, data)
        if not hmaclib.compare_digest(expected, incoming):
            raise AuthError("SPNEGO mechListMIC mismatch (NTLM)")
        ctx._recv_seq = seq + 1
        return b""
    seq = ctx._send_seq
    ctx._send_seq += 1
    mic: bytes = ctx._mac(ctx._server_sign, ctx._server_seal, seq, data)
    return mic


def _ntlm_reset(ctx: Any) -> None:
    """MS-SPNG 3.3.5.1: after the mechListMIC exchange NTLM restarts its RC4 handles.

    The sequence numbers go on (the MICs used 0, the first RPC PDU uses 1), as Samba's
    client expects.
    """
    ctx._derive()


def _krb_mic(ctx: Any, data: bytes, incoming: bytes | None) -> bytes:
    """Kerberos GSS MIC over ``data``: RFC 4121 §4.2.6.1 (AES) or RFC 4757 §7.2 (rc4-hmac)."""
    from impacket.krb5.crypto import _checksum_table

    key = ctx.key
    if key is None:
        raise AuthError("Kerberos context has no key for the mechListMIC")
    if key.enctype == 23:
        from Cryptodome.Cipher import ARC4
        from Cryptodome.Hash import HMAC, MD5

        ksign = HMAC.new(key.contents, b"signaturekey\0", MD5).digest()
        if incoming is not None:
            tok = incoming
            if len(tok) < 24 or tok[:2] != b"\x01\x01":
                raise AuthError("not an RC4 MIC token")
            check = HMAC.new(ksign, MD5.new(struct.pack("<L", 15) + tok[:8] + data).digest(),
                             MD5).digest()[:8]
            if not hmaclib.compare_digest(check, tok[16:24]):
                raise AuthError("SPNEGO mechListMIC mismatch (rc4-hmac)")
            return b""
        head = b"\x01\x01\x11\x00\xff\xff\xff\xff"
        cksum = HMAC.new(ksign, MD5.new(struct.pack("<L", 15) + head + data).digest(), MD5).digest()[:8]
        seq = ctx._send_seq
        ctx._send_seq += 1
        kseq = HMAC.new(HMAC.new(key.contents, struct.pack("<L", 0), MD5).digest(), cksum, MD5).digest()
        snd = ARC4.new(kseq).encrypt(struct.pack(">L", seq) + b"\xff" * 4)
        return head + snd + cksum
    ck = _checksum_table[16 if key.enctype == 18 else 15]
    if incoming is not None:
        tok = incoming[:16]
        if tok[:2] != b"\x04\x04" or len(incoming) < 28:
            raise AuthError("not a CFX MIC token")
        usage = 23 if tok[2] & 0x01 else 25
        if not hmaclib.compare_digest(ck.checksum(key, usage, data + tok), incoming[16:]):
            raise AuthError("SPNEGO mechListMIC mismatch (CFX)")
        return b""
    seq = ctx._send_seq
    ctx._send_seq += 1
    tok = b"\x04\x04\x05" + b"\xff" * 5 + struct.pack(">Q", seq)
    return tok + bytes(ck.checksum(key, 23, data + tok))


class SpnegoContext:
    """One SPNEGO acceptor context (see the module docstring)."""

    auth_type = RPC_C_AUTHN_GSS_NEGOTIATE

    def __init__(self, provider: SpnegoProvider) -> None:
        self.provider = provider
        self.inner: Any = None
        self.mech_oid: bytes | None = None
        self.complete = False
        self._init: NegTokenInit | None = None
        self._need_mic = False
        self._state = 0

    # identity and mechanism of the inner context
    @property
    def mech(self) -> str:
        """The negotiated mechanism, "ntlm" or "kerberos" (auth type 9 says it came via SPNEGO)."""
        return str(self.inner.mech) if self.inner is not None else "spnego"

    @property
    def user(self) -> str | None:
        return self.inner.user if self.inner is not None else None

    @property
    def domain(self) -> str | None:
        return self.inner.domain if self.inner is not None else None

    def _choose(self, mechs: list[bytes]) -> bytes:
        for oid in mechs:
            if oid == OID_NTLM and self.provider.ntlm is not None:
                return oid
            if oid in (OID_KRB5, OID_MS_KRB5) and self.provider.kerberos is not None:
                return oid
        raise AuthError("SPNEGO offers no mechanism we support (NTLM, Kerberos)", status=8)

    def step(self, token: bytes) -> StepResult:
        """NegTokenInit, then NegTokenResps, until the inner context completes (RFC 4178 §5)."""
        if self.complete:
            raise AuthError("unexpected SPNEGO token after the context completed")
        if self._state == 0:
            self._state = 1
            init = parse_neg_token_init(token)
            self._init = init
            self.mech_oid = self._choose(init.mech_types)
            inner = (self.provider.ntlm if self.mech_oid == OID_NTLM
                     else self.provider.kerberos)
            if inner is None:  # _choose offers only mechanisms we have
                raise AuthError("no provider for the chosen mechanism")
            self.inner = inner.new_context()
            if self.mech_oid != init.mech_types[0]:
                self._need_mic = True  # RFC 4178 §5: MIC required when not the preferred mech
                return StepResult(encode_neg_token_resp(NegTokenResp(REQUEST_MIC, self.mech_oid)),
                                  False)
            if init.mech_token is None:
                return StepResult(encode_neg_token_resp(NegTokenResp(ACCEPT_INCOMPLETE,
                                                                     self.mech_oid)), False)
            return self._inner_step(init.mech_token, None, first=True)
        resp = parse_neg_token_resp(token)
        if resp.state == REJECT:
            raise AuthError("client rejected the SPNEGO negotiation")
        if self.inner.complete:
            # the inner mechanism finished on our side; this leg only carries the client's MIC
            return self._finish(resp.mic)
        if resp.token is None:
            raise AuthError("NegTokenResp without a responseToken")
        return self._inner_step(resp.token, resp.mic, first=False)

    def _inner_step(self, token: bytes, client_mic: bytes | None, first: bool) -> StepResult:
        result = self.inner.step(token)
        if not self.inner.complete:
            return StepResult(encode_neg_token_resp(NegTokenResp(
                REQUEST_MIC if self._need_mic and first else ACCEPT_INCOMPLETE,
                self.mech_oid if first else None, result.token)), False)
        if result.token is not None:
            # the mechanism is done but still has a token for the client (not DCE style)
            return StepResult(encode_neg_token_resp(NegTokenResp(ACCEPT_INCOMPLETE, None, result.token,
                                                                 self._our_mic(client_mic))), False)
        return self._finish(client_mic)

    def _our_mic(self, client_mic: bytes | None) -> bytes | None:
        if client_mic is None and not self._need_mic:
            return None
        assert self._init is not None
        data = self._init.mech_list_der
        if self.mech_oid == OID_NTLM:
            if client_mic is not None:
                _ntlm_mic(self.inner, data, client_mic)
            elif self._need_mic:
                raise AuthError("SPNEGO mechListMIC required but missing")
            mic = _ntlm_mic(self.inner, data, None)
            _ntlm_reset(self.inner)
            return mic
        if client_mic is not None:
            _krb_mic(self.inner, data, client_mic)
        return _krb_mic(self.inner, data, None)

    def _finish(self, client_mic: bytes | None) -> StepResult:
        mic = self._our_mic(client_mic)
        self.complete = True
        return StepResult(encode_neg_token_resp(NegTokenResp(ACCEPT_COMPLETED, None, None, mic)), True)

    # -- per-PDU protection: the inner mechanism's ---------------------------------------------
    def signature_size(self, level: int = LEVEL_PRIVACY) -> int:
        """The inner mechanism's auth_length."""
        return int(self.inner.signature_size(level))

    def verify(self, level: int, header: bytes, body: bytes, trailer: bytes, signature: bytes,
               header_sign: bool) -> bytes:
        """Delegate to the inner mechanism."""
        if self.inner is None or not self.complete:
            raise AuthError("security context not established")
        return bytes(self.inner.verify(level, header, body, trailer, signature, header_sign))

    def protect(self, level: int, header: bytes, body: bytes, trailer: bytes,
                header_sign: bool) -> tuple[bytes, bytes]:
        """Delegate to the inner mechanism."""
        if self.inner is None:
            raise AuthError("security context not established")
        body, sig = self.inner.protect(level, header, body, trailer, header_sign)
        return body, sig

    @property
    def protect_into(self) -> Any:
        """The inner mechanism's in-place protection (NTLM's, Kerberos'), or None: the caller then
        goes through :meth:`protect` (fakegc.rpc.auth.legs.protect_response)."""
        return getattr(self.inner, "protect_into", None) if self.complete else None


class SpnegoProvider:
    """Acceptor factory for auth type 9: NTLM and/or Kerberos inside SPNEGO.

    ``ntlm_provider`` is an :class:`~fakegc.rpc.auth.ntlm.NtlmProvider`,
    ``kerberos_provider`` a :class:`~fakegc.rpc.auth.kerberos.KerberosProvider`
    (the bare, type-16 one: SPNEGO framing is done here); either may be None.
    """

    auth_type = RPC_C_AUTHN_GSS_NEGOTIATE

    def __init__(self, ntlm_provider: SecurityProvider | None,
                 kerberos_provider: SecurityProvider | None) -> None:
        self.ntlm = ntlm_provider
        self.kerberos = kerberos_provider

    def new_context(self) -> SpnegoContext:
        """A fresh SPNEGO context."""
        return SpnegoContext(self)

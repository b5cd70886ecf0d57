"""NTLM acceptor for DCE/RPC (MS-NLMP 3.2.5, 3.4; MS-RPCE 2.2.1.1.7 auth type 10).

Three legs: NEGOTIATE (in bind) → CHALLENGE (in bind_ack) → AUTHENTICATE (in auth3,
or in alter_context when wrapped in SPNEGO).  Only NTLMv2 responses are accepted;
signing and sealing require extended session security (MS-NLMP 3.4.4.2), as every
client we serve (impacket, Samba, Windows) negotiates.  impacket's ``ntlm`` module
supplies the AUTHENTICATE parser and key-derivation helpers.
"""

from __future__ import annotations

import hmac
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import CipherContext
from impacket import ntlm

from fakegc.crypto import Hmac, hmac_md5, nt_hash, rc4
from fakegc.rpc.auth.base import (
    LEVEL_PRIVACY,
    RPC_C_AUTHN_WINNT,
    AuthError,
    Credentials,
    StepResult,
)

__all__ = ["NtlmContext", "NtlmProvider", "nt_hash"]

_SERVER_FLAGS = (
    ntlm.NTLMSSP_NEGOTIATE_UNICODE
    | ntlm.NTLMSSP_REQUEST_TARGET
    | ntlm.NTLMSSP_NEGOTIATE_NTLM
    | ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN
    | ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO
    | ntlm.NTLMSSP_NEGOTIATE_VERSION
    | ntlm.NTLMSSP_NEGOTIATE_128
    | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH
    | ntlm.NTLMSSP_NEGOTIATE_56
    | ntlm.NTLMSSP_NEGOTIATE_SIGN
    | ntlm.NTLMSSP_NEGOTIATE_SEAL
    | ntlm.NTLMSSP_TARGET_TYPE_DOMAIN
)
_CLIENT_OPTIONAL = (
    ntlm.NTLMSSP_NEGOTIATE_SIGN
    | ntlm.NTLMSSP_NEGOTIATE_SEAL
    | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH
    | ntlm.NTLMSSP_NEGOTIATE_56
    | ntlm.NTLMSSP_NEGOTIATE_128
    | ntlm.NTLMSSP_NEGOTIATE_VERSION
)
_U32 = struct.Struct("<I")
_SIGNATURE = struct.Struct("<I8sI")  # NTLMSSP_MESSAGE_SIGNATURE: Version 1, Checksum, SeqNum
_SIG_VERSION = b"\x01\x00\x00\x00"  # NTLMSSP_MESSAGE_SIGNATURE Version 1 (MS-NLMP 2.2.2.9.1)
_VERSION = struct.pack("<BBHBBBB", 10, 0, 20348, 0, 0, 0, 15)  # Windows Server 2022, NTLM rev 15


def _av_pairs(domain: str, host: str, dns_domain: str) -> bytes:
    def pair(av_id: int, value: bytes) -> bytes:
        return struct.pack("<HH", av_id, len(value)) + value

    filetime = int((time.time() + 11644473600) * 10_000_000)
    return b"".join([
        pair(ntlm.NTLMSSP_AV_DOMAINNAME, domain.encode("utf-16le")),
        pair(ntlm.NTLMSSP_AV_HOSTNAME, host.upper().encode("utf-16le")),
        pair(ntlm.NTLMSSP_AV_DNS_DOMAINNAME, dns_domain.encode("utf-16le")),
        pair(ntlm.NTLMSSP_AV_DNS_HOSTNAME, f"{host}.{dns_domain}".encode("utf-16le")),
        pair(ntlm.NTLMSSP_AV_TIME, struct.pack("<Q", filetime)),
        pair(ntlm.NTLMSSP_AV_EOL, b""),
    ])


class NtlmContext:
    """Server side of one NTLM security context."""

    auth_type = RPC_C_AUTHN_WINNT
    mech = "ntlm"

    def __init__(self, provider: NtlmProvider) -> None:
        self._provider = provider
        self.complete = False
        self.user: str | None = None
        self.domain: str | None = None
        self.anonymous = False
        self.flags = 0
        self.session_key = b""
        self._challenge = os.urandom(8)
        self._negotiate = b""
        self._challenge_msg = b""
        self._state = 0
        self._recv_seq = 0
        self._send_seq = 0
        self._client_sign = b""
        self._server_sign = b""
        self._client_seal: CipherContext | None = None
        self._server_seal: CipherContext | None = None
        self._client_mac = Hmac(b"")
        self._server_mac = Hmac(b"")
        self._ess = False
        self._key_exch = False

    # -- token exchange (MS-NLMP 3.2.5.1) -------------------------------------
    def step(self, token: bytes) -> StepResult:
        """NEGOTIATE → CHALLENGE; AUTHENTICATE → (nothing, complete)."""
        if len(token) < 12 or token[:8] != b"NTLMSSP\x00":
            raise AuthError("not an NTLMSSP message")
        msg_type = struct.unpack_from("<I", token, 8)[0]
        if msg_type == 1 and self._state == 0:
            return StepResult(self._on_negotiate(token), False)
        if msg_type == 3 and self._state == 1:
            self._on_authenticate(token)
            return StepResult(None, True)
        raise AuthError(f"unexpected NTLM message type {msg_type} in state {self._state}")

    def _on_negotiate(self, token: bytes) -> bytes:
        if len(token) < 16:
            raise AuthError("short NEGOTIATE")
        client_flags = struct.unpack_from("<I", token, 12)[0]
        flags = _SERVER_FLAGS & ~_CLIENT_OPTIONAL | (client_flags & _CLIENT_OPTIONAL)
        if not client_flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
            flags &= ~ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
        self.flags = flags
        p = self._provider
        domain = p.creds.netbios_domain.encode("utf-16le")
        info = _av_pairs(p.creds.netbios_domain, p.host, p.creds.realm.lower())
        off_domain = 56
        off_info = off_domain + len(domain)
        msg = (b"NTLMSSP\x00" + struct.pack("<I", 2)
               + struct.pack("<HHI", len(domain), len(domain), off_domain)
               + struct.pack("<I", flags) + self._challenge + b"\x00" * 8
               + struct.pack("<HHI", len(info), len(info), off_info)
               + _VERSION + domain + info)
        self._negotiate = token
        self._challenge_msg = msg
        self._state = 1
        return msg

    def _on_authenticate(self, token: bytes) -> None:
        try:
            auth = ntlm.NTLMAuthChallengeResponse()
            auth.fromString(token)
            user = auth["user_name"].decode("utf-16le")
            domain = auth["domain_name"].decode("utf-16le")
            nt_resp = bytes(auth["ntlm"])
            enc_key = bytes(auth["session_key"])
            flags = auth["flags"]
        except Exception as exc:  # noqa: BLE001 - malformed AUTHENTICATE
            raise AuthError(f"malformed AUTHENTICATE: {exc}") from None
        self._state = 2
        if not user and not nt_resp:
            if not self._provider.allow_anonymous:
                raise AuthError("anonymous NTLM not allowed")
            # MS-NLMP 3.3.2: anonymous → KeyExchangeKey of 16 zero bytes; sign/seal still apply.
            self.anonymous = True
            base = b"\x00" * 16
            if flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH and enc_key:
                self.session_key = rc4(base).update(enc_key)
            else:
                self.session_key = base
            self.flags = flags & self.flags if flags else self.flags
            self._derive()
            self.complete = True
            self.user, self.domain = None, domain or None
            return
        if len(nt_resp) <= 24:
            raise AuthError(f"NTLMv1 response refused for {user}")
        secret = self._provider.creds.nt_hash(user)
        if secret is None:
            raise AuthError(f"unknown user {domain}\\{user}")
        response_key = hmac_md5(secret, (user.upper() + domain).encode("utf-16le"))
        proof = hmac_md5(response_key, self._challenge + nt_resp[16:])
        if not hmac.compare_digest(proof, nt_resp[:16]):
            raise AuthError(f"wrong password for {domain}\\{user}")
        base_key = hmac_md5(response_key, proof)
        if flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH and enc_key:
            self.session_key = rc4(base_key).update(enc_key)
        else:
            self.session_key = base_key
        self.flags = flags & self.flags if flags else self.flags
        self.user, self.domain = user, domain
        self._derive()
        self.complete = True

    def _derive(self) -> None:
        f, key = self.flags, self.session_key
        self._client_sign = ntlm.SIGNKEY(f, key, "Client") or b""
        self._server_sign = ntlm.SIGNKEY(f, key, "Server") or b""
        self._client_seal = rc4(ntlm.SEALKEY(f, key, "Client"))
        self._server_seal = rc4(ntlm.SEALKEY(f, key, "Server"))
        self._client_mac = Hmac(self._client_sign)
        self._server_mac = Hmac(self._server_sign)
        self._ess = bool(f & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
        self._key_exch = bool(f & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH)

    # -- per-PDU protection (MS-NLMP 3.4.4) ----------------------------------
    def signature_size(self, level: int = 6) -> int:
        """An NTLMSSP_MESSAGE_SIGNATURE is 16 bytes at every level."""
        return 16

    def _mac(self, sign_key: bytes, seal: CipherContext, seq: int, message: bytes) -> bytes:
        if not self.flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
            raise AuthError("signing without extended session security is not supported")
        checksum = hmac_md5(sign_key, struct.pack("<I", seq) + message)[:8]
        if self.flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH:
            checksum = seal.update(checksum)
        return struct.pack("<I", 1) + checksum + struct.pack("<I", seq)

    def verify(self, level: int, header: bytes, body: bytes, trailer: bytes,
               signature: bytes, header_sign: bool) -> bytes:
        """Check the client's signature (MS-NLMP 3.4.4.2); unseal at privacy."""
        if self._client_seal is None:
            raise AuthError("security context not established")
        if len(signature) != 16:
            raise AuthError("bad NTLM signature length")
        seq = struct.unpack_from("<I", signature, 12)[0]
        if seq != self._recv_seq:
            raise AuthError(f"NTLM sequence {seq}, expected {self._recv_seq}")
        if not self._ess:
            raise AuthError("signing without extended session security is not supported")
        seal = self._client_seal
        if level == LEVEL_PRIVACY:
            body = seal.update(body)
        checksum = self._client_mac.digest(signature[12:], header, body, trailer)[:8]
        if self._key_exch:
            checksum = seal.update(checksum)
        if not hmac.compare_digest(checksum, signature[4:12]) or signature[:4] != _SIG_VERSION:
            raise AuthError("NTLM signature mismatch")
        self._recv_seq += 1
        return body

    def protect(self, level: int, header: bytes, body: bytes, trailer: bytes,
                header_sign: bool) -> tuple[bytes, bytes]:
        """Sign the whole PDU; seal the body at privacy (MS-RPCE 3.3.1.5.2.2).

        MS-NLMP 3.4.4.2: checksum = HMAC_MD5(SigningKey, SeqNum + plaintext message)[0..7],
        RC4-sealed after the body on the same keystream when KEY_EXCH was negotiated.  The
        MAC input is joined once (one copy of the fragment) and hashed by one ``hmac.digest``;
        byte-identical to :meth:`_mac` and impacket's ``ntlm.SEAL`` / ``ntlm.SIGN``
        (tests/unit/test_ntlm_protect.py).
        """
        seal = self._server_seal
        if seal is None:
            raise AuthError("security context not established")
        if not self._ess:
            raise AuthError("signing without extended session security is not supported")
        seq = _U32.pack(self._send_seq)
        self._send_seq += 1
        checksum = self._server_mac.digest(seq, header, body, trailer)[:8]
        if level == LEVEL_PRIVACY:
            body = seal.update(body)
        if self._key_exch:
            checksum = seal.update(checksum)
        return body, b"".join((_SIG_VERSION, checksum, seq))

    def protect_into(self, level: int, out: memoryview, start: int, body: int, trailer: int,
                     plain: bytes | memoryview, header_sign: bool) -> None:
        """:meth:`protect` for a fragment laid out in ``out``: the PDU header is
        ``out[start:body]``, the sec_trailer the 8 bytes at ``trailer``; ``plain`` (the body,
        padded) goes to ``out[body:trailer]``, sealed at privacy, and the 16-byte signature
        after the sec_trailer.

        The MAC reads the header, ``plain`` and trailer where they lie (no join, no key set-up:
        :class:`~fakegc.crypto.Hmac`) and RC4 writes the sealed body straight into ``out``
        (``update_into``, source and destination apart).  Byte-identical to :meth:`protect`
        and impacket's ``ntlm.SEAL`` / ``ntlm.SIGN`` (tests/unit/test_ntlm_protect.py).
        """
        seal = self._server_seal
        if seal is None:
            raise AuthError("security context not established")
        if not self._ess:
            raise AuthError("signing without extended session security is not supported")
        seq = self._send_seq
        self._send_seq = seq + 1
        end = trailer + 8
        checksum = self._server_mac.digest(_U32.pack(seq), out[start:body], plain,
                                           out[trailer:end])[:8]
        if level == LEVEL_PRIVACY:
            seal.update_into(plain, out[body:trailer])
        else:
            out[body:trailer] = plain
        if self._key_exch:
            checksum = seal.update(checksum)
        _SIGNATURE.pack_into(out, end, 1, checksum, seq)


class NtlmProvider:
    """Factory of :class:`NtlmContext` (auth type 10, RPC_C_AUTHN_WINNT).

    ``allow_anonymous`` accepts anonymous NTLM sessions (MS-NLMP 3.2.5.1.2): the
    connection is protected but carries no user, so interfaces that require an
    authenticated caller (NSPI, RFR) still refuse it; EPM and the management
    interface answer it, which is what impacket's ``rpcmap.py`` relies on.
    """

    auth_type = RPC_C_AUTHN_WINNT

    def __init__(self, creds: Credentials, host: str = "gc01", allow_anonymous: bool = True) -> None:
        self.creds = creds
        self.host = host
        self.allow_anonymous = allow_anonymous

    def new_context(self) -> NtlmContext:
        """A fresh acceptor context."""
        return NtlmContext(self)

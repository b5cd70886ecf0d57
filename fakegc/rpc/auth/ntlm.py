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

from fakegc.crypto import hmac_md5, nt_hash, rc4
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
        if level == LEVEL_PRIVACY:
            body = self._client_seal.update(body)
        expected = self._mac(self._client_sign, self._client_seal, seq, header + body + trailer)
        if not hmac.compare_digest(expected, signature):
            raise AuthError("NTLM signature mismatch")
        self._recv_seq += 1
        return body

    def protect(self, level: int, header: bytes, body: bytes, trailer: bytes,
                header_sign: bool) -> tuple[bytes, bytes]:
        """Sign the whole PDU; seal the body at privacy (MS-RPCE 3.3.1.5.2.2)."""
        if self._server_seal is None:
            raise AuthError("security context not established")
        seq = self._send_seq
        self._send_seq += 1
        message = header + body + trailer
        if level == LEVEL_PRIVACY:
            body = self._server_seal.update(body)
        return body, self._mac(self._server_sign, self._server_seal, seq, message)


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

"""Kerberos acceptor for DCE/RPC (auth type 16; inside SPNEGO for type 9 via :mod:`.spnego`).

MS-RPCE 3.3.1.5.2 / MS-KILE 3.4.5 "DCE style": the client's AP-REQ (mutual
authentication) is answered with an AP-REP carrying a fresh subkey; the client's
third leg is its own AP-REP (in alter_context or auth3).  Per-PDU protection uses
the subkey: RFC 4121 CFX tokens for AES (RRC 28, EC 16 as Windows sends them) and
RFC 4757 tokens for rc4-hmac.  With DCE header signing the PDU header and sec_trailer
enter the checksum (CFX and RC4 alike) as sign-only buffers (PROTOCOL.md §10).  Our sequence numbers
start at the AP-REP's seq-number (RFC 4121 §4.2.6).  impacket's client wraps Kerberos
in SPNEGO (type 9); Samba and Windows may send a bare AP-REQ with type 16.  Service
keys come from the cluster's principal database.
"""

from __future__ import annotations

import datetime as dt
import hmac as hmaclib
import os
import struct
from typing import Any

from impacket.krb5 import constants
from impacket.krb5.asn1 import AP_REP, AP_REQ, Authenticator, EncAPRepPart, EncTicketPart
from impacket.krb5.crypto import Key, _enctype_table
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from fakegc import crypto
from fakegc.rpc.auth.base import (
    LEVEL_PRIVACY,
    RPC_C_AUTHN_GSS_KERBEROS,
    RPC_C_AUTHN_GSS_NEGOTIATE,
    AuthError,
    Credentials,
    StepResult,
    protect_by_copy,
)
from fakegc.wire.der import DerError, length_at

_RC4_WRAP_PREFIX = b"\x60\x2b\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"  # GSS framing, 45-byte token
_RC4_MIC_PREFIX = b"\x60\x23\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"  # 37-byte token

__all__ = ["KerberosContext", "KerberosProvider", "SpnegoKerberosProvider"]
_CFX_HEAD = struct.Struct(">2sBBHHQ")  # RFC 4121 §4.2.6.2 Wrap token header
_MIC_HEAD = struct.Struct(">2sB5sQ")  # RFC 4121 §4.2.6.1 MIC token header
_FILLER = b"\xff" * 16  # EC = 16 bytes of filler before the header copy (RFC 4121 §4.2.4)

KRB5_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
USAGE_ACCEPTOR_SEAL, USAGE_ACCEPTOR_SIGN, USAGE_INITIATOR_SEAL, USAGE_INITIATOR_SIGN = 22, 23, 24, 25
MAX_SKEW = 300.0


def _strip_gss_header(token: bytes) -> bytes:
    """A GSS InitialContextToken (0x60 … OID, 2-byte TOK_ID, body) → body; bare tokens unchanged."""
    if not token or token[0] != 0x60:
        return token
    try:
        _, hl = length_at(token, 1)
    except DerError:
        raise AuthError("bad GSS token length") from None
    off = 1 + hl
    if token[off:off + len(KRB5_OID)] != KRB5_OID:
        raise AuthError("GSS token is not Kerberos")
    off += len(KRB5_OID)
    return token[off + 2:]


def _iov_encrypt(profile: Any, key: Key, usage: int, header: bytes, body: bytes, trailer: bytes,
                 tail: bytes) -> bytes:
    """RFC 3961 simplified-profile encryption with sign-only buffers (MIT's krb5_k_encrypt_iov).

    DCE header signing (MS-RPCE 3.3.1.5.2.2, PROTOCOL.md §10): the PDU header and the
    sec_trailer enter the HMAC between confounder and body, but are not encrypted.
    ``tail`` is the CFX filler plus the token-header copy (RFC 4121 §4.2.4).  Ke/Ki come
    from :mod:`fakegc.crypto`'s cache and AES-CTS runs on OpenSSL there.
    """
    ke, ki = crypto.derived_keys(key, usage)
    conf = crypto.random_bytes(profile.blocksize)
    mac = hmaclib.digest(ki, conf + header + body + trailer + tail, "sha1")[:profile.macsize]
    return crypto.cts_encrypt(ke, conf + body + tail) + mac


def _iov_decrypt(profile: Any, key: Key, usage: int, cipher: bytes, header: bytes, trailer: bytes,
                 body_len: int) -> bytes:
    """Inverse of :func:`_iov_encrypt`: returns body + tail (without the confounder)."""
    if len(cipher) < profile.blocksize + profile.macsize:
        raise AuthError("CFX wrap too short")
    ke, ki = crypto.derived_keys(key, usage)
    plain = crypto.cts_decrypt(ke, bytes(cipher[:-profile.macsize]))
    conf, rest = plain[:profile.blocksize], plain[profile.blocksize:]
    mac = hmaclib.digest(ki, conf + header + rest[:body_len] + trailer + rest[body_len:],
                         "sha1")[:profile.macsize]
    if not hmaclib.compare_digest(mac, cipher[-profile.macsize:]):
        raise AuthError("CFX wrap does not verify (tampered, or header signing mismatch)")
    return rest


class KerberosContext:
    """One acceptor context (see the module docstring)."""

    mech = "kerberos"

    def __init__(self, provider: KerberosProvider) -> None:
        self.provider = provider
        self.auth_type = RPC_C_AUTHN_GSS_KERBEROS
        self.complete = False
        self.user: str | None = None
        self.domain: str | None = None
        self.service: str | None = None
        self._state = 0
        self._session: Key | None = None
        self.key: Key | None = None  # the acceptor subkey: protects every PDU
        self._send_seq = 0
        self._recv_seq = 0
        self.mutual = True  # False: no AP-REP was asked for, so no acceptor subkey either
        self._macs: dict[bytes, crypto.Hmac] = {}  # HMAC-SHA1 states per Ki (protect_into)

    # -- token exchange -------------------------------------------------------------
    def step(self, token: bytes) -> StepResult:
        """Leg 1: AP-REQ → AP-REP (+subkey); leg 3: the client's AP-REP → complete.

        Tokens are bare or GSS-framed Kerberos; SPNEGO framing is
        :mod:`fakegc.rpc.auth.spnego`'s business.
        """
        if self._state == 0:
            ap_rep = self._accept(_strip_gss_header(token))
            if ap_rep is None:  # the client did not ask for mutual authentication
                self._state = 2
                self.complete = True
                return StepResult(None, True)
            self._state = 1
            return StepResult(ap_rep, False)
        if self._state == 1:
            self._third_leg(_strip_gss_header(token))
            self._state = 2
            self.complete = True
            return StepResult(None, True)
        raise AuthError("unexpected token after the context completed")

    def _accept(self, data: bytes) -> bytes | None:
        try:
            ap_req = decoder.decode(data, asn1Spec=AP_REQ())[0]
        except Exception:  # noqa: BLE001 - hostile token: any decode failure is AuthError
            raise AuthError("malformed AP-REQ") from None
        ticket = ap_req["ticket"]
        sname = "/".join(str(x) for x in ticket["sname"]["name-string"])
        if sname.lower() not in self.provider.accepted:
            raise AuthError(f"ticket for {sname}, not for this server (KRB_AP_ERR_NOT_US)")
        etype = int(ticket["enc-part"]["etype"])
        key_bytes = self.provider.creds.service_keys(sname).get(etype)
        if key_bytes is None:
            raise AuthError(f"no key of etype {etype} for {sname}")
        try:
            etp = decoder.decode(crypto.decrypt(Key(etype, key_bytes), 2,
                                                               bytes(ticket["enc-part"]["cipher"])),
                                 asn1Spec=EncTicketPart())[0]
        except Exception:  # noqa: BLE001 - hostile token: any decrypt failure is AuthError
            raise AuthError("ticket does not decrypt (wrong key: KRB_AP_ERR_BAD_INTEGRITY)") from None
        session = Key(int(etp["key"]["keytype"]), bytes(etp["key"]["keyvalue"]))
        try:
            auth = decoder.decode(_enctype_table[session.enctype].decrypt(
                session, 11, bytes(ap_req["authenticator"]["cipher"])), asn1Spec=Authenticator())[0]
        except Exception:  # noqa: BLE001 - hostile token: any decrypt failure is AuthError
            raise AuthError("authenticator does not decrypt (KRB_AP_ERR_BAD_INTEGRITY)") from None
        cname = "/".join(str(x) for x in auth["cname"]["name-string"])
        tname = "/".join(str(x) for x in etp["cname"]["name-string"])
        if cname.lower() != tname.lower():
            raise AuthError("authenticator and ticket name different clients (KRB_AP_ERR_BADMATCH)")
        now = dt.datetime.now(dt.UTC)
        ctime = dt.datetime.strptime(str(auth["ctime"]), "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
        if abs((ctime - now).total_seconds()) > MAX_SKEW:
            raise AuthError("clock skew too great (KRB_AP_ERR_SKEW)")
        if not self.provider.remember(cname, str(auth["ctime"]), int(auth["cusec"])):
            raise AuthError("authenticator replayed (KRB_AP_ERR_REPEAT)")
        if dt.datetime.strptime(str(etp["endtime"]), "%Y%m%d%H%M%SZ").replace(
                tzinfo=dt.UTC) < now - dt.timedelta(seconds=MAX_SKEW):
            raise AuthError("ticket expired (KRB_AP_ERR_TKT_EXPIRED)")
        self.user, self.domain = cname, str(etp["crealm"])
        self.service = sname
        self._session = session
        opts = ap_req["ap-options"]
        if not (len(opts) > 2 and opts[2]):
            # no mutual-required: no AP-REP (RFC 4120 §3.2.4); the initiator's subkey, else
            # the session key, protects the messages, and both sides count from the
            # initiator's sequence number (RFC 4121 §4.2.6)
            self.mutual = False
            self.key = (Key(int(auth["subkey"]["keytype"]), bytes(auth["subkey"]["keyvalue"]))
                        if auth["subkey"].hasValue() else session)
            seq0 = int(auth["seq-number"]) if auth["seq-number"].hasValue() else 0
            self._send_seq = self._recv_seq = seq0
            return None
        subkey_etype = session.enctype
        self.key = Key(subkey_etype, os.urandom(_enctype_table[subkey_etype].keysize))
        seq = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        enc = EncAPRepPart()
        enc["ctime"] = str(auth["ctime"])
        enc["cusec"] = int(auth["cusec"])
        enc["subkey"] = noValue
        enc["subkey"]["keytype"] = self.key.enctype
        enc["subkey"]["keyvalue"] = self.key.contents
        enc["seq-number"] = seq
        rep = AP_REP()
        rep["pvno"] = 5
        rep["msg-type"] = int(constants.ApplicationTagNumbers.AP_REP.value)
        rep["enc-part"] = noValue
        rep["enc-part"]["etype"] = session.enctype
        rep["enc-part"]["cipher"] = _enctype_table[session.enctype].encrypt(session, 12,
                                                                           encoder.encode(enc), None)
        # RFC 4121 §4.2.6: our sequence numbers start at the AP-REP's seq-number (MIT with
        # replay detection, as Samba asks for with type 16, checks it)
        self._send_seq = seq
        self._recv_seq = int(auth["seq-number"]) if auth["seq-number"].hasValue() else 0
        return bytes(encoder.encode(rep))

    def _third_leg(self, data: bytes) -> None:
        try:
            rep = decoder.decode(data, asn1Spec=AP_REP())[0]
        except Exception:  # noqa: BLE001 - hostile token: any decode failure is AuthError
            raise AuthError("third leg is not an AP-REP") from None
        cipher = bytes(rep["enc-part"]["cipher"])
        assert self._session is not None and self.key is not None
        # impacket encrypts its AP-REP under the session key with the subkey's profile
        for profile in {self._session.enctype, self.key.enctype}:
            try:
                _enctype_table[profile].decrypt(Key(profile, self._session.contents), 12, cipher)
                return
            except Exception:  # noqa: BLE001, S112 - not this profile: try the other one
                continue
        raise AuthError("third-leg AP-REP does not decrypt")

    # -- per-PDU protection ---------------------------------------------------------
    def signature_size(self, level: int = LEVEL_PRIVACY) -> int:
        """RC4: wrap 45, MIC 37; AES CFX: wrap 76 (EC 16, RRC 28), MIC 28."""
        rc4 = self.key is not None and self.key.enctype == 23
        if level == LEVEL_PRIVACY:
            return 45 if rc4 else 76
        return 37 if rc4 else 28

    def verify(self, level: int, header: bytes, body: bytes, trailer: bytes, signature: bytes,
               header_sign: bool) -> bytes:
        """Check the client's MIC or unwrap its sealed body."""
        if self.key is None or not self.complete:
            raise AuthError("security context not established")
        try:
            if self.key.enctype == 23:
                out = self._rc4_verify(level, header, body, trailer, signature, header_sign)
            else:
                out = self._cfx_verify(level, header, body, trailer, signature, header_sign)
        except AuthError:
            raise
        except Exception as exc:  # noqa: BLE001 - hostile token: any failure is AuthError
            raise AuthError(f"malformed GSS token: {exc!r}") from None
        self._recv_seq += 1
        return out

    def protect(self, level: int, header: bytes, body: bytes, trailer: bytes,
                header_sign: bool) -> tuple[bytes, bytes]:
        """Seal or sign an answer with the acceptor's flags and keys."""
        if self.key is None:
            raise AuthError("security context not established")
        seq = self._send_seq
        self._send_seq += 1
        if self.key.enctype == 23:
            return self._rc4_protect(level, header, body, trailer, seq, header_sign)
        return self._cfx_protect(level, header, body, trailer, seq, header_sign)

    def protect_into(self, level: int, out: memoryview, start: int, body: int, trailer: int,
                     plain: bytes | memoryview, header_sign: bool) -> None:
        """:meth:`protect` into an answer buffer (fakegc.rpc.auth.legs.protect_response).

        An AES wrap (RFC 4121 §4.2.4, EC 16, RRC 28) is laid out without building it whole:
        after the rotation the body holds the ciphertext of ``plain`` (written there by
        :func:`~fakegc.crypto.cts_encrypt_parts`), and the token is the header, the CTS-swapped
        last two blocks (filler, token-header copy), the HMAC-SHA1-96 and the confounder's
        block.  The MAC reads the parts where they lie (:class:`~fakegc.crypto.Hmac` states).
        An AES MIC (RFC 4121 §4.2.6.1) is the token header and an HMAC-SHA1-96 under Kc over
        the parts where they lie.  rc4-hmac goes through :meth:`protect`.
        """
        key = self.key
        if key is None or key.enctype == 23 or len(plain) % 16:
            protect_by_copy(self, level, out, start, body, trailer, plain, header_sign)
            return
        seq = self._send_seq
        self._send_seq = seq + 1
        end = trailer + 8
        if level != LEVEL_PRIVACY:  # the body is 16-aligned: no MIC padding (see _cfx_protect)
            tok = _MIC_HEAD.pack(b"\x04\x04", 0x01 | (0x04 if self.mutual else 0), b"\xff" * 5, seq)
            kc = crypto.checksum_key(key, USAGE_ACCEPTOR_SIGN)
            mic = self._macs.get(kc)
            if mic is None:
                mic = self._macs[kc] = crypto.Hmac(kc, "sha1")
            out[body:trailer] = plain
            parts = (out[start:end], tok) if header_sign else (plain, tok)
            out[end:end + 28] = tok + mic.digest(*parts)[:12]
            return
        flags = 0x03 | (0x04 if self.mutual else 0)  # SentByAcceptor | Sealed | AcceptorSubkey
        tail = _FILLER + _CFX_HEAD.pack(b"\x05\x04", flags, 0xFF, 16, 0, seq)
        ke, ki = crypto.derived_keys(key, USAGE_ACCEPTOR_SEAL)
        mac = self._macs.get(ki)
        if mac is None:
            mac = self._macs[ki] = crypto.Hmac(ki, "sha1")
        conf = crypto.random_bytes(16)
        if header_sign:  # MIT krb5_k_encrypt_iov: sign-only header and trailer (_iov_encrypt)
            checksum = mac.digest(conf, out[start:body], plain, out[trailer:end], tail)
        else:
            checksum = mac.digest(conf, plain, tail)
        c_conf, c_last = crypto.cts_encrypt_parts(ke, conf, plain, tail, out[body:])
        out[end:end + 76] = _CFX_HEAD.pack(b"\x05\x04", flags, 0xFF, 16, 28, seq) + c_last + checksum[:12] + c_conf

    # RFC 4757 (rc4-hmac) --------------------------------------------------------------------
    # Token: 8 header bytes, SND_SEQ (RC4 under Kseq), SGN_CKSUM (HMAC-MD5 under Ksign, first 8),
    # and for wrap a confounder; RC4 under Kcrypt covers confounder + data.  With DCE header
    # signing the PDU header and sec_trailer enter the checksum around the data as sign-only
    # buffers, as MIT's kg_make_checksum_iov_v1 orders them (header, confounder, buffers).
    def _rc4_parts(self, header: bytes, body: bytes, trailer: bytes, header_sign: bool,
                   mic: bool) -> bytes:
        if header_sign:
            return header + body + trailer
        if mic:  # RFC 1964 MIC over the body padded to 4 (impacket's GSS_GetMIC, Samba agree)
            pad = (4 - len(body) % 4) & 3
            return body + bytes([pad]) * pad
        return body

    def _rc4_protect(self, level: int, header: bytes, body: bytes, trailer: bytes, seq: int,
                     header_sign: bool) -> tuple[bytes, bytes]:
        assert self.key is not None
        key = self.key.contents
        snd_seq = struct.pack(">L", seq) + b"\xff" * 4  # the acceptor's direction
        if level == LEVEL_PRIVACY:
            tok8 = b"\x02\x01\x11\x00\x10\x00\xff\xff"
            confounder = crypto.random_bytes(8)
            signed = confounder + self._rc4_parts(header, body, trailer, header_sign, mic=False)
            cksum = crypto.rc4_checksum(key, 13, tok8 + signed)
            sealed = crypto.arc4(crypto.rc4_kcrypt(key, snd_seq[:4]), confounder + body)
            token = tok8 + crypto.arc4(crypto.rc4_kseq(key, cksum), snd_seq) + cksum + sealed[:8]
            return sealed[8:], _RC4_WRAP_PREFIX + token
        tok8 = b"\x01\x01\x11\x00\xff\xff\xff\xff"
        cksum = crypto.rc4_checksum(key, 15, tok8 + self._rc4_parts(header, body, trailer, header_sign, mic=True))
        return body, _RC4_MIC_PREFIX + tok8 + crypto.arc4(crypto.rc4_kseq(key, cksum), snd_seq) + cksum

    def _rc4_verify(self, level: int, header: bytes, body: bytes, trailer: bytes, signature: bytes,
                    header_sign: bool) -> bytes:
        assert self.key is not None
        key = self.key.contents
        tok = signature[13:]
        if level == LEVEL_PRIVACY:
            if len(tok) < 32 or tok[:2] != b"\x02\x01":
                raise AuthError("not an RC4 wrap token")
            cksum = tok[16:24]
            snd_seq = crypto.arc4(crypto.rc4_kseq(key, cksum), tok[8:16])
            plain = crypto.arc4(crypto.rc4_kcrypt(key, snd_seq[:4]), tok[24:32] + body)
            confounder, data = plain[:8], plain[8:]
            signed = confounder + self._rc4_parts(header, data, trailer, header_sign, mic=False)
            if not hmaclib.compare_digest(crypto.rc4_checksum(key, 13, tok[:8] + signed), cksum):
                raise AuthError("RC4 wrap checksum mismatch")
            return data
        if len(tok) < 24 or tok[:2] != b"\x01\x01":
            raise AuthError("not an RC4 MIC token")
        signed = self._rc4_parts(header, body, trailer, header_sign, mic=True)
        if not hmaclib.compare_digest(crypto.rc4_checksum(key, 15, tok[:8] + signed), tok[16:24]):
            raise AuthError("RC4 MIC mismatch")
        return body

    # RFC 4121 (AES CFX) ----------------------------------------------------------------------
    def _cfx_verify(self, level: int, header: bytes, body: bytes, trailer: bytes, signature: bytes,
                    header_sign: bool) -> bytes:
        assert self.key is not None
        profile = _enctype_table[self.key.enctype]
        if level == LEVEL_PRIVACY:
            tok = signature[:16]
            if tok[:2] != b"\x05\x04" or tok[2] & 0x01:
                raise AuthError("not an initiator CFX wrap token")
            ec, rrc = struct.unpack(">HH", tok[4:8])
            rotated = signature[16:] + body
            k = (rrc + ec) % len(rotated)
            cipher = rotated[k:] + rotated[:k]
            try:
                if header_sign:
                    plain = _iov_decrypt(profile, self.key, USAGE_INITIATOR_SEAL, cipher, header,
                                         trailer, len(body))
                else:
                    plain = crypto.decrypt(self.key, USAGE_INITIATOR_SEAL, cipher)
            except AuthError:
                raise
            except Exception:  # noqa: BLE001 - hostile token: any decrypt failure is AuthError
                raise AuthError("CFX wrap does not decrypt (tampered)") from None
            if plain[-16:-14] != b"\x05\x04" or plain[-8:] != tok[8:16]:
                raise AuthError("CFX wrap header mismatch")
            return plain[: len(plain) - ec - 16]
        tok = signature[:16]
        if tok[:2] != b"\x04\x04":
            raise AuthError("not a CFX MIC token")
        pad = (4 - len(body) % 4) & 3
        data = (header + body + trailer) if header_sign else body + bytes([pad]) * pad
        expected = crypto.checksum(self.key, USAGE_INITIATOR_SIGN, data + tok,
                                    16 if self.key.enctype == 18 else 15)
        if not hmaclib.compare_digest(expected, signature[16:28]):
            raise AuthError("CFX MIC mismatch")
        return body

    def _cfx_protect(self, level: int, header: bytes, body: bytes, trailer: bytes, seq: int,
                     header_sign: bool) -> tuple[bytes, bytes]:
        assert self.key is not None
        profile = _enctype_table[self.key.enctype]
        flags = 0x01 | (0x04 if self.mutual else 0)  # SentByAcceptor | AcceptorSubkey
        if level == LEVEL_PRIVACY:
            ec, rrc = 16, 28
            flags |= 0x02  # Sealed
            head0 = b"\x05\x04" + bytes([flags, 0xFF]) + struct.pack(">HHQ", ec, 0, seq)
            if header_sign:
                cipher = _iov_encrypt(profile, self.key, USAGE_ACCEPTOR_SEAL, header, body,
                                      trailer, b"\xff" * ec + head0)
            else:
                cipher = crypto.encrypt(self.key, USAGE_ACCEPTOR_SEAL, body + b"\xff" * ec + head0)
            k = (rrc + ec) % len(cipher)
            rotated = cipher[-k:] + cipher[:-k]
            head = b"\x05\x04" + bytes([flags, 0xFF]) + struct.pack(">HHQ", ec, rrc, seq)
            split = 16 + rrc + ec
            return rotated[split:], head + rotated[:split]
        tok = b"\x04\x04" + bytes([flags]) + b"\xff" * 5 + struct.pack(">Q", seq)
        pad = (4 - len(body) % 4) & 3
        data = (header + body + trailer) if header_sign else body + bytes([pad]) * pad
        return body, tok + crypto.checksum(self.key, USAGE_ACCEPTOR_SIGN, data + tok,
                                            16 if self.key.enctype == 18 else 15)


class KerberosProvider:
    """Acceptor factory for auth type 16 (bare Kerberos, DCE style)."""

    auth_type = RPC_C_AUTHN_GSS_KERBEROS

    def __init__(self, creds: Credentials, principals: list[str]) -> None:
        self.creds = creds
        self.accepted = {p.lower() for p in principals}
        self._replay: set[tuple[str, str, int]] = set()

    def remember(self, cname: str, ctime: str, cusec: int) -> bool:
        """Record an authenticator; False when it was seen before (a replay)."""
        key = (cname.lower(), ctime, cusec)
        if key in self._replay:
            return False
        if len(self._replay) > 100_000:
            self._replay.clear()
        self._replay.add(key)
        return True

    def new_context(self) -> KerberosContext:
        """A fresh acceptor context."""
        return KerberosContext(self)


class SpnegoKerberosProvider:
    """Auth type 9 for a server with Kerberos service principals: Kerberos *or* NTLM in SPNEGO.

    Kept for callers that build providers from (credentials, SPNs); the work is done by
    :class:`fakegc.rpc.auth.spnego.SpnegoProvider` over a bare :class:`KerberosProvider`
    and an :class:`~fakegc.rpc.auth.ntlm.NtlmProvider` (``host`` names it in CHALLENGE).
    """

    auth_type = RPC_C_AUTHN_GSS_NEGOTIATE

    def __init__(self, creds: Credentials, principals: list[str], host: str | None = None) -> None:
        from fakegc.rpc.auth.ntlm import NtlmProvider
        from fakegc.rpc.auth.spnego import SpnegoProvider

        if host is None:  # "exchangeAB/gc02.contoso.test" → "gc02"
            host = principals[0].split("/")[-1].split(".")[0] if principals else "gc01"
        self.kerberos = KerberosProvider(creds, principals)
        self._spnego = SpnegoProvider(NtlmProvider(creds, host=host), self.kerberos)

    def new_context(self) -> Any:
        """A fresh SPNEGO context (:class:`fakegc.rpc.auth.spnego.SpnegoContext`)."""
        return self._spnego.new_context()

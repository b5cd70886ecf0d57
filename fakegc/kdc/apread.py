"""Strict DER readers for what a TGS-REQ or a pre-authenticated AS-REQ carries (RFC 4120 §5):
EncryptedData (§5.2.9), PA-ENC-TS-ENC (§5.2.7.2), AP-REQ with its Ticket (§5.5.1, §5.3),
EncTicketPart (§5.3) and Authenticator (§5.5.1).

Strict as :mod:`fakegc.kdc.derread` is (whose primitives they use): anything else raises
:class:`DerError` and the caller falls back to pyasn1, the reference codec;
tests/unit/test_kdc_derread.py proves them equal to pyasn1 on random valid messages.
"""

from __future__ import annotations

from typing import Any

from fakegc.kdc.derread import (
    MICROSECONDS,
    NT_PRINCIPAL,
    SIGNED_OR_UNSIGNED,
    UINT32,
    app_fields,
    bits32,
    fields,
    inner,
    integer,
    principal,
)
from fakegc.wire.der import DerError, tlv

__all__ = [
    "ApReq",
    "AuthenticatorPart",
    "EncData",
    "Ticket",
    "TicketPart",
    "enc_key",
    "flags",
    "ktime",
    "octets",
    "parse_ap_req",
    "parse_authenticator",
    "read_enc_data",
    "read_enc_ticket_part",
    "read_pa_enc_ts",
    "read_ticket",
    "string",
]


def string(data: bytes, span: tuple[int, int] | None) -> str:
    """A KerberosString / Realm member (GeneralString, UTF-8 in practice)."""
    s, e = inner(data, span, 0x1B)
    return data[s:e].decode("utf-8")


def octets(data: bytes, span: tuple[int, int] | None) -> bytes:
    """An OCTET STRING member."""
    s, e = inner(data, span, 0x04)
    return data[s:e]


def ktime(data: bytes, span: tuple[int, int] | None) -> str:
    """A KerberosTime member: GeneralizedTime "YYYYMMDDHHMMSSZ" (RFC 4120 §5.2.3)."""
    s, e = inner(data, span, 0x18)
    text = data[s:e].decode("ascii")
    if len(text) != 15 or text[14] != "Z" or not text[:14].isdigit():
        raise DerError("KerberosTime form")
    return text


def flags(data: bytes, span: tuple[int, int] | None) -> int:
    """KerberosFlags (BIT STRING) as a 32-bit int, bit 0 the most significant (§5.2.8)."""
    s, e = inner(data, span, 0x03)
    return bits32(data, s, e)


def enc_key(data: bytes, span: tuple[int, int] | None) -> tuple[int, bytes]:
    """EncryptionKey (§5.2.9): (keytype, keyvalue)."""
    s, e = inner(data, span, 0x30)
    f = fields(data, s, e, 1)
    return integer(data, f[0]), octets(data, f[1])


class EncData:
    """EncryptedData (RFC 4120 §5.2.9)."""

    __slots__ = ("cipher", "etype", "kvno")

    def __init__(self, etype: int, kvno: int | None, cipher: bytes) -> None:
        self.etype, self.kvno, self.cipher = etype, kvno, cipher


def _enc_data_at(data: bytes, s: int, e: int) -> EncData:
    f = fields(data, s, e, 2)
    return EncData(integer(data, f[0]), None if f[1] is None else integer(data, f[1], UINT32),
                   octets(data, f[2]))


def read_enc_data(data: bytes) -> EncData:
    """A whole EncryptedData (the PA-ENC-TIMESTAMP padata-value)."""
    tag, s, e = tlv(data, 0, len(data))
    if tag != 0x30 or e != len(data):
        raise DerError("EncryptedData")
    return _enc_data_at(data, s, e)


def read_pa_enc_ts(data: bytes) -> str:
    """PA-ENC-TS-ENC (§5.2.7.2): the patimestamp."""
    tag, s, e = tlv(data, 0, len(data))
    if tag != 0x30 or e != len(data):
        raise DerError("PA-ENC-TS-ENC")
    f = fields(data, s, e, 1)
    if f[1] is not None:
        integer(data, f[1], MICROSECONDS)
    return ktime(data, f[0])


class ApReq:
    """AP-REQ (§5.5.1): options, the Ticket's exact DER (read with :func:`read_ticket`,
    or recognised by the KDC's TGT cache) and the authenticator's EncryptedData."""

    __slots__ = ("authenticator", "options", "ticket")

    def __init__(self, options: int, ticket: bytes, authenticator: EncData) -> None:
        self.options, self.ticket, self.authenticator = options, ticket, authenticator


def parse_ap_req(data: bytes) -> ApReq:
    """An AP-REQ [APPLICATION 14], read in full."""
    f = app_fields(data, 0x6E, 4, "an AP-REQ")
    if integer(data, f[0]) != 5 or integer(data, f[1]) != 14:
        raise DerError("AP-REQ pvno/msg-type")
    options = flags(data, f[2])
    if f[3] is None:
        raise DerError("no ticket")
    tag, _, te = tlv(data, f[3][0], f[3][1])
    if tag != 0x61 or te != f[3][1]:
        raise DerError("not a Ticket")
    as_, ae = inner(data, f[4], 0x30)
    return ApReq(options, data[f[3][0]:te], _enc_data_at(data, as_, ae))


class Ticket:
    """Ticket (§5.3): realm, sname and the encrypted part."""

    __slots__ = ("enc", "realm", "sname")

    def __init__(self, realm: str, sname: list[str], enc: EncData) -> None:
        self.realm, self.sname, self.enc = realm, sname, enc


def read_ticket(data: bytes) -> Ticket:
    """A Ticket [APPLICATION 1]."""
    t = app_fields(data, 0x61, 3, "a Ticket")
    if integer(data, t[0]) != 5:
        raise DerError("tkt-vno")
    realm = string(data, t[1])
    sname, _, _ = principal(data, t[2])
    es, ee = inner(data, t[3], 0x30)
    return Ticket(realm, sname, _enc_data_at(data, es, ee))


class TicketPart:
    """EncTicketPart (§5.3), times as KerberosTime strings."""

    __slots__ = (
        "_session",
        "authorization_data",
        "authtime",
        "cname",
        "cname_type",
        "crealm",
        "endtime",
        "flags",
        "key",
        "keytype",
        "renew_till",
        "starttime",
    )

    def __init__(self) -> None:
        self.flags = 0
        self.keytype = 0
        self.key = b""
        self.crealm = ""
        self.cname: list[str] = []
        self.cname_type = NT_PRINCIPAL
        self.authtime = ""
        self.starttime: str | None = None
        self.endtime = ""
        self.renew_till: str | None = None
        self.authorization_data: bytes | None = None  # the AuthorizationData DER, as it is
        self._session: Any = None

    def session_key(self) -> Any:
        """The session key as an impacket ``Key`` (made once per opened ticket)."""
        if self._session is None:
            from impacket.krb5.crypto import Key

            self._session = Key(self.keytype, self.key)
        return self._session

    def flag(self, bit: int) -> bool:
        """TicketFlags bit ``bit`` (RFC 4120 §5.3 numbering)."""
        return bool(self.flags & (0x80000000 >> bit))


def read_enc_ticket_part(data: bytes) -> TicketPart:
    """EncTicketPart [APPLICATION 3] (decrypted ticket enc-part, usage 2)."""
    f = app_fields(data, 0x63, 10, "an EncTicketPart")
    out = TicketPart()
    out.flags = flags(data, f[0])
    out.keytype, out.key = enc_key(data, f[1])
    out.crealm = string(data, f[2])
    out.cname, out.cname_type, _ = principal(data, f[3])
    if f[4] is None:
        raise DerError("no transited")
    out.authtime = ktime(data, f[5])
    if f[6] is not None:
        out.starttime = ktime(data, f[6])
    out.endtime = ktime(data, f[7])
    if f[8] is not None:
        out.renew_till = ktime(data, f[8])
    if f[10] is not None:
        out.authorization_data = data[f[10][0]:f[10][1]]
    return out


class AuthenticatorPart:
    """Authenticator (§5.5.1), decrypted."""

    __slots__ = (
        "checksum",
        "cksumtype",
        "cname",
        "crealm",
        "ctime",
        "cusec",
        "seq_number",
        "subkey",
    )

    def __init__(self) -> None:
        self.crealm = ""
        self.cname: list[str] = []
        self.cksumtype: int | None = None
        self.checksum = b""
        self.cusec = 0
        self.ctime = ""
        self.subkey: tuple[int, bytes] | None = None
        self.seq_number: int | None = None


def parse_authenticator(data: bytes) -> AuthenticatorPart:
    """Authenticator [APPLICATION 2], read in full."""
    f = app_fields(data, 0x62, 8, "an Authenticator")
    if integer(data, f[0]) != 5:
        raise DerError("authenticator-vno")
    out = AuthenticatorPart()
    out.crealm = string(data, f[1])
    out.cname, _, _ = principal(data, f[2])
    if f[3] is not None:
        cs, ce = inner(data, f[3], 0x30)
        c = fields(data, cs, ce, 1)
        out.cksumtype = integer(data, c[0])
        out.checksum = octets(data, c[1])
    out.cusec = integer(data, f[4], MICROSECONDS)
    out.ctime = ktime(data, f[5])
    if f[6] is not None:
        out.subkey = enc_key(data, f[6])
    if f[7] is not None:
        out.seq_number = integer(data, f[7], SIGNED_OR_UNSIGNED)
    return out

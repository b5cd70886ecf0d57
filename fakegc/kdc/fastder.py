"""Hand-written DER for everything the KDC sends (PROTOCOL.md §7): no pyasn1 on the hot path.

Each encoder is byte-identical to pyasn1's encoding of the matching impacket class
(proven by property tests in tests/unit/test_kdc_fastder.py):
KRB-ERROR (RFC 4120 §5.9.1), KDC-REP (§5.4.2: AS-REP [APPLICATION 11], TGS-REP
[APPLICATION 13]), EncKDCRepPart (EncASRepPart [25], EncTGSRepPart [26]), Ticket
(§5.3, [APPLICATION 1]), EncTicketPart ([APPLICATION 3]), EncryptedData and
EncryptionKey (§5.2.9), ETYPE-INFO2 (§5.2.7.5), METHOD-DATA (§5.9.1) and
AuthorizationData (§5.2.6).  Principal names are passed as their finished DER
(see :func:`principal_name`), so a reply can echo the request's bytes.
KerberosTime values are "YYYYMMDDHHMMSSZ" strings.
"""

from __future__ import annotations

from functools import lru_cache

from fakegc.wire.der import der, der_int

__all__ = [
    "AS_REP",
    "ENC_AS_REP_PART",
    "ENC_TGS_REP_PART",
    "TGS_REP",
    "authorization_data",
    "der",
    "der_int",
    "enc_kdc_rep_part",
    "enc_ticket_part",
    "encode_krb_error",
    "encrypted_data",
    "encryption_key",
    "etype_info2",
    "kdc_rep",
    "kflags",
    "krb_error_der",
    "ktime",
    "method_data",
    "principal_name",
    "ticket",
]

AS_REP = 0x6B
TGS_REP = 0x6D
ENC_AS_REP_PART = 0x79
ENC_TGS_REP_PART = 0x7A


def _gstr(text: str) -> bytes:
    return der(0x1B, text.encode("utf-8"))  # GeneralString (KerberosString, Realm)


def principal_name(components: list[str], name_type: int) -> bytes:
    """PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }."""
    names = der(0x30, b"".join(_gstr(c) for c in components))
    return der(0x30, der(0xA0, der_int(name_type)) + der(0xA1, names))


def encode_krb_error(code: int, realm: str, sname: list[str], sname_type: int, stime: str,
                     e_text: str | None = None, e_data: bytes | None = None,
                     cname: list[str] | None = None, crealm: str | None = None,
                     cname_type: int = 1) -> bytes:
    """KRB-ERROR ::= [APPLICATION 30] SEQUENCE {...} with ``stime`` as "YYYYMMDDHHMMSSZ", susec 0."""
    cname_der = principal_name(cname, cname_type) if crealm and cname else None
    return krb_error_der(code, realm, principal_name(sname, sname_type), stime, e_text, e_data,
                         cname_der, crealm)


_ERR_HEAD = b"\xa0\x03\x02\x01\x05\xa1\x03\x02\x01\x1e"


@lru_cache(maxsize=8)
def _stime_block(stime: str) -> bytes:
    return der(0xA4, der(0x18, stime.encode())) + b"\xa5\x03\x02\x01\x00"


@lru_cache(maxsize=256)
def _code_block(code: int) -> bytes:
    return der(0xA6, der_int(code))


@lru_cache(maxsize=256)
def _text_block(tag: int, text: str) -> bytes:
    return der(tag, _gstr(text))


def krb_error_der(code: int, realm: str, sname_der: bytes, stime: str, e_text: str | None = None,
                  e_data: bytes | None = None, cname_der: bytes | None = None,
                  crealm: str | None = None) -> bytes:
    """KRB-ERROR (§5.9.1) from finished PrincipalName DER (the request's own bytes, echoed)."""
    body = _ERR_HEAD + _stime_block(stime) + _code_block(code)
    if crealm and cname_der is not None:
        body += _text_block(0xA7, crealm) + der(0xA8, cname_der)
    body += _text_block(0xA9, realm) + der(0xAA, sname_der)
    if e_text:
        body += _text_block(0xAB, e_text)
    if e_data is not None:
        body += der(0xAC, der(0x04, e_data))
    return der(0x7E, der(0x30, body))


def ktime(text: str) -> bytes:
    """KerberosTime (GeneralizedTime, §5.2.3)."""
    return der(0x18, text.encode("ascii"))


def kflags(value: int) -> bytes:
    """KerberosFlags as impacket sends them: a 32-bit BIT STRING, bit 0 the MSB (§5.2.8)."""
    return b"\x03\x05\x00" + value.to_bytes(4, "big")


def encryption_key(keytype: int, keyvalue: bytes) -> bytes:
    """EncryptionKey ::= SEQUENCE { keytype [0] Int32, keyvalue [1] OCTET STRING }."""
    return der(0x30, der(0xA0, der_int(keytype)) + der(0xA1, der(0x04, keyvalue)))


def encrypted_data(etype: int, cipher: bytes, kvno: int | None = None) -> bytes:
    """EncryptedData ::= SEQUENCE { etype [0], kvno [1] OPTIONAL, cipher [2] }."""
    kv = der(0xA1, der_int(kvno)) if kvno is not None else b""
    return der(0x30, der(0xA0, der_int(etype)) + kv + der(0xA2, der(0x04, cipher)))


@lru_cache(maxsize=1024)
def _time_at(tag: int, text: str) -> bytes:
    """[tag] KerberosTime: the same few instants recur in every reply of a second."""
    return der(tag, der(0x18, text.encode("ascii")))


@lru_cache(maxsize=256)
def _flags_at(tag: int, value: int) -> bytes:
    return der(tag, kflags(value))


@lru_cache(maxsize=256)
def _at(tag: int, payload: bytes) -> bytes:
    """[tag] around a recurring payload (principal names)."""
    return der(tag, payload)


@lru_cache(maxsize=64)
def _realm_at(tag: int, realm: str) -> bytes:
    return der(tag, _gstr(realm))


def _key_at(tag: int, keytype: int, key: bytes) -> bytes:
    return der(tag, der(0x30, der(0xA0, der_int(keytype)) + der(0xA1, der(0x04, key))))


def ticket(realm: str, sname_der: bytes, etype: int, kvno: int | None, cipher: bytes) -> bytes:
    """Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }."""
    return der(0x61, der(0x30, b"\xa0\x03\x02\x01\x05" + _realm_at(0xA1, realm)
                         + _at(0xA2, sname_der) + der(0xA3, encrypted_data(etype, cipher, kvno))))


def authorization_data(entries: list[tuple[int, bytes]]) -> bytes:
    """AuthorizationData ::= SEQUENCE OF SEQUENCE { ad-type [0], ad-data [1] OCTET STRING }."""
    return der(0x30, b"".join(der(0x30, der(0xA0, der_int(t)) + der(0xA1, der(0x04, v)))
                              for t, v in entries))


_TRANSITED = b"\xa4\x0b\x30\x09\xa0\x03\x02\x01\x00\xa1\x02\x04\x00"


def enc_ticket_part(flags: int, keytype: int, key: bytes, crealm: str, cname_der: bytes,
                    authtime: str, starttime: str | None, endtime: str, renew_till: str | None,
                    authz: bytes | None = None) -> bytes:
    """EncTicketPart ::= [APPLICATION 3] SEQUENCE {...} with empty transited (§5.3)."""
    body = (_flags_at(0xA0, flags) + _key_at(0xA1, keytype, key) + _realm_at(0xA2, crealm)
            + _at(0xA3, cname_der) + _TRANSITED + _time_at(0xA5, authtime))
    if starttime is not None:
        body += _time_at(0xA6, starttime)
    body += _time_at(0xA7, endtime)
    if renew_till is not None:
        body += _time_at(0xA8, renew_till)
    if authz is not None and authz != b"\x30\x00":  # empty AuthorizationData: left out
        body += der(0xAA, authz)
    return der(0x63, der(0x30, body))


@lru_cache(maxsize=64)
def _last_req(text: str) -> bytes:
    return der(0xA1, der(0x30, der(0x30, b"\xa0\x03\x02\x01\x00" + der(0xA1, ktime(text)))))


def enc_kdc_rep_part(app: int, keytype: int, key: bytes, last_req: str, nonce: int, flags: int,
                     authtime: str, starttime: str | None, endtime: str, renew_till: str | None,
                     srealm: str, sname_der: bytes) -> bytes:
    """EncKDCRepPart (§5.4.2) under EncASRepPart [25] or EncTGSRepPart [26] (``app``)."""
    body = (_key_at(0xA0, keytype, key) + _last_req(last_req) + der(0xA2, der_int(nonce))
            + _flags_at(0xA4, flags) + _time_at(0xA5, authtime))
    if starttime is not None:
        body += _time_at(0xA6, starttime)
    body += _time_at(0xA7, endtime)
    if renew_till is not None:
        body += _time_at(0xA8, renew_till)
    body += _realm_at(0xA9, srealm) + _at(0xAA, sname_der)
    return der(app, der(0x30, body))


def kdc_rep(app: int, padata: list[tuple[int, bytes]] | bytes | None, crealm: str, cname_der: bytes,
            ticket_der: bytes, etype: int, cipher: bytes, kvno: int | None = None) -> bytes:
    """KDC-REP (§5.4.2) under AS-REP [11] or TGS-REP [13] (``app``); ``padata`` as entries
    or as finished METHOD-DATA DER."""
    body = b"\xa0\x03\x02\x01\x05\xa1\x03\x02\x01" + (b"\x0b" if app == AS_REP else b"\x0d")
    if padata and padata != b"\x30\x00":  # an empty SEQUENCE OF is left out, as pyasn1's DER does
        body += der(0xA2, padata if isinstance(padata, bytes) else method_data(padata))
    body += (_realm_at(0xA3, crealm) + _at(0xA4, cname_der) + der(0xA5, ticket_der)
             + der(0xA6, encrypted_data(etype, cipher, kvno)))
    return der(app, der(0x30, body))


def method_data(entries: list[tuple[int, bytes]]) -> bytes:
    """METHOD-DATA / SEQUENCE OF PA-DATA { padata-type [1], padata-value [2] } (§5.2.7)."""
    return der(0x30, b"".join(der(0x30, der(0xA1, der_int(t)) + der(0xA2, der(0x04, v)))
                              for t, v in entries))


def etype_info2(entries: list[tuple[int, bytes | None]]) -> bytes:
    """ETYPE-INFO2 ::= SEQUENCE OF { etype [0], salt [1] KerberosString OPTIONAL } (§5.2.7.5)."""
    return der(0x30, b"".join(
        der(0x30, der(0xA0, der_int(etype)) + (der(0xA1, der(0x1B, salt)) if salt is not None else b""))
        for etype, salt in entries))

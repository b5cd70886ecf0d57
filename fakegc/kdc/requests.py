"""Client-side Kerberos request builders (RFC 4120 §5.4.1, §5.5.1) for tests and benchmarks.

impacket's client builds only what it sends itself; these build any AS-REQ, AP-REQ or
TGS-REQ a test needs (a chosen timestamp etype, a subkey, a body checksum or none,
PA-FX-FAST padding) from impacket's ASN.1 classes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from impacket.krb5 import constants
from impacket.krb5.asn1 import (
    AP_REQ,
    AS_REP,
    AS_REQ,
    PA_ENC_TS_ENC,
    TGS_REQ,
    Authenticator,
    EncASRepPart,
    EncryptedData,
    EncTGSRepPart,
    seq_set,
    seq_set_iter,
)
from impacket.krb5.crypto import Key, _checksum_table, _enctype_table
from impacket.krb5.types import KerberosTime, Principal, Ticket
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from fakegc.kdc.messages import raw_req_body

__all__ = ["ap_req", "as_req", "open_as_rep", "tgs_req"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_req(user: str, realm: str, key: Key | None = None, etypes: Sequence[int] = (18, 17, 23),
           ts_etype: int | None = None, nonce: int | None = None,
           options: Sequence[int] = (1, 8), service: str | None = None) -> bytes:
    """An AS-REQ; with ``key``, PA-ENC-TIMESTAMP encrypted with ``ts_etype`` (default: key's)."""
    req = AS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 10
    if key is not None:
        etype = ts_etype or key.enctype
        ts = PA_ENC_TS_ENC()
        ts["patimestamp"] = KerberosTime.to_asn1(_now())
        ts["pausec"] = random.randrange(999999)
        enc = EncryptedData()
        enc["etype"] = etype
        enc["cipher"] = _enctype_table[etype].encrypt(key, 1, encoder.encode(ts), None)
        req["padata"] = noValue
        req["padata"][0] = noValue
        req["padata"][0]["padata-type"] = 2
        req["padata"][0]["padata-value"] = encoder.encode(enc)
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags(list(options))
    seq_set(body, "cname", Principal(user, type=1).components_to_asn1)
    seq_set(body, "sname", Principal(service or f"krbtgt/{realm}", type=2).components_to_asn1)
    body["realm"] = realm
    body["till"] = KerberosTime.to_asn1(_now() + dt.timedelta(hours=8))
    body["nonce"] = random.getrandbits(31) if nonce is None else nonce
    seq_set_iter(body, "etype", tuple(etypes))
    return bytes(encoder.encode(req))


def open_as_rep(reply: bytes, key: Key) -> tuple[Any, Any, Key]:
    """(AS-REP, its decrypted EncKDCRepPart, the session key); tag 25 or MIT's 26 accepted."""
    rep = decoder.decode(reply, asn1Spec=AS_REP())[0]
    plain = _enctype_table[int(rep["enc-part"]["etype"])].decrypt(key, 3, bytes(rep["enc-part"]["cipher"]))
    try:
        enc = decoder.decode(plain, asn1Spec=EncASRepPart())[0]
    except Exception:  # noqa: BLE001 - not an EncASRepPart: try the TGS form
        enc = decoder.decode(plain, asn1Spec=EncTGSRepPart())[0]
    return rep, enc, Key(int(enc["key"]["keytype"]), bytes(enc["key"]["keyvalue"]))


def ap_req(ticket: Any, session: Key, user: str, realm: str, usage: int = 7,
           subkey: Key | None = None, checksum: tuple[int, bytes] | None = None,
           seq_number: int | None = None, cusec: int | None = None,
           ctime: dt.datetime | None = None, options: Sequence[int] = ()) -> bytes:
    """An AP-REQ for ``ticket`` (an AS-REP/TGS-REP ``ticket`` component or impacket Ticket)."""
    if not isinstance(ticket, Ticket):
        t = Ticket()
        t.from_asn1(ticket)
        ticket = t
    auth = Authenticator()
    auth["authenticator-vno"] = 5
    auth["crealm"] = realm
    seq_set(auth, "cname", Principal(user, type=1).components_to_asn1)
    auth["cusec"] = random.randrange(999999) if cusec is None else cusec
    auth["ctime"] = KerberosTime.to_asn1(ctime or _now())
    if checksum is not None:
        auth["cksum"] = noValue
        auth["cksum"]["cksumtype"] = checksum[0]
        auth["cksum"]["checksum"] = checksum[1]
    if subkey is not None:
        auth["subkey"] = noValue
        auth["subkey"]["keytype"] = subkey.enctype
        auth["subkey"]["keyvalue"] = subkey.contents
    if seq_number is not None:
        auth["seq-number"] = seq_number
    ap = AP_REQ()
    ap["pvno"] = 5
    ap["msg-type"] = 14
    ap["ap-options"] = constants.encodeFlags(list(options))
    seq_set(ap, "ticket", ticket.to_asn1)
    ap["authenticator"] = noValue
    ap["authenticator"]["etype"] = session.enctype
    ap["authenticator"]["cipher"] = _enctype_table[session.enctype].encrypt(
        session, usage, encoder.encode(auth), None)
    return bytes(encoder.encode(ap))


def tgs_req(tgt_rep: Any, session: Key, user: str, realm: str, service: str,
            subkey: Key | None = None, body_checksum: bool = True, fast: bool = False,
            etypes: Sequence[int] = (18,), nonce: int | None = None,
            cusec: int | None = None, ctime: dt.datetime | None = None) -> bytes:
    """A TGS-REQ for ``service`` with the TGT from ``tgt_rep``; the authenticator checksums the
    exact KDC-REQ-BODY bytes (as MIT does) unless ``body_checksum`` is False (as impacket)."""
    req = TGS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 12
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags([1])
    seq_set(body, "sname", Principal(service, type=2).components_to_asn1)
    body["realm"] = realm
    body["till"] = KerberosTime.to_asn1(_now() + dt.timedelta(hours=8))
    body["nonce"] = random.getrandbits(31) if nonce is None else nonce
    seq_set_iter(body, "etype", tuple(etypes))
    checksum = None
    if body_checksum:
        ctype = 16 if session.enctype == 18 else 15 if session.enctype == 17 else -138
        checksum = (ctype, _checksum_table[ctype].checksum(session, 6, raw_req_body(encoder.encode(req))))
    ap = ap_req(tgt_rep["ticket"], session, user, realm, 7, subkey, checksum, cusec=cusec, ctime=ctime)
    req["padata"] = noValue
    req["padata"][0] = noValue
    req["padata"][0]["padata-type"] = 1
    req["padata"][0]["padata-value"] = ap
    if fast:
        req["padata"][1] = noValue
        req["padata"][1]["padata-type"] = 136
        req["padata"][1]["padata-value"] = b"\x30\x00"
    return bytes(encoder.encode(req))

"""Reading KDC requests and writing KRB-ERRORs, without keys (RFC 4120 §5.4.1, §5.9.1).

:func:`peek` takes a request through the strict reader (:mod:`fakegc.kdc.layouts`,
:mod:`fakegc.kdc.derread`) and falls back to pyasn1, the reference codec, for anything
else (PROTOCOL.md §7); :func:`krb_error` writes a KRB-ERROR with every field MIT needs
(PROTOCOL.md §6.7), proven byte-identical to :func:`krb_error_pyasn1`.  KerberosTime
helpers (:func:`ktime_of`, :func:`epoch_of`) live here too.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from impacket.krb5 import constants
from impacket.krb5.asn1 import AS_REQ, KRB_ERROR, TGS_REQ, seq_set
from impacket.krb5.types import KerberosTime
from impacket.krb5.types import Principal as KPrincipal
from pyasn1.codec.der import decoder, encoder

from fakegc.kdc import fastder
from fakegc.kdc.derread import NT_PRINCIPAL, NT_SRV_INST, DerError, Request
from fakegc.kdc.layouts import read_kdc_req
from fakegc.wire.der import length_at

__all__ = [
    "clock_now",
    "epoch_of",
    "krb_error",
    "krb_error_pyasn1",
    "ktime_of",
    "peek",
    "peek_pyasn1",
    "raw_req_body",
    "reread",
]

_BAD = (DerError, IndexError, UnicodeDecodeError)
T = TypeVar("T")


# -- time: KerberosTime strings compare like the instants they name (RFC 4120 §5.2.3) --
@lru_cache(maxsize=256)
def ktime_of(secs: int) -> str:
    """KerberosTime "YYYYMMDDHHMMSSZ" of a POSIX second."""
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(secs))


@lru_cache(maxsize=1024)
def epoch_of(kt: str) -> int:
    """POSIX seconds of a KerberosTime; ValueError when it names no real instant."""
    return int(dt.datetime(int(kt[0:4]), int(kt[4:6]), int(kt[6:8]), int(kt[8:10]),
                           int(kt[10:12]), int(kt[12:14]), tzinfo=dt.UTC).timestamp())


def clock_now(offset: float) -> tuple[int, str]:
    """(POSIX second, its KerberosTime) of the KDC's clock (``ktime_of`` caches the text)."""
    secs = int(time.time() + offset)
    return secs, ktime_of(secs)


def _now(offset: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=offset)


# -- reading ----------------------------------------------------------------------------
def raw_req_body(data: bytes) -> bytes:
    """The exact bytes of KDC-REQ-BODY inside a KDC-REQ (the checksum covers these)."""
    _, hl = length_at(data, 1)  # [APPLICATION n]
    off = 1 + hl
    if data[off] != 0x30:
        raise ValueError("KDC-REQ is not a SEQUENCE")
    length, hl = length_at(data, off + 1)
    off += 1 + hl
    end = off + length
    while off < end:
        tag = data[off]
        clen, hl = length_at(data, off + 1)
        if tag == 0xA4:
            return data[off + 1 + hl: off + 1 + hl + clen]
        off += 1 + hl + clen
    raise ValueError("no req-body")


def _raw_pvno(data: bytes) -> int:
    """pvno read straight from the DER (0 when even that fails)."""
    try:
        _, hl = length_at(data, 1)
        off = 1 + hl
        _, hl = length_at(data, off + 1)
        off += 1 + hl
        if data[off] == 0xA1 and data[off + 2] == 0x02:
            n = data[off + 3]
            return int.from_bytes(data[off + 4: off + 4 + n], "big")
    except (IndexError, ValueError):
        pass
    return 0


def reread(reader: Callable[[bytes], T], spec: Callable[[], Any], raw: bytes) -> T:
    """``reader(raw)``; when the strict reader refuses, pyasn1 judges: its DER re-encoding
    (``spec`` is the impacket class) is read instead, and its refusal propagates."""
    try:
        return reader(raw)
    except _BAD:
        return reader(encoder.encode(decoder.decode(raw, asn1Spec=spec())[0]))


def peek(data: bytes) -> Request:
    """Read a request without keys: message type, client, service, etypes, options, padata.

    The strict reader (:func:`fakegc.kdc.layouts.read_kdc_req`) takes ordinary requests;
    anything else goes through pyasn1 and, when pyasn1 accepts it, is read from its DER.
    ``Request.ok`` is False when the request cannot be served.
    """
    if not data:
        return Request("?")
    try:
        return read_kdc_req(data)
    except _BAD:
        pass
    msg, decoded = _decode_pyasn1(data)
    if decoded is None:
        return Request(msg, pvno=_raw_pvno(data)) if msg != "?" else Request("?")
    try:
        canonical = encoder.encode(decoded)
    except Exception:  # noqa: BLE001 - pyasn1 decodes more than it will encode (e.g. a malformed time)
        return Request(msg, pvno=_raw_pvno(data))
    try:
        return read_kdc_req(canonical, wire=data)
    except _BAD:
        try:
            out = _from_pyasn1(msg, decoded)
        except Exception:  # noqa: BLE001 - hostile input: anything pyasn1 raises is a decode failure
            out = Request(msg, pvno=_raw_pvno(data))
        out.ok = False
        return out


def _decode_pyasn1(data: bytes) -> tuple[str, Any]:
    """("AS" | "TGS" | "?", impacket's KDC-REQ decoded by pyasn1, or None)."""
    if not data or data[0] not in (0x6A, 0x6C):
        return "?", None
    msg = "AS" if data[0] == 0x6A else "TGS"
    try:
        return msg, decoder.decode(data, asn1Spec=AS_REQ() if msg == "AS" else TGS_REQ())[0]
    except Exception:  # noqa: BLE001 - hostile input: anything pyasn1 raises is a decode failure
        return msg, None


def _from_pyasn1(msg: str, req: Any) -> Request:
    body = req["req-body"]
    out = Request(msg, pvno=int(req["pvno"]))
    out.realm = str(body["realm"])
    if body["sname"].hasValue():
        out.sname_components = [str(x) for x in body["sname"]["name-string"]]
        out.sname_type = int(body["sname"]["name-type"])
        out.service = "/".join(out.sname_components)
    if msg == "AS" and body["cname"].hasValue():
        out.client = "/".join(str(x) for x in body["cname"]["name-string"])
    out.etypes = [int(e) for e in body["etype"]]
    out.nonce = int(body["nonce"])
    return out


def peek_pyasn1(data: bytes) -> Request:
    """:func:`peek` through pyasn1 only (the reference the strict reader is tested against)."""
    msg, decoded = _decode_pyasn1(data)
    if decoded is None:
        return Request(msg, pvno=_raw_pvno(data)) if msg != "?" else Request("?")
    out = _from_pyasn1(msg, decoded)
    out.ok = True
    return out


# -- KRB-ERROR ---------------------------------------------------------------------------
def krb_error(code: int, realm: str, sname: list[str], sname_type: int = NT_SRV_INST,
              e_text: str | None = None, e_data: bytes | None = None, offset: float = 0.0,
              cname: list[str] | None = None, crealm: str | None = None) -> bytes:
    """A KRB-ERROR with every field MIT needs (PROTOCOL.md §6.7): the requested sname echoed.

    Hand-encoded (:func:`fakegc.kdc.fastder.encode_krb_error`); :func:`krb_error_pyasn1`
    is the reference it is proven byte-identical to.
    """
    stime = _now(offset).strftime("%Y%m%d%H%M%SZ")
    return fastder.encode_krb_error(int(code), realm, sname or ["krbtgt", realm], sname_type, stime,
                                    e_text, e_data, cname if crealm else None, crealm)


def krb_error_pyasn1(code: int, realm: str, sname: list[str], sname_type: int = NT_SRV_INST,
                     e_text: str | None = None, e_data: bytes | None = None, offset: float = 0.0,
                     cname: list[str] | None = None, crealm: str | None = None) -> bytes:
    """:func:`krb_error` through impacket's ``KRB_ERROR`` and pyasn1 (the reference codec)."""
    err = KRB_ERROR()
    err["pvno"] = 5
    err["msg-type"] = int(constants.ApplicationTagNumbers.KRB_ERROR.value)
    now = _now(offset)
    err["stime"] = KerberosTime.to_asn1(now)
    err["susec"] = 0
    err["error-code"] = int(code)
    if crealm and cname:
        err["crealm"] = crealm
        seq_set(err, "cname", KPrincipal("/".join(cname), type=NT_PRINCIPAL).components_to_asn1)
    err["realm"] = realm
    seq_set(err, "sname", KPrincipal("/".join(sname or ["krbtgt", realm]), type=sname_type).components_to_asn1)
    if e_text:
        err["e-text"] = e_text
    if e_data is not None:
        err["e-data"] = e_data
    return bytes(encoder.encode(err))

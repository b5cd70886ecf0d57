"""AS and TGS exchanges (RFC 4120 §3.1, §3.3) as pure functions of (request bytes, database, now).

Built on impacket's ASN.1 classes and crypto.  The interop facts of DESIGN.md §6
are implemented here and each is tested: PA-FX-FAST ignored, PREAUTH_REQUIRED
with ETYPE-INFO2 + empty PA-ENC-TIMESTAMP, realm+name salts, AS-REP encrypted
with the timestamp's etype under EncASRepPart tag 25, TGS reply key = the
authenticator subkey (usage 9) else the session key (usage 8), MIT's checksum
verified over the raw request body, nonce echoed, starttime included, KRB-ERROR
with the requested sname echoed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

from impacket.krb5 import constants
from impacket.krb5.asn1 import (AP_REQ, AS_REP, AS_REQ, ETYPE_INFO2, ETYPE_INFO2_ENTRY, KRB_ERROR,
                                METHOD_DATA, PA_DATA, PA_ENC_TS_ENC, TGS_REP, TGS_REQ,
                                Authenticator, EncASRepPart, EncryptedData, EncTGSRepPart,
                                EncTicketPart, seq_set)
from impacket.krb5.crypto import Key, _checksum_table, _enctype_table
from impacket.krb5.types import KerberosTime
from impacket.krb5.types import Principal as KPrincipal
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from fakegc.codes import KrbError
from fakegc.kdc import kcrypto
from fakegc.kdc.fastder import encode_krb_error, walk_kdc_req
from fakegc.kdc.pac import AD_IF_RELEVANT, build_pac, if_relevant_payload
from fakegc.kdc.principals import ETYPES, Principal, PrincipalDb

__all__ = ["Request", "Outcome", "KdcCore", "peek", "peek_pyasn1", "krb_error", "krb_error_pyasn1",
           "raw_req_body"]

PA_TGS_REQ = 1
PA_ENC_TIMESTAMP = 2
PA_ETYPE_INFO2 = 19
PA_PAC_REQUEST = 128
PA_FX_FAST = 136
NT_PRINCIPAL = 1
NT_SRV_INST = 2
MAX_LIFE = dt.timedelta(hours=10)
MAX_RENEW = dt.timedelta(days=7)


@dataclass
class Request:
    """What the KDC could tell about a request before answering (for rules and the journal)."""

    msg: str  # "AS", "TGS" or "?"
    client: str | None = None
    service: str | None = None
    realm: str | None = None
    etypes: list[int] = field(default_factory=list)
    sname_components: list[str] = field(default_factory=list)
    sname_type: int = NT_SRV_INST
    nonce: int | None = None
    decoded: Any = None
    pvno: int = 5
    raw: bytes = b""  # set when the fast walker read it and pyasn1 has not decoded it yet
    padata_types: list[int] | None = None  # from the fast walker
    cname_type: int = NT_PRINCIPAL

    def decode(self) -> Any:
        """The pyasn1 AS-REQ/TGS-REQ (decoded on first use; None when it does not decode)."""
        if self.decoded is None and self.raw:
            spec = AS_REQ() if self.msg == "AS" else TGS_REQ()
            raw, self.raw = self.raw, b""
            try:
                self.decoded = decoder.decode(raw, asn1Spec=spec)[0]
            except Exception:
                self.decoded = None
        return self.decoded


@dataclass
class Outcome:
    """An answer: the bytes and what they were (for the journal)."""

    reply: bytes
    kind: str  # "reply" or "error"
    code: int = 0
    etype: int | None = None
    e_text: str | None = None


def _now(offset: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=offset)


def _to_dt(asn1_time: Any) -> dt.datetime:
    text = str(asn1_time)
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def _principal_name(component: Any) -> tuple[list[str], int]:
    names = [str(x) for x in component["name-string"]]
    return names, int(component["name-type"])


def _der_len(data: bytes, off: int) -> tuple[int, int]:
    """(content length, header length after the tag byte) at ``off`` (which points at the length)."""
    first = data[off]
    if first < 0x80:
        return first, 1
    n = first & 0x7F
    if n == 0 or n > 4:
        raise ValueError("bad DER length")
    return int.from_bytes(data[off + 1: off + 1 + n], "big"), 1 + n


def raw_req_body(data: bytes) -> bytes:
    """The exact bytes of KDC-REQ-BODY inside a KDC-REQ (the checksum covers these)."""
    _, hl = _der_len(data, 1)  # [APPLICATION n]
    off = 1 + hl
    if data[off] != 0x30:
        raise ValueError("KDC-REQ is not a SEQUENCE")
    length, hl = _der_len(data, off + 1)
    off += 1 + hl
    end = off + length
    while off < end:
        tag = data[off]
        clen, hl = _der_len(data, off + 1)
        if tag == 0xA4:
            return data[off + 1 + hl: off + 1 + hl + clen]
        off += 1 + hl + clen
    raise ValueError("no req-body")


def _raw_pvno(data: bytes) -> int:
    """pvno read straight from the DER (0 when even that fails)."""
    try:
        _, hl = _der_len(data, 1)
        off = 1 + hl
        _, hl = _der_len(data, off + 1)
        off += 1 + hl
        if data[off] == 0xA1 and data[off + 2] == 0x02:
            n = data[off + 3]
            return int.from_bytes(data[off + 4: off + 4 + n], "big")
    except (IndexError, ValueError):
        pass
    return 0


def peek(data: bytes) -> Request:
    """Classify a request without keys: message type, client, service, etypes.

    The hand-written walker (:mod:`fakegc.kdc.fastder`) reads ordinary requests without
    pyasn1; anything it does not like is decoded by pyasn1 here, as the reference.
    """
    if not data:
        return Request("?")
    fast = walk_kdc_req(data)
    if fast is not None:
        out = Request(fast.msg, realm=fast.realm, etypes=fast.etypes, nonce=fast.nonce,
                      pvno=fast.pvno, raw=data, padata_types=fast.padata_types,
                      cname_type=fast.cname_type)
        if fast.sname is not None:
            out.sname_components, out.sname_type = fast.sname, fast.sname_type
            out.service = "/".join(fast.sname)
        if fast.msg == "AS" and fast.cname is not None:
            out.client = "/".join(fast.cname)
        return out
    return peek_pyasn1(data)


def peek_pyasn1(data: bytes) -> Request:
    """:func:`peek` through pyasn1 only (the reference the fast walker is tested against)."""
    if not data:
        return Request("?")
    tag = data[0]
    try:
        if tag == 0x6A:
            req = decoder.decode(data, asn1Spec=AS_REQ())[0]
            msg = "AS"
        elif tag == 0x6C:
            req = decoder.decode(data, asn1Spec=TGS_REQ())[0]
            msg = "TGS"
        else:
            return Request("?")
    except Exception:
        return Request("AS" if tag == 0x6A else "TGS", pvno=_raw_pvno(data))
    body = req["req-body"]
    out = Request(msg, decoded=req)
    out.realm = str(body["realm"])
    if body["sname"].hasValue():
        out.sname_components, out.sname_type = _principal_name(body["sname"])
        out.service = "/".join(out.sname_components)
    if msg == "AS" and body["cname"].hasValue():
        out.client = "/".join(_principal_name(body["cname"])[0])
    out.etypes = [int(e) for e in body["etype"]]
    out.nonce = int(body["nonce"])
    return out


def krb_error(code: int, realm: str, sname: list[str], sname_type: int = NT_SRV_INST,
              e_text: str | None = None, e_data: bytes | None = None, offset: float = 0.0,
              cname: list[str] | None = None, crealm: str | None = None) -> bytes:
    """A KRB-ERROR with every field MIT needs (DESIGN.md §6.7): the requested sname echoed.

    Hand-encoded (:func:`fakegc.kdc.fastder.encode_krb_error`); :func:`krb_error_pyasn1`
    is the reference it is proven byte-identical to.
    """
    stime = _now(offset).strftime("%Y%m%d%H%M%SZ")
    return encode_krb_error(int(code), realm, sname or ["krbtgt", realm], sname_type, stime,
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
    return encoder.encode(err)


class KdcCore:
    """The KDC's decision logic (no sockets): bytes in, :class:`Outcome` out."""

    def __init__(self, db: PrincipalDb, clock_offset: float = 0.0, max_skew: float = 300.0,
                 pac: bool = False) -> None:
        self.db = db
        self.clock_offset = clock_offset
        self.max_skew = max_skew
        self.pac = pac
        self._replay: dict[tuple[str, str, int], float] = {}
        self._method_data: dict[tuple[str, int, tuple[int, ...]], bytes] = {}

    # -- helpers -------------------------------------------------------------------
    def _error(self, req: Request, code: int, text: str | None = None,
               e_data: bytes | None = None) -> Outcome:
        realm = self.db.realm
        sname = req.sname_components or ["krbtgt", realm]
        cname = req.client.split("/") if req.client else None
        data = krb_error(code, realm, sname, req.sname_type, text, e_data, self.clock_offset,
                         cname, realm if cname else None)
        return Outcome(data, "error", code, None, text)

    def _pick_etype(self, requested: list[int], p: Principal) -> int | None:
        for etype in requested:
            if etype in ETYPES and self.db.key(p, etype) is not None:
                return etype
        return None

    def _service_etype(self, p: Principal) -> int:
        return ETYPES[0]

    def _etype_info2(self, p: Principal, etypes: list[int]) -> bytes:
        info = ETYPE_INFO2()
        n = 0
        for etype in etypes:
            if etype not in ETYPES:
                continue
            entry = ETYPE_INFO2_ENTRY()
            entry["etype"] = etype
            if etype != 23:
                entry["salt"] = self.db.salt(p).decode()
            info[n] = entry
            n += 1
        return encoder.encode(info)

    def _ticket(self, rep: Any, service: Principal, sname: list[str], sname_type: int,
                session_key: Key, client: list[str], flags: list[int], auth: dt.datetime,
                start: dt.datetime, end: dt.datetime, renew: dt.datetime | None) -> None:
        etp = EncTicketPart()
        etp["flags"] = constants.encodeFlags(flags)
        etp["key"] = noValue
        etp["key"]["keytype"] = session_key.enctype
        etp["key"]["keyvalue"] = session_key.contents
        etp["crealm"] = self.db.realm
        seq_set(etp, "cname", KPrincipal("/".join(client), type=NT_PRINCIPAL).components_to_asn1)
        etp["transited"] = noValue
        etp["transited"]["tr-type"] = 0
        etp["transited"]["contents"] = b""
        etp["authtime"] = KerberosTime.to_asn1(auth)
        etp["starttime"] = KerberosTime.to_asn1(start)
        etp["endtime"] = KerberosTime.to_asn1(end)
        if renew is not None:
            etp["renew-till"] = KerberosTime.to_asn1(renew)
        etype = self._service_etype(service)
        key = self.db.key(service, etype)
        assert key is not None
        if self.pac:
            self._add_pac(etp, "/".join(client), auth, key)
        cipher = kcrypto.encrypt(key, 2, encoder.encode(etp))
        rep["ticket"] = noValue
        rep["ticket"]["tkt-vno"] = 5
        rep["ticket"]["realm"] = self.db.realm
        seq_set(rep["ticket"], "sname", KPrincipal("/".join(sname), type=sname_type).components_to_asn1)
        rep["ticket"]["enc-part"] = noValue
        rep["ticket"]["enc-part"]["etype"] = etype
        rep["ticket"]["enc-part"]["kvno"] = service.kvno
        rep["ticket"]["enc-part"]["cipher"] = cipher

    def _add_pac(self, etp: Any, client: str, auth: dt.datetime, service_key: Key) -> None:
        """MS-PAC in authorization-data, signed with the service and krbtgt keys (optional)."""
        krbtgt = self.db.get(f"krbtgt/{self.db.realm}")
        kdc_key = self.db.key(krbtgt, 18) if krbtgt is not None else None
        user = client.split("/")[0]
        pac = build_pac(user, self.db.netbios_domain, auth, service_key, kdc_key or service_key)
        etp["authorization-data"] = noValue
        etp["authorization-data"][0] = noValue
        etp["authorization-data"][0]["ad-type"] = AD_IF_RELEVANT
        etp["authorization-data"][0]["ad-data"] = if_relevant_payload(pac)

    @staticmethod
    def _times(body: Any, now: dt.datetime, max_end: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime | None]:
        till = now + MAX_LIFE
        if body["till"].hasValue():
            try:
                asked = _to_dt(body["till"])
                if asked.year > 1970:
                    till = min(till, asked)
            except ValueError:
                pass
        if max_end is not None:
            till = min(till, max_end)
        renew = None
        opts = body["kdc-options"]
        wants_renew = len(opts) > 8 and opts[8] == 1
        if wants_renew and body["rtime"].hasValue():
            try:
                renew = min(_to_dt(body["rtime"]), now + MAX_RENEW)
            except ValueError:
                renew = now + MAX_RENEW
        elif wants_renew:
            renew = now + MAX_RENEW
        return till, renew

    @staticmethod
    def _flags(body: Any, initial: bool) -> list[int]:
        opts = body["kdc-options"]
        flags = []
        if len(opts) > 1 and opts[1]:
            flags.append(constants.TicketFlags.forwardable.value)
        if len(opts) > 3 and opts[3]:
            flags.append(constants.TicketFlags.proxiable.value)
        if len(opts) > 8 and opts[8]:
            flags.append(constants.TicketFlags.renewable.value)
        if initial:
            flags.append(constants.TicketFlags.initial.value)
        flags.append(constants.TicketFlags.pre_authent.value)
        return flags

    def _enc_part(self, enc: Any, session_key: Key, nonce: int, flags: list[int], auth: dt.datetime,
                  start: dt.datetime, end: dt.datetime, renew: dt.datetime | None,
                  sname: list[str], sname_type: int, now: dt.datetime) -> None:
        enc["key"] = noValue
        enc["key"]["keytype"] = session_key.enctype
        enc["key"]["keyvalue"] = session_key.contents
        enc["last-req"] = noValue
        enc["last-req"][0] = noValue
        enc["last-req"][0]["lr-type"] = 0
        enc["last-req"][0]["lr-value"] = KerberosTime.to_asn1(now)
        enc["nonce"] = nonce
        enc["flags"] = constants.encodeFlags(flags)
        enc["authtime"] = KerberosTime.to_asn1(auth)
        enc["starttime"] = KerberosTime.to_asn1(start)
        enc["endtime"] = KerberosTime.to_asn1(end)
        if renew is not None:
            enc["renew-till"] = KerberosTime.to_asn1(renew)
        enc["srealm"] = self.db.realm
        seq_set(enc, "sname", KPrincipal("/".join(sname), type=sname_type).components_to_asn1)

    # -- the exchanges ----------------------------------------------------------------
    def handle(self, data: bytes, req: Request | None = None) -> Outcome:
        """Answer one KDC request (already length-deframed)."""
        req = req or peek(data)
        if req.pvno not in (5, 0) or (req.decoded is not None and int(req.decoded["pvno"]) != 5):
            return self._error(req, KrbError.KDC_ERR_BAD_PVNO, "protocol version must be 5")
        if req.msg == "?" or (req.decoded is None and not req.raw):
            return self._error(req, KrbError.KRB_ERR_GENERIC, "could not decode the request")
        if req.realm and req.realm.upper() != self.db.realm:
            return self._error(req, KrbError.KDC_ERR_WRONG_REALM, f"unknown realm {req.realm}")
        if req.msg == "AS" and req.padata_types is not None:
            early = self._as_early(req)  # the error paths need no pyasn1 (DESIGN.md §7)
            if early is not None:
                return early
        decoded = req.decode()
        if decoded is None:
            return self._error(req, KrbError.KRB_ERR_GENERIC, "could not decode the request")
        try:
            if req.msg == "AS":
                return self._as(req, decoded)
            return self._tgs(req, decoded, data)
        except Exception as exc:  # malformed inner structures: a protocol error, never a crash
            return self._error(req, KrbError.KRB_ERR_GENERIC, f"malformed request: {type(exc).__name__}")

    def _as_early(self, req: Request) -> Outcome | None:
        """Unknown client/service and PREAUTH_REQUIRED from the fast summary alone."""
        client = self.db.get(req.client or "")
        if client is None or client.service:
            return self._error(req, KrbError.KDC_ERR_C_PRINCIPAL_UNKNOWN, "client not found")
        if self.db.get(req.service or "") is None:
            return self._error(req, KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server not found")
        if PA_ENC_TIMESTAMP not in (req.padata_types or []):
            return self._preauth_required(req, client)
        return None

    def _preauth_required(self, req: Request, client: Principal) -> Outcome:
        """KDC_ERR_PREAUTH_REQUIRED with METHOD-DATA {ETYPE-INFO2, empty ENC-TIMESTAMP} (DESIGN.md §6.2)."""
        cache_key = (client.name, client.kvno, tuple(req.etypes))
        e_data = self._method_data.get(cache_key)
        if e_data is None:
            if self._pick_etype(req.etypes, client) is None:
                return self._error(req, KrbError.KDC_ERR_ETYPE_NOSUPP, "no supported encryption type")
            methods = METHOD_DATA()
            methods[0] = noValue
            methods[0]["padata-type"] = PA_ETYPE_INFO2
            methods[0]["padata-value"] = self._etype_info2(client, req.etypes)
            methods[1] = noValue
            methods[1]["padata-type"] = PA_ENC_TIMESTAMP
            methods[1]["padata-value"] = b""
            e_data = encoder.encode(methods)
            if len(self._method_data) > 10_000:
                self._method_data.clear()
            self._method_data[cache_key] = e_data
        return self._error(req, KrbError.KDC_ERR_PREAUTH_REQUIRED, None, e_data)

    def _as(self, req: Request, decoded: Any) -> Outcome:
        body = decoded["req-body"]
        client = self.db.get(req.client or "")
        if client is None or client.service:
            return self._error(req, KrbError.KDC_ERR_C_PRINCIPAL_UNKNOWN, "client not found")
        service = self.db.get(req.service or "")
        if service is None:
            return self._error(req, KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server not found")
        timestamp = None
        for pa in decoded["padata"] if decoded["padata"].hasValue() else []:
            if int(pa["padata-type"]) == PA_ENC_TIMESTAMP:
                timestamp = decoder.decode(bytes(pa["padata-value"]), asn1Spec=EncryptedData())[0]
        if timestamp is None:
            return self._preauth_required(req, client)
        etype = int(timestamp["etype"])
        key = self.db.key(client, etype)
        if key is None:
            return self._error(req, KrbError.KDC_ERR_ETYPE_NOSUPP, f"etype {etype} not supported")
        try:
            plain = kcrypto.decrypt(key, 1, bytes(timestamp["cipher"]))
            ts = decoder.decode(plain, asn1Spec=PA_ENC_TS_ENC())[0]
        except Exception:
            return self._error(req, KrbError.KDC_ERR_PREAUTH_FAILED, "pre-authentication failed")
        now = _now(self.clock_offset)
        skew = abs((_to_dt(ts["patimestamp"]) - now).total_seconds())
        if skew > self.max_skew:
            return self._error(req, KrbError.KRB_AP_ERR_SKEW, "clock skew too great")
        session_etype = self._pick_etype(req.etypes, client) or etype
        session_key = Key(session_etype, os.urandom(_enctype_table[session_etype].keysize))
        till, renew = self._times(body, now)
        flags = self._flags(body, initial=True)
        rep = AS_REP()
        rep["pvno"] = 5
        rep["msg-type"] = int(constants.ApplicationTagNumbers.AS_REP.value)
        rep["padata"] = noValue
        rep["padata"][0] = noValue
        rep["padata"][0]["padata-type"] = PA_ETYPE_INFO2
        rep["padata"][0]["padata-value"] = self._etype_info2(client, [etype])
        rep["crealm"] = self.db.realm
        seq_set(rep, "cname", KPrincipal(client.name, type=NT_PRINCIPAL).components_to_asn1)
        self._ticket(rep, service, req.sname_components, req.sname_type, session_key,
                     list(client.components), flags, now, now, till, renew)
        enc = EncASRepPart()
        self._enc_part(enc, session_key, int(body["nonce"]), flags, now, now, till, renew,
                       req.sname_components, req.sname_type, now)
        rep["enc-part"] = noValue
        rep["enc-part"]["etype"] = etype
        rep["enc-part"]["kvno"] = client.kvno
        rep["enc-part"]["cipher"] = kcrypto.encrypt(key, 3, encoder.encode(enc))
        return Outcome(encoder.encode(rep), "reply", 0, etype)

    def _tgs(self, req: Request, decoded: Any, data: bytes) -> Outcome:
        body = decoded["req-body"]
        ap_req = None
        for pa in decoded["padata"] if decoded["padata"].hasValue() else []:
            kind = int(pa["padata-type"])
            if kind == PA_TGS_REQ:
                ap_req = decoder.decode(bytes(pa["padata-value"]), asn1Spec=AP_REQ())[0]
            # PA-FX-FAST (136) and anything else: ignored (DESIGN.md §6.1)
        if ap_req is None:
            return self._error(req, KrbError.KDC_ERR_PADATA_TYPE_NOSUPP, "no PA-TGS-REQ")
        ticket = ap_req["ticket"]
        tgs_names = [str(x) for x in ticket["sname"]["name-string"]]
        tgs = self.db.get("/".join(tgs_names))
        if tgs is None:
            return self._error(req, KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, "ticket for an unknown server")
        t_etype = int(ticket["enc-part"]["etype"])
        t_key = self.db.key(tgs, t_etype)
        if t_key is None:
            return self._error(req, KrbError.KDC_ERR_ETYPE_NOSUPP, "ticket etype not supported")
        try:
            etp = decoder.decode(kcrypto.decrypt(t_key, 2, bytes(ticket["enc-part"]["cipher"])),
                                 asn1Spec=EncTicketPart())[0]
        except Exception:
            return self._error(req, KrbError.KRB_AP_ERR_BAD_INTEGRITY, "ticket does not decrypt")
        session_key = Key(int(etp["key"]["keytype"]), bytes(etp["key"]["keyvalue"]))
        client_names = [str(x) for x in etp["cname"]["name-string"]]
        req.client = "/".join(client_names)
        now = _now(self.clock_offset)
        opts = body["kdc-options"]
        renewing = len(opts) > 30 and opts[30] == 1  # RENEW (RFC 4120 §5.4.1)
        tgt_flags = etp["flags"]
        tgt_renew = _to_dt(etp["renew-till"]) if etp["renew-till"].hasValue() else None
        if renewing:
            if len(tgt_flags) <= 8 or not tgt_flags[8] or tgt_renew is None:
                return self._error(req, KrbError.KDC_ERR_BADOPTION, "ticket is not renewable")
            if tgt_renew < now:
                return self._error(req, KrbError.KRB_AP_ERR_TKT_EXPIRED, "renewable lifetime is over")
        elif _to_dt(etp["endtime"]) < now:
            return self._error(req, KrbError.KRB_AP_ERR_TKT_EXPIRED, "ticket expired")
        try:
            auth = decoder.decode(_enctype_table[session_key.enctype].decrypt(
                session_key, 7, bytes(ap_req["authenticator"]["cipher"])), asn1Spec=Authenticator())[0]
        except Exception:
            return self._error(req, KrbError.KRB_AP_ERR_BAD_INTEGRITY, "authenticator does not decrypt")
        ctime = _to_dt(auth["ctime"])
        if abs((ctime - now).total_seconds()) > self.max_skew:
            return self._error(req, KrbError.KRB_AP_ERR_SKEW, "clock skew too great")
        replay_key = (req.client, str(auth["ctime"]), int(auth["cusec"]))
        if replay_key in self._replay:
            return self._error(req, KrbError.KRB_AP_ERR_REPEAT, "request is a replay")
        self._replay[replay_key] = now.timestamp()
        if len(self._replay) > 50_000:
            cutoff = now.timestamp() - 2 * self.max_skew
            self._replay = {k: v for k, v in self._replay.items() if v > cutoff}
        if auth["cksum"].hasValue():
            ctype = int(auth["cksum"]["cksumtype"])
            profile = _checksum_table.get(ctype)
            if profile is not None:
                try:
                    profile.verify(session_key, 6, raw_req_body(data), bytes(auth["cksum"]["checksum"]))
                except Exception:
                    return self._error(req, KrbError.KRB_AP_ERR_MODIFIED, "request body checksum mismatch")
        service = self.db.get(req.service or "")
        if service is None:
            return self._error(req, KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server not found")
        subkey = None
        if auth["subkey"].hasValue():
            subkey = Key(int(auth["subkey"]["keytype"]), bytes(auth["subkey"]["keyvalue"]))
        client_p = self.db.get(req.client)
        etypes = req.etypes or [session_key.enctype]
        new_etype = next((e for e in etypes if e in ETYPES), session_key.enctype)
        new_key = Key(new_etype, os.urandom(_enctype_table[new_etype].keysize))
        auth_time = _to_dt(etp["authtime"])
        if renewing:
            # RFC 4120 §3.3.3: same lifetime again, never past the original renew-till
            start = _to_dt(etp["starttime"]) if etp["starttime"].hasValue() else auth_time
            assert tgt_renew is not None
            till = min(now + (_to_dt(etp["endtime"]) - start), tgt_renew)
            renew = tgt_renew
        else:
            till, renew = self._times(body, now, _to_dt(etp["endtime"]))
            if renew is not None:
                renew = min(renew, tgt_renew) if tgt_renew is not None else None
        # a derived ticket has no more rights than the ticket it came from (RFC 4120 §2)
        flags = [f for f in self._flags(body, initial=False)
                 if f not in (constants.TicketFlags.forwardable.value, constants.TicketFlags.renewable.value)
                 or (len(tgt_flags) > f and tgt_flags[f])]
        if renew is None:
            flags = [f for f in flags if f != constants.TicketFlags.renewable.value]
        elif constants.TicketFlags.renewable.value not in flags:
            flags.append(constants.TicketFlags.renewable.value)
        rep = TGS_REP()
        rep["pvno"] = 5
        rep["msg-type"] = int(constants.ApplicationTagNumbers.TGS_REP.value)
        rep["crealm"] = self.db.realm
        seq_set(rep, "cname", KPrincipal(req.client, type=NT_PRINCIPAL).components_to_asn1)
        self._ticket(rep, service, req.sname_components, req.sname_type, new_key, client_names,
                     flags, auth_time, now, till, renew)
        enc = EncTGSRepPart()
        self._enc_part(enc, new_key, int(body["nonce"]), flags, auth_time, now, till, renew,
                       req.sname_components, req.sname_type, now)
        reply_key, usage = (subkey, 9) if subkey is not None else (session_key, 8)
        rep["enc-part"] = noValue
        rep["enc-part"]["etype"] = reply_key.enctype
        rep["enc-part"]["cipher"] = _enctype_table[reply_key.enctype].encrypt(
            reply_key, usage, encoder.encode(enc), None)
        del client_p
        return Outcome(encoder.encode(rep), "reply", 0, new_etype)

"""AS and TGS exchanges (RFC 4120 §3.1, §3.3) as pure functions of (request bytes, database, now).

The hot path touches no pyasn1 (PROTOCOL.md §7): requests are read by
:mod:`fakegc.kdc.derread`, replies built by :mod:`fakegc.kdc.fastder`, AES runs
through :mod:`fakegc.crypto`.  pyasn1 (with impacket's ASN.1 classes) stays
as the reference codec: input the strict reader does not take is decoded by
pyasn1 and re-encoded to DER before it is read (or refused when pyasn1 refuses
it too), and the property tests compare every encoder and reader with it.

The interop facts of PROTOCOL.md §6 are implemented here and each is tested:
PA-FX-FAST ignored, PREAUTH_REQUIRED with ETYPE-INFO2 + empty PA-ENC-TIMESTAMP,
realm+name salts, AS-REP encrypted with the timestamp's etype under EncASRepPart
tag 25, TGS reply key = the authenticator subkey (usage 9) else the session key
(usage 8), MIT's checksum verified over the raw request body, nonce echoed,
starttime included, KRB-ERROR with the requested sname echoed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from impacket.krb5.asn1 import (
    AP_REQ,
    PA_ENC_TS_ENC,
    Authenticator,
    EncryptedData,
    EncTicketPart,
)
from impacket.krb5.asn1 import Ticket as TicketAsn1
from impacket.krb5.crypto import Key, _checksum_table, _enctype_table

from fakegc import crypto
from fakegc.codes import KrbError
from fakegc.kdc import fastder
from fakegc.kdc.apread import (
    AuthenticatorPart,
    TicketPart,
    read_enc_data,
    read_enc_ticket_part,
    read_pa_enc_ts,
    read_ticket,
)
from fakegc.kdc.derread import NT_PRINCIPAL, NT_SRV_INST, Request
from fakegc.kdc.layouts import read_ap_req, read_authenticator
from fakegc.kdc.messages import (
    clock_now,
    epoch_of,
    ktime_of,
    peek,
    raw_req_body,
    reread,
)
from fakegc.kdc.pac import authorization_data, build_pac
from fakegc.kdc.principals import ETYPES, Principal, PrincipalDb
from fakegc.kdc.replay import ReplayCache

__all__ = ["KdcCore", "Outcome"]

PA_TGS_REQ = 1
PA_ENC_TIMESTAMP = 2
PA_ETYPE_INFO2 = 19
PA_PAC_REQUEST = 128
PA_FX_FAST = 136
MAX_LIFE = 10 * 3600
MAX_RENEW = 7 * 86400
FORWARDABLE, PROXIABLE, RENEWABLE, INITIAL, PRE_AUTHENT = 1, 3, 8, 9, 10
RENEW_OPTION = 30


class Outcome:
    """An answer: the bytes and what they were (for the journal)."""

    __slots__ = ("code", "e_text", "etype", "kind", "reply")

    def __init__(self, reply: bytes, kind: str, code: int = 0, etype: int | None = None,
                 e_text: str | None = None) -> None:
        self.reply, self.kind, self.code, self.etype, self.e_text = reply, kind, code, etype, e_text


class KdcCore:
    """The KDC's decision logic (no sockets): bytes in, :class:`Outcome` out."""

    def __init__(self, db: PrincipalDb, clock_offset: float = 0.0, max_skew: float = 300.0,
                 pac: bool = False) -> None:
        self.db = db
        self.clock_offset = clock_offset
        self.max_skew = max_skew
        self.pac = pac
        self._replay = ReplayCache(2 * max_skew)
        self._method_data: dict[tuple[str, int, Any], bytes] = {}  # PREAUTH e-data, AS-REP padata
        self._names: dict[tuple[str, ...], bytes] = {}
        self._tickets: dict[bytes, tuple[str, int, bytes, TicketPart]] = {}
        self._krbtgt_der = fastder.principal_name(["krbtgt", db.realm], NT_SRV_INST)

    # -- helpers -------------------------------------------------------------------
    def _name_der(self, components: tuple[str, ...] | list[str]) -> bytes:
        """An NT-PRINCIPAL PrincipalName's DER (cached)."""
        key = tuple(components)
        hit = self._names.get(key)
        if hit is None:
            if len(self._names) > 10_000:
                self._names.clear()
            hit = self._names[key] = fastder.principal_name(list(key), NT_PRINCIPAL)
        return hit

    def error(self, req: Request, code: int, text: str | None = None,
              e_data: bytes | None = None) -> Outcome:
        """KRB-ERROR for ``req``: its sname (and an AS-REQ's cname) echoed (PROTOCOL.md §6.7)."""
        realm = self.db.realm
        if req.sname_der is not None:
            sname_der = req.sname_der
        elif req.sname_components:
            sname_der = fastder.principal_name(req.sname_components, req.sname_type)
        else:
            sname_der = self._krbtgt_der
        cname_der = None
        if req.client:
            if req.cname_der is not None and req.cname_type == NT_PRINCIPAL and req.msg == "AS":
                cname_der = req.cname_der
            else:
                cname_der = self._name_der(req.client.split("/"))
        stime = clock_now(self.clock_offset)[1]
        data = fastder.krb_error_der(int(code), realm, sname_der, stime, text, e_data, cname_der,
                                     realm if cname_der else None)
        return Outcome(data, "error", code, None, text)


    def _pick_etype(self, requested: list[int], p: Principal) -> int | None:
        for etype in requested:
            if etype in ETYPES and self.db.key(p, etype) is not None:
                return etype
        return None

    def _etype_info2(self, p: Principal, etypes: list[int]) -> bytes:
        salt = self.db.salt(p)
        return fastder.etype_info2([(e, None if e == 23 else salt) for e in etypes if e in ETYPES])

    def _times(self, req: Request, now: int, max_end: str | None = None) -> tuple[str, str | None]:
        """endtime and renew-till (RFC 4120 §3.1.3): the asked time capped by policy."""
        till = ktime_of(now + MAX_LIFE)
        asked = req.till
        if asked is not None and asked < till and asked[:4] > "1970":
            try:
                epoch_of(asked)
                till = asked
            except ValueError:
                pass
        if max_end is not None and max_end < till:
            till = max_end
        renew = None
        if req.option(RENEWABLE):
            renew = ktime_of(now + MAX_RENEW)
            if req.rtime is not None and req.rtime < renew:
                try:
                    epoch_of(req.rtime)
                    renew = req.rtime
                except ValueError:
                    pass
        return till, renew

    @staticmethod
    def _flags(req: Request, initial: bool) -> int:
        """Ticket flags from the KDC options (forwardable, proxiable, renewable) + pre-authent."""
        out = 0x80000000 >> PRE_AUTHENT
        for bit in (FORWARDABLE, PROXIABLE, RENEWABLE):
            if req.option(bit):
                out |= 0x80000000 >> bit
        if initial:
            out |= 0x80000000 >> INITIAL
        return out

    def _pac(self, client: list[str], authtime: str, service_key: Key) -> bytes | None:
        """MS-PAC authorization-data, signed with the service and krbtgt keys (optional)."""
        if not self.pac:
            return None
        krbtgt = self.db.get(f"krbtgt/{self.db.realm}")
        kdc_key = self.db.key(krbtgt, 18) if krbtgt is not None else None
        auth = dt.datetime.fromtimestamp(epoch_of(authtime), dt.UTC)
        pac = build_pac(client[0], self.db.netbios_domain, auth, service_key, kdc_key or service_key)
        return authorization_data(pac)

    def _ticket(self, req: Request, service: Principal, session_etype: int, session_key: bytes,
                client: list[str], flags: int, authtime: str, start: str, end: str,
                renew: str | None) -> bytes:
        """The service ticket (§5.3), enc-part under the service's first key (usage 2)."""
        etype = service.etypes[0]
        key = self.db.key(service, etype)
        assert key is not None and req.sname_der is not None
        part = fastder.enc_ticket_part(flags, session_etype, session_key, self.db.realm,
                                       self._name_der(client), authtime, start, end, renew,
                                       self._pac(client, authtime, key))
        return fastder.ticket(self.db.realm, req.sname_der, etype, service.kvno,
                              crypto.encrypt(key, 2, part))

    def _open_ticket(self, ticket_der: bytes) -> TicketPart | Outcome:
        """Decrypt and read a TGT (usage 2), or say why not (the Outcome's code and text).

        Opened tickets are cached by their exact bytes and the key that opened them: a
        client presents the same TGT with every TGS-REQ for hours, and the plaintext of
        an authenticated ciphertext under one key never changes (PROTOCOL.md §7).  Every
        per-request check (expiry, renewal, authenticator) still runs on each request.
        """
        hit = self._tickets.get(ticket_der)
        if hit is not None:
            name, etype, key_bytes, part = hit
            p = self.db.get(name)
            k = self.db.key(p, etype) if p is not None else None
            if k is not None and k.contents == key_bytes:
                return part
        ticket = reread(read_ticket, TicketAsn1, ticket_der)
        name = "/".join(ticket.sname)
        tgs = self.db.get(name)
        if tgs is None:
            return Outcome(b"", "error", KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, None,
                           "ticket for an unknown server")
        t_key = self.db.key(tgs, ticket.enc.etype)
        if t_key is None:
            return Outcome(b"", "error", KrbError.KDC_ERR_ETYPE_NOSUPP, None, "ticket etype not supported")
        try:
            part = reread(read_enc_ticket_part, EncTicketPart, crypto.decrypt(t_key, 2, ticket.enc.cipher))
        except Exception:  # noqa: BLE001 - wrong key or garbage: BAD_INTEGRITY, never a crash
            return Outcome(b"", "error", KrbError.KRB_AP_ERR_BAD_INTEGRITY, None, "ticket does not decrypt")
        if len(self._tickets) >= 4096:
            self._tickets.clear()
        self._tickets[ticket_der] = (name, ticket.enc.etype, t_key.contents, part)
        return part

    # -- the exchanges ----------------------------------------------------------------
    def handle(self, data: bytes, req: Request | None = None) -> Outcome:
        """Answer one KDC request (already length-deframed)."""
        req = req or peek(data)
        if req.pvno not in (5, 0):
            return self.error(req, KrbError.KDC_ERR_BAD_PVNO, "protocol version must be 5")
        if req.msg == "?" or not req.ok:
            return self.error(req, KrbError.KRB_ERR_GENERIC, "could not decode the request")
        if req.realm and not self.db.is_local(req.realm):
            return self.error(req, KrbError.KDC_ERR_WRONG_REALM, f"unknown realm {req.realm}")
        try:
            if req.msg == "AS":
                return self._as(req)
            return self._tgs(req)
        except Exception as exc:  # noqa: BLE001 - malformed inner structures: a protocol error, never a crash
            return self.error(req, KrbError.KRB_ERR_GENERIC, f"malformed request: {type(exc).__name__}")

    def _preauth_required(self, req: Request, client: Principal) -> Outcome:
        """KDC_ERR_PREAUTH_REQUIRED with METHOD-DATA {ETYPE-INFO2, empty ENC-TIMESTAMP} (PROTOCOL.md §6.2)."""
        cache_key = (client.name, client.kvno, tuple(req.etypes))
        e_data = self._method_data.get(cache_key)
        if e_data is None:
            if self._pick_etype(req.etypes, client) is None:
                return self.error(req, KrbError.KDC_ERR_ETYPE_NOSUPP, "no supported encryption type")
            e_data = fastder.method_data([(PA_ETYPE_INFO2, self._etype_info2(client, req.etypes)),
                                          (PA_ENC_TIMESTAMP, b"")])
            if len(self._method_data) > 10_000:
                self._method_data.clear()
            self._method_data[cache_key] = e_data
        return self.error(req, KrbError.KDC_ERR_PREAUTH_REQUIRED, None, e_data)

    def _as(self, req: Request) -> Outcome:
        db = self.db
        client = db.get(req.client or "")
        if client is None or client.service:
            return self.error(req, KrbError.KDC_ERR_C_PRINCIPAL_UNKNOWN, "client not found")
        service = db.get(req.service or "")
        if service is None:
            return self.error(req, KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server not found")
        pa = req.pa_value(PA_ENC_TIMESTAMP)
        if pa is None:
            return self._preauth_required(req, client)
        timestamp = reread(read_enc_data, EncryptedData, pa)
        etype = timestamp.etype
        key = db.key(client, etype)
        if key is None:
            return self.error(req, KrbError.KDC_ERR_ETYPE_NOSUPP, f"etype {etype} not supported")
        try:
            patime = reread(read_pa_enc_ts, PA_ENC_TS_ENC, crypto.decrypt(key, 1, timestamp.cipher))
            asserted = epoch_of(patime)
        except Exception:  # noqa: BLE001 - wrong key or garbage: PREAUTH_FAILED, never a crash
            return self.error(req, KrbError.KDC_ERR_PREAUTH_FAILED, "pre-authentication failed")
        now, now_s = clock_now(self.clock_offset)
        if abs(asserted - now) > self.max_skew:
            return self.error(req, KrbError.KRB_AP_ERR_SKEW, "clock skew too great")
        session_etype = self._pick_etype(req.etypes, client) or etype
        session_key = crypto.random_bytes(_enctype_table[session_etype].keysize)
        till, renew = self._times(req, now)
        flags = self._flags(req, initial=True)
        tkt = self._ticket(req, service, session_etype, session_key, list(client.components), flags,
                           now_s, now_s, till, renew)
        enc = fastder.enc_kdc_rep_part(fastder.ENC_AS_REP_PART, session_etype, session_key, now_s,
                                       req.nonce or 0, flags, now_s, now_s, till, renew, db.realm,
                                       req.sname_der or b"")
        padata_key = (client.name, client.kvno, -etype)
        padata = self._method_data.get(padata_key)
        if padata is None:
            padata = self._method_data[padata_key] = fastder.method_data(
                [(PA_ETYPE_INFO2, self._etype_info2(client, [etype]))])
        reply = fastder.kdc_rep(fastder.AS_REP, padata, db.realm, self._name_der(client.components), tkt, etype,
                                crypto.encrypt(key, 3, enc), client.kvno)
        return Outcome(reply, "reply", 0, etype)

    def _tgs(self, req: Request) -> Outcome:
        """TGS exchange (RFC 4120 §3.3): the TGT and authenticator are checked, then a
        ticket for the service is issued under the reply key of PROTOCOL.md §6.5."""
        db = self.db
        checked = self._tgs_check(req)
        if isinstance(checked, Outcome):
            return checked
        etp, auth, now, now_s = checked
        session_key = etp.session_key()
        client_names = etp.cname
        service = db.get(req.service or "")
        if service is None or req.sname_der is None:
            return self.error(req, KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server not found")
        new_etype = self._tgs_etype(req, service, session_key.enctype)
        if new_etype is None:
            return self.error(req, KrbError.KDC_ERR_ETYPE_NOSUPP, "no etype the service supports")
        new_key = crypto.random_bytes(_enctype_table[new_etype].keysize)
        till, renew = self._tgs_times(req, etp, now)
        flags = self._tgs_flags(req, etp, renew)
        tkt = self._ticket(req, service, new_etype, new_key, client_names, flags, etp.authtime,
                           now_s, till, renew)
        enc = fastder.enc_kdc_rep_part(fastder.ENC_TGS_REP_PART, new_etype, new_key, now_s,
                                       req.nonce or 0, flags, etp.authtime, now_s, till, renew,
                                       db.realm, req.sname_der)
        if auth.subkey is not None:
            reply_key, usage = Key(auth.subkey[0], auth.subkey[1]), 9
        else:
            reply_key, usage = session_key, 8
        reply = fastder.kdc_rep(fastder.TGS_REP, None, db.realm, self._name_der(client_names), tkt,
                                reply_key.enctype, crypto.encrypt(reply_key, usage, enc))
        return Outcome(reply, "reply", 0, new_etype)

    def _tgs_check(self, req: Request) -> tuple[TicketPart, AuthenticatorPart, int, str] | Outcome:
        """The TGT of the PA-TGS-REQ and its authenticator, checked (RFC 4120 §3.3.2):
        (ticket part, authenticator, now, now as KerberosTime) or the KRB-ERROR."""
        pa = req.pa_value(PA_TGS_REQ)  # PA-FX-FAST (136) and anything else: ignored (PROTOCOL.md §6.1)
        if pa is None:
            return self.error(req, KrbError.KDC_ERR_PADATA_TYPE_NOSUPP, "no PA-TGS-REQ")
        ap = reread(read_ap_req, AP_REQ, pa)
        opened = self._open_ticket(ap.ticket)
        if isinstance(opened, Outcome):
            return self.error(req, opened.code, opened.e_text)
        etp = opened
        client = req.client = "/".join(etp.cname)
        now, now_s = clock_now(self.clock_offset)
        expired = self._tgt_lifetime(req, etp, now_s)
        if expired is not None:
            return expired
        session_key = etp.session_key()
        try:
            auth = reread(read_authenticator, Authenticator,
                          crypto.decrypt(session_key, 7, ap.authenticator.cipher))
            ctime = epoch_of(auth.ctime)
        except Exception:  # noqa: BLE001 - wrong key or garbage: BAD_INTEGRITY, never a crash
            return self.error(req, KrbError.KRB_AP_ERR_BAD_INTEGRITY, "authenticator does not decrypt")
        if auth.cname != etp.cname or not (
                auth.crealm.upper() == etp.crealm.upper()
                or (self.db.is_local(auth.crealm) and self.db.is_local(etp.crealm))):
            return self.error(req, KrbError.KRB_AP_ERR_BADMATCH, "authenticator names another client")
        if abs(ctime - now) > self.max_skew:
            return self.error(req, KrbError.KRB_AP_ERR_SKEW, "clock skew too great")
        if self._replay.seen((client, auth.ctime, auth.cusec), now):  # RFC 4120 §3.3.3.1
            return self.error(req, KrbError.KRB_AP_ERR_REPEAT, "request is a replay")
        if auth.cksumtype is not None and auth.cksumtype in _checksum_table:
            try:
                good = crypto.verify_checksum(session_key, 6, raw_req_body(req.wire),
                                              auth.cksumtype, auth.checksum)
            except Exception:  # noqa: BLE001 - a checksum that cannot be computed does not verify
                good = False
            if not good:
                return self.error(req, KrbError.KRB_AP_ERR_MODIFIED, "request body checksum mismatch")
        return etp, auth, now, now_s

    def _tgt_lifetime(self, req: Request, etp: TicketPart, now_s: str) -> Outcome | None:
        """A TGT past its end (or, when renewing, past its renew-till) is refused (RFC 4120 §3.3.3)."""
        if req.option(RENEW_OPTION):
            if not etp.flag(RENEWABLE) or etp.renew_till is None:
                return self.error(req, KrbError.KDC_ERR_BADOPTION, "ticket is not renewable")
            if etp.renew_till < now_s:
                return self.error(req, KrbError.KRB_AP_ERR_TKT_EXPIRED, "renewable lifetime is over")
        elif etp.endtime < now_s:
            return self.error(req, KrbError.KRB_AP_ERR_TKT_EXPIRED, "ticket expired")
        return None

    @staticmethod
    def _tgs_etype(req: Request, service: Principal, session_etype: int) -> int | None:
        """The first requested etype the service supports, else the TGT session key's
        (RFC 4120 §3.3.3); None when the service supports neither."""
        for etype in req.etypes:
            if etype in service.etypes:
                return etype
        return session_etype if session_etype in service.etypes else None

    def _tgs_times(self, req: Request, etp: TicketPart, now: int) -> tuple[str, str | None]:
        """(till, renew-till) of the new ticket."""
        tgt_renew = etp.renew_till
        if req.option(RENEW_OPTION):
            # RFC 4120 §3.3.3: same lifetime again, never past the original renew-till
            assert tgt_renew is not None
            start = etp.starttime or etp.authtime
            return min(ktime_of(now + epoch_of(etp.endtime) - epoch_of(start)), tgt_renew), tgt_renew
        till, renew = self._times(req, now, etp.endtime)
        if renew is not None:
            renew = min(renew, tgt_renew) if tgt_renew is not None else None
        return till, renew

    def _tgs_flags(self, req: Request, etp: TicketPart, renew: str | None) -> int:
        """A derived ticket has no more rights than the ticket it came from (RFC 4120 §2)."""
        flags = self._flags(req, initial=False)
        for bit in (FORWARDABLE, RENEWABLE):
            if not etp.flag(bit):
                flags &= ~(0x80000000 >> bit)
        if renew is None:
            flags &= ~(0x80000000 >> RENEWABLE)
        else:
            flags |= 0x80000000 >> RENEWABLE
        return flags

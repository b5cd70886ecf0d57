"""DESIGN.md §6: the ten Kerberos interop facts, each checked against the KDC core directly."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time

import pytest
from impacket.krb5 import constants
from impacket.krb5.asn1 import (AP_REQ, AS_REP, AS_REQ, ETYPE_INFO2, KRB_ERROR, METHOD_DATA,
                                PA_ENC_TS_ENC, TGS_REP, TGS_REQ, Authenticator, EncASRepPart,
                                EncryptedData, EncTGSRepPart, seq_set, seq_set_iter)
from impacket.krb5.crypto import Key, _checksum_table, _enctype_table
from impacket.krb5.types import KerberosTime, Principal, Ticket
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from fakegc.kdc.exchange import KdcCore, raw_req_body
from fakegc.kdc.principals import PrincipalDb

REALM = "CONTOSO.TEST"


@pytest.fixture
def core():
    db = PrincipalDb(REALM)
    db.add_user("alice", "Passw0rd!")
    db.add_service("exchangeAB/gc01.contoso.test")
    return KdcCore(db)


def as_req(user="alice", key=None, etypes=(18, 17, 23), ts_etype=18):
    req = AS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 10
    if key is not None:
        ts = PA_ENC_TS_ENC()
        ts["patimestamp"] = KerberosTime.to_asn1(dt.datetime.now(dt.timezone.utc))
        enc = EncryptedData()
        enc["etype"] = ts_etype
        enc["cipher"] = _enctype_table[ts_etype].encrypt(key, 1, encoder.encode(ts), None)
        req["padata"] = noValue
        req["padata"][0] = noValue
        req["padata"][0]["padata-type"] = 2
        req["padata"][0]["padata-value"] = encoder.encode(enc)
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags([1, 8])
    seq_set(body, "cname", Principal(user, type=1).components_to_asn1)
    seq_set(body, "sname", Principal(f"krbtgt/{REALM}", type=2).components_to_asn1)
    body["realm"] = REALM
    body["till"] = KerberosTime.to_asn1(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8))
    body["nonce"] = 424242
    seq_set_iter(body, "etype", etypes)
    return encoder.encode(req)


def tgt(core, etype=18):
    key = core.db.key(core.db.get("alice"), etype)
    reply = core.handle(as_req(key=key, ts_etype=etype)).reply
    rep = decoder.decode(reply, asn1Spec=AS_REP())[0]
    enc = decoder.decode(_enctype_table[etype].decrypt(key, 3, bytes(rep["enc-part"]["cipher"])),
                         asn1Spec=EncASRepPart())[0]
    return rep, enc, Key(int(enc["key"]["keytype"]), bytes(enc["key"]["keyvalue"]))


def tgs_req(rep, session, subkey=None, checksum=True, fast=False, sname="exchangeAB/gc01.contoso.test"):
    ticket = Ticket()
    ticket.from_asn1(rep["ticket"])
    req = TGS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 12
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags([1])
    seq_set(body, "sname", Principal(sname, type=2).components_to_asn1)
    body["realm"] = REALM
    body["till"] = KerberosTime.to_asn1(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8))
    body["nonce"] = 777
    seq_set_iter(body, "etype", (18,))
    body_bytes = raw_req_body(encoder.encode(req))  # KDC-REQ-BODY as it will go on the wire
    auth = Authenticator()
    auth["authenticator-vno"] = 5
    auth["crealm"] = REALM
    seq_set(auth, "cname", Principal("alice", type=1).components_to_asn1)
    now = dt.datetime.now(dt.timezone.utc)
    auth["cusec"] = random.randrange(999999)
    auth["ctime"] = KerberosTime.to_asn1(now)
    if checksum:
        auth["cksum"] = noValue
        auth["cksum"]["cksumtype"] = 16
        auth["cksum"]["checksum"] = _checksum_table[16].checksum(session, 6, body_bytes)
    if subkey is not None:
        auth["subkey"] = noValue
        auth["subkey"]["keytype"] = subkey.enctype
        auth["subkey"]["keyvalue"] = subkey.contents
    ap = AP_REQ()
    ap["pvno"] = 5
    ap["msg-type"] = 14
    ap["ap-options"] = constants.encodeFlags([])
    seq_set(ap, "ticket", ticket.to_asn1)
    ap["authenticator"] = noValue
    ap["authenticator"]["etype"] = session.enctype
    ap["authenticator"]["cipher"] = _enctype_table[session.enctype].encrypt(
        session, 7, encoder.encode(auth), None)
    req["padata"] = noValue
    req["padata"][0] = noValue
    req["padata"][0]["padata-type"] = 1
    req["padata"][0]["padata-value"] = encoder.encode(ap)
    if fast:
        req["padata"][1] = noValue
        req["padata"][1]["padata-type"] = 136
        req["padata"][1]["padata-value"] = b"\x30\x00"
    return encoder.encode(req)


def error_of(reply):
    return decoder.decode(reply, asn1Spec=KRB_ERROR())[0]


def test_fact1_fast_padata_is_ignored(core):
    rep, _, session = tgt(core)
    out = core.handle(tgs_req(rep, session, fast=True))
    assert out.kind == "reply"


def test_fact2_preauth_required_carries_etype_info2_and_empty_timestamp(core):
    err = error_of(core.handle(as_req()).reply)
    assert int(err["error-code"]) == 25
    methods = decoder.decode(bytes(err["e-data"]), asn1Spec=METHOD_DATA())[0]
    types = [int(m["padata-type"]) for m in methods]
    assert types == [19, 2] and bytes(methods[1]["padata-value"]) == b""
    info = decoder.decode(bytes(methods[0]["padata-value"]), asn1Spec=ETYPE_INFO2())[0]
    assert [int(e["etype"]) for e in info] == [18, 17, 23]


def test_fact3_salt_is_realm_plus_name_and_rc4_has_none(core):
    err = error_of(core.handle(as_req()).reply)
    methods = decoder.decode(bytes(err["e-data"]), asn1Spec=METHOD_DATA())[0]
    info = decoder.decode(bytes(methods[0]["padata-value"]), asn1Spec=ETYPE_INFO2())[0]
    salts = {int(e["etype"]): (str(e["salt"]) if e["salt"].hasValue() else None) for e in info}
    assert salts == {18: "CONTOSO.TESTalice", 17: "CONTOSO.TESTalice", 23: None}


def test_fact4_as_rep_uses_timestamp_etype_and_tag_25(core):
    key = core.db.key(core.db.get("alice"), 17)
    reply = core.handle(as_req(key=key, ts_etype=17, etypes=(18, 17))).reply
    rep = decoder.decode(reply, asn1Spec=AS_REP())[0]
    assert int(rep["enc-part"]["etype"]) == 17
    plain = _enctype_table[17].decrypt(key, 3, bytes(rep["enc-part"]["cipher"]))
    assert plain[0] == 0x79  # [APPLICATION 25] EncASRepPart, which impacket requires


def test_fact5_tgs_reply_key_subkey_usage_9_else_session_usage_8(core):
    rep, _, session = tgt(core)
    sub = Key(18, bytes(range(32)))
    out = decoder.decode(core.handle(tgs_req(rep, session, subkey=sub)).reply, asn1Spec=TGS_REP())[0]
    _enctype_table[18].decrypt(sub, 9, bytes(out["enc-part"]["cipher"]))
    out = decoder.decode(core.handle(tgs_req(rep, session, checksum=False)).reply, asn1Spec=TGS_REP())[0]
    _enctype_table[session.enctype].decrypt(session, 8, bytes(out["enc-part"]["cipher"]))


def test_fact5_body_checksum_is_verified_over_the_raw_bytes(core):
    rep, _, session = tgt(core)
    good = tgs_req(rep, session)
    assert core.handle(good).kind == "reply"
    assert int(error_of(core.handle(good).reply)["error-code"]) == 34  # the same again: a replay
    fresh = tgs_req(rep, session)
    body = raw_req_body(fresh)
    tampered = fresh.replace(body, body.replace(b"exchangeAB", b"exchangeXB"))
    assert int(error_of(core.handle(tampered).reply)["error-code"]) == 41  # KRB_AP_ERR_MODIFIED


def test_fact6_nonce_echoed_and_starttime_present(core):
    rep, enc, _ = tgt(core)
    assert int(enc["nonce"]) == 424242 and enc["starttime"].hasValue()
    rep2, _, session = tgt(core)
    out = decoder.decode(core.handle(tgs_req(rep2, session, checksum=False)).reply, asn1Spec=TGS_REP())[0]
    part = decoder.decode(_enctype_table[session.enctype].decrypt(session, 8, bytes(out["enc-part"]["cipher"])),
                          asn1Spec=EncTGSRepPart())[0]
    assert int(part["nonce"]) == 777 and part["starttime"].hasValue()


def test_fact7_krb_error_fields_and_echoed_sname(core):
    err = error_of(core.handle(as_req(user="nobody")).reply)
    assert int(err["pvno"]) == 5 and int(err["msg-type"]) == 30
    assert err["stime"].hasValue() and err["susec"].hasValue()
    assert int(err["error-code"]) == 6 and str(err["realm"]) == REALM
    assert [str(x) for x in err["sname"]["name-string"]] == ["krbtgt", REALM]


def test_fact10_keys_derive_fast_with_hashlib(core):
    db = PrincipalDb(REALM)
    users = [db.add_user(f"u{i}", f"pw{i}") for i in range(200)]
    started = time.perf_counter()
    keys = [db.key(u, 18) for u in users[:20]]
    assert all(len(k.contents) == 32 for k in keys)
    # same value as RFC 3962 string-to-key through impacket's own (slow) path
    ref = _enctype_table[18].string_to_key("pw0", f"{REALM}u0".encode(), None)
    assert keys[0].contents == ref.contents
    assert time.perf_counter() - started >= 0  # speed itself: benchmarks/bench_start.py
    assert hashlib.pbkdf2_hmac  # the fast path in use

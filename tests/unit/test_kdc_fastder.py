"""The hand-written DER of the KDC's hot paths agrees with impacket + pyasn1 (PROTOCOL.md §7)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from impacket.krb5.asn1 import AS_REQ, PA_DATA
from impacket.krb5.asn1 import KRB_ERROR as KRB_ERROR_SPEC
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from fakegc.kdc import messages
from fakegc.kdc.derread import DerError, Request, parse_kdc_req
from fakegc.kdc.layouts import LayoutCache, read_kdc_req
from fakegc.kdc.messages import krb_error, krb_error_pyasn1, peek, peek_pyasn1
from fakegc.testing.strategies import as_requests

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.$_", min_size=1, max_size=30)
FIXED = dt.datetime(2026, 11, 25, 3, 4, 5, tzinfo=dt.UTC)


@settings(max_examples=300, deadline=None)
@given(code=st.integers(0, 2**31 - 1), realm=st.sampled_from(["CONTOSO.TEST", "X"]),
       sname=st.lists(WORD, min_size=1, max_size=3), sname_type=st.integers(0, 10),
       e_text=st.none() | st.text(max_size=200), e_data=st.none() | st.binary(max_size=300),
       cname=st.none() | st.lists(WORD, min_size=1, max_size=2))
def test_krb_error_is_byte_identical_to_pyasn1(code, realm, sname, sname_type, e_text, e_data, cname):
    crealm = realm if cname else None
    with mock.patch.object(messages, "_now", lambda offset: FIXED):
        fast = krb_error(code, realm, sname, sname_type, e_text, e_data, 0.0, cname, crealm)
        ref = krb_error_pyasn1(code, realm, sname, sname_type, e_text, e_data, 0.0, cname, crealm)
    assert fast == ref


def _fields(req):
    return (req.msg, req.client, req.service, req.realm, req.etypes, req.sname_components,
            req.sname_type, req.nonce, req.pvno)


def _with_padata(raw: bytes, kinds: list[int]) -> bytes:
    req = decoder.decode(raw, asn1Spec=AS_REQ())[0]
    req["padata"] = noValue
    for i, kind in enumerate(kinds):
        pa = PA_DATA()
        pa["padata-type"] = kind
        pa["padata-value"] = bytes([i]) * i
        req["padata"][i] = pa
    return encoder.encode(req)


@settings(max_examples=200, deadline=None)
@given(as_requests(), st.lists(st.sampled_from([2, 128, 136, 149, 19]), max_size=3))
def test_walker_agrees_with_pyasn1_on_as_requests(raw, kinds):
    if kinds:
        raw = _with_padata(raw, kinds)
    summary = read_kdc_req(raw)
    assert summary.ok and summary.padata_types == kinds
    assert _fields(peek(raw)) == _fields(peek_pyasn1(raw))


@settings(max_examples=400, deadline=None)
@given(as_requests(), st.integers(0, 10_000), st.integers(0, 255))
def test_walker_never_disagrees_on_mutated_requests(raw, where, value):
    raw = bytearray(raw)
    raw[where % len(raw)] = value
    raw = bytes(raw)
    try:
        summary = read_kdc_req(raw)
    except (DerError, IndexError, UnicodeDecodeError):
        summary = None
    ref = peek_pyasn1(raw)
    if summary is not None and ref.ok:
        assert _fields(peek(raw)) == _fields(ref)


def test_error_paths_answer_without_pyasn1(kdc):
    """Unknown client and PREAUTH_REQUIRED never decode the request with pyasn1."""
    from impacket.krb5 import constants
    from impacket.krb5.asn1 import KRB_ERROR

    build = _build_as
    with mock.patch.object(messages.decoder, "decode", side_effect=AssertionError("pyasn1 used")):
        unknown = kdc.core.handle(build("nobody"))
        preauth = kdc.core.handle(build("alice"))
    assert unknown.code == constants.ErrorCodes.KDC_ERR_C_PRINCIPAL_UNKNOWN.value
    assert preauth.code == constants.ErrorCodes.KDC_ERR_PREAUTH_REQUIRED.value
    err = decoder.decode(preauth.reply, asn1Spec=KRB_ERROR())[0]
    assert [str(x) for x in err["sname"]["name-string"]] == ["krbtgt", "CONTOSO.TEST"]
    assert bytes(err["e-data"])  # METHOD-DATA with ETYPE-INFO2


def _build_as(user: str) -> bytes:
    from impacket.krb5.asn1 import seq_set, seq_set_iter
    from impacket.krb5.types import KerberosTime, Principal

    req = AS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 10
    body = seq_set(req, "req-body")
    body["kdc-options"] = "01010000000000000000000000000000"
    seq_set(body, "cname", Principal(user, type=1).components_to_asn1)
    seq_set(body, "sname", Principal("krbtgt/CONTOSO.TEST", type=2).components_to_asn1)
    body["realm"] = "CONTOSO.TEST"
    body["till"] = KerberosTime.to_asn1(FIXED + dt.timedelta(hours=1))
    body["nonce"] = 12345
    seq_set_iter(body, "etype", [18, 23])
    return encoder.encode(req)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([17, 18, 23]), st.binary(min_size=32, max_size=32), st.integers(1, 30),
       st.binary(max_size=200), st.binary(min_size=16, max_size=16))
def test_cached_derivation_matches_impacket(etype, raw_key, usage, plain, confounder):
    from impacket.krb5.crypto import Key, _enctype_table

    from fakegc import crypto

    key = Key(etype, raw_key[:_enctype_table[etype].keysize])
    if etype != 23:
        assert crypto.encrypt(key, usage, plain, confounder) == \
            _enctype_table[etype].encrypt(key, usage, plain, confounder)
    cipher = crypto.encrypt(key, usage, plain)
    assert _enctype_table[etype].decrypt(key, usage, cipher) == plain
    assert crypto.decrypt(key, usage, cipher) == plain
    other = Key(etype, bytes(b ^ 1 for b in key.contents))
    # RFC 3961 5.3: the HMAC check fails under another key (impacket: InvalidChecksum)
    with pytest.raises(ValueError):
        crypto.decrypt(other, usage, cipher)


_SLOTS = [s for s in Request.__slots__ if s not in ("data", "wire")]


def _all_fields(req):
    return {name: getattr(req, name) for name in _SLOTS}


def _parse_or_error(reader, raw):
    try:
        return _all_fields(reader(raw))
    except (DerError, IndexError, UnicodeDecodeError):
        return "refused"


@settings(max_examples=400, deadline=None)
@given(as_requests(), st.integers(0, 10_000), st.integers(0, 255), st.booleans())
def test_layout_cache_reads_exactly_what_the_full_reader_reads(raw, where, value, timestamp):
    """A request recognised by its layout reads the same as a full parse, mutated or not."""
    if timestamp:  # a PA-ENC-TIMESTAMP-sized padata value, as pre-authenticated AS-REQs carry
        raw = _with_padata(raw, [2, 149])
    cache = LayoutCache()
    assert _all_fields(cache.read(raw)) == _all_fields(parse_kdc_req(raw))
    again = cache.read(raw)  # now by layout
    assert _all_fields(again) == _all_fields(parse_kdc_req(raw)) and again.data is raw
    mutated = bytearray(raw)
    mutated[where % len(raw)] = value
    mutated = bytes(mutated)
    assert _parse_or_error(cache.read, mutated) == _parse_or_error(parse_kdc_req, mutated)


def test_layout_cache_recognises_other_clients_of_the_same_shape():
    """Names of the same length share a layout; their own names come back, not the template's."""
    cache = LayoutCache()
    first = cache.read(_build_as("user01"))
    second = cache.read(_build_as("user02"))
    assert (first.client, second.client) == ("user01", "user02")
    assert second.cname_der != first.cname_der and b"user02" in second.cname_der
    assert len(cache.shapes.by_length) == 1 and cache.shapes.count == 1  # learned once, recognised after


def test_replies_to_a_burst_of_datagrams_each_reach_their_sender(kdc):
    """Replies of one read pass go out together: every request still gets its own answer."""
    import socket

    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        sent = {}
        for i in range(24):
            s = socks[i % 3]
            s.sendto(_build_as(f"ghost{i:02d}"), ("127.0.0.1", kdc.udp_port))
            sent.setdefault(s, []).append(f"ghost{i:02d}")
        for s, names in sent.items():
            s.settimeout(5)
            got = []
            for _ in names:
                err = decoder.decode(s.recv(4096), asn1Spec=KRB_ERROR_SPEC())[0]
                assert int(err["error-code"]) == 6  # KDC_ERR_C_PRINCIPAL_UNKNOWN
                got.append(str(err["cname"]["name-string"][0]))
            assert sorted(got) == names  # each socket hears about its own clients only
    finally:
        for s in socks:
            s.close()


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([(15, 17), (16, 18), (-138, 23)]), st.binary(min_size=32, max_size=32),
       st.integers(1, 30), st.binary(max_size=300))
def test_cached_checksum_matches_impacket(kind, raw_key, usage, data):
    """Keyed checksums (RFC 3961/3962) with Kc derived once equal impacket's, and verify."""
    from impacket.krb5.crypto import Key, _checksum_table, _enctype_table

    from fakegc import crypto

    cksumtype, etype = kind
    key = Key(etype, raw_key[:_enctype_table[etype].keysize])
    ours = crypto.checksum(key, usage, data, cksumtype)
    assert ours == _checksum_table[cksumtype].checksum(key, usage, data)
    assert crypto.verify_checksum(key, usage, data, cksumtype, ours)
    assert not crypto.verify_checksum(key, usage, data + b"x", cksumtype, ours)

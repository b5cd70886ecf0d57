"""The crypto floor (fakegc/crypto.py) against outside oracles: MS-NLMP's test vectors and
impacket's RFC 3961/3962 implementation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from impacket.krb5.crypto import _enctype_table

from fakegc import crypto


def test_nt_hash_matches_ms_nlmp_vector() -> None:
    # MS-NLMP 4.2.2.1.2: NTOWFv1("Password") = a4f49c40 6510bdca b6824ee7 c30fd852
    assert crypto.nt_hash("Password") == bytes.fromhex("a4f49c406510bdcab6824ee7c30fd852")


def test_hmac_md5_matches_rfc2202_vector() -> None:
    # RFC 2202 section 2, test case 2
    assert crypto.hmac_md5(b"Jefe", b"what do ya want for nothing?") == \
        bytes.fromhex("750c783e6ab0b503eaa86e310a5db738")


@settings(max_examples=20, deadline=None)
@given(etype=st.sampled_from([crypto.AES128, crypto.AES256, crypto.RC4]),
       password=st.text(min_size=0, max_size=20),
       salt=st.binary(min_size=0, max_size=30))
def test_string_to_key_matches_impacket(etype: int, password: str, salt: bytes) -> None:
    # impacket.krb5.crypto string_to_key (RFC 3962 section 4, RFC 4757) is the oracle
    theirs = _enctype_table[etype].string_to_key(password, salt, None)
    ours = crypto.string_to_key(etype, password, salt)
    assert (ours.enctype, ours.contents) == (theirs.enctype, theirs.contents)



def test_hmac_md5_states_match_rfc2202_vectors() -> None:
    # RFC 2202 section 2, test cases 2 and 6 (a 80-byte key, longer than the MD5 block)
    assert crypto.Hmac(b"Jefe").digest(b"what do ya ", b"want for nothing?") == \
        bytes.fromhex("750c783e6ab0b503eaa86e310a5db738")
    assert crypto.Hmac(b"\xaa" * 80).digest(
        b"Test Using Larger Than Block-Size Key - Hash Key First") == \
        bytes.fromhex("6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd")


@settings(max_examples=60, deadline=None)
@given(key=st.binary(max_size=100), parts=st.lists(st.binary(max_size=300), max_size=5),
       reuse=st.integers(min_value=1, max_value=3), name=st.sampled_from(["md5", "sha1"]))
def test_hmac_states_match_hmac_digest(key: bytes, parts: list[bytes], reuse: int,
                                       name: str) -> None:
    # oracle: the standard library's hmac.digest (RFC 2104), over the joined parts; the
    # precomputed states must not carry anything from one MAC to the next
    import hmac

    mac = crypto.Hmac(key, name)
    for _ in range(reuse):
        assert mac.digest(*(memoryview(p) for p in parts)) == hmac.digest(key, b"".join(parts), name)


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), blocks=st.lists(st.integers(0, 300), min_size=1,
                                                                 max_size=4))
def test_cts_encrypt_parts_matches_impacket(key: bytes, blocks: list[int]) -> None:
    # oracle: impacket's AES-CTS (RFC 3962 section 5, _AES256CTS.basic_encrypt) of the joined
    # parts; several messages in a row, as the long-lived CBC context carries its state
    import os

    from impacket.krb5.crypto import Key

    for n in blocks:
        first, middle, last = os.urandom(16), os.urandom(16 * n), os.urandom(32)
        out = bytearray(len(middle) + 15)
        c_first, c_last = crypto.cts_encrypt_parts(key, first, memoryview(middle), last,
                                                   memoryview(out))
        theirs = _enctype_table[18].basic_encrypt(Key(18, key), first + middle + last)
        assert c_first + bytes(out[:len(middle)]) + c_last == theirs
        assert out[len(middle):] == bytes(15)  # OpenSSL's extra room is not written


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=600),
       usage=st.sampled_from([13, 15]), small=st.binary(min_size=4, max_size=8))
def test_rc4_hmac_gss_parts_match_cryptodome(key: bytes, data: bytes, usage: int, small: bytes) -> None:
    # oracle: RFC 4757 section 7.3 written with Cryptodome's HMAC / MD5 / ARC4, as impacket's
    # GSSAPI_RC4 computes them (impacket.krb5.gssapi GSS_Wrap / GSS_GetMIC)
    import struct

    from Cryptodome.Cipher import ARC4
    from Cryptodome.Hash import HMAC, MD5

    ksign = HMAC.new(key, b"signaturekey\0", MD5).digest()
    want = HMAC.new(ksign, MD5.new(struct.pack("<L", usage) + data).digest(), MD5).digest()[:8]
    assert crypto.rc4_checksum(key, usage, data) == want
    kseq = HMAC.new(HMAC.new(key, struct.pack("<L", 0), MD5).digest(), small, MD5).digest()
    assert crypto.rc4_kseq(key, small) == kseq
    klocal = bytes(b ^ 0xF0 for b in key)
    kcrypt = HMAC.new(HMAC.new(klocal, struct.pack("<L", 0), MD5).digest(), small[:4], MD5).digest()
    assert crypto.rc4_kcrypt(key, small[:4]) == kcrypt
    assert crypto.arc4(kcrypt, data) == ARC4.new(kcrypt).encrypt(data)

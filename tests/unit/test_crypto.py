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


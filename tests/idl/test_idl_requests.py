"""fakegc decodes every NSPI request the IDL allows (issue #22).

The stubs are encoded by the IDL-driven oracle (tests/idl/ndr.py over the table in
tests/idl/nspi_idl.py, transcribed from MS-OXNSPI section 6), independent of impacket
and of fakegc's codecs; Hypothesis draws the parameters, unique pointers NULL and not.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakegc.nspi import fastcodec
from fakegc.nspi.fastcodec64 import Ndr64Reader
from fakegc.nspi.fastcodec_be import BigEndianReader
from tests.idl import nspi_idl as I
from tests.idl.ndr import decode_params, encode_params
from tests.idl.values import params_for, request_message

OPNUMS = sorted(I.METHODS)


@pytest.mark.parametrize("opnum", OPNUMS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fakegc_decodes_what_the_idl_encodes(opnum, data):
    _, ins, _ = I.METHODS[opnum]
    params = data.draw(params_for(opnum))
    stub = encode_params(ins, params)
    # the oracle reads its own bytes back (the table and the engine agree with each other)
    back, left = decode_params(ins, stub)
    assert left == 0
    # MS-OXNSPI section 6 (the IDL): fakegc's decoder reads the same values
    got = fastcodec.decode(opnum, stub)
    assert got == request_message(opnum, back)
    assert got.trailing == 0  # an IDL-form request is never journaled as nonconformant


@pytest.mark.parametrize("opnum", OPNUMS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_truncated_request_is_refused_never_misread(opnum, data):
    _, ins, _ = I.METHODS[opnum]
    stub = encode_params(ins, data.draw(params_for(opnum)))
    cut = data.draw(st.integers(0, len(stub) - 1))
    # a strict unmarshaller faults a stub that ends early (MS-RPCE 3.1.1.5.5: stub data error)
    with pytest.raises((ValueError, IndexError, Exception)) as err:
        got = fastcodec.decode(opnum, stub[:cut])
        # a prefix can be a complete request only if every later byte was padding
        if stub[cut:].strip(b"\x00") == b"" and got == fastcodec.decode(opnum, stub):
            raise ValueError("prefix of padding")
        raise AssertionError(f"decoded a truncated stub: {got}")
    assert not isinstance(err.value, AssertionError)


@pytest.mark.parametrize("opnum", OPNUMS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_big_endian_requests_decode_to_the_same_values(opnum, data):
    _, ins, _ = I.METHODS[opnum]
    params = data.draw(params_for(opnum))
    little, big = encode_params(ins, params), encode_params(ins, params, order=">")
    # C706 14.2.5 (drep 0x00): the same call marshalled big-endian, by the IDL oracle
    got = fastcodec.decode(opnum, big, BigEndianReader)
    back, _ = decode_params(ins, little)
    assert got == request_message(opnum, back) == fastcodec.decode(opnum, little)
    assert got.trailing == 0


@pytest.mark.parametrize("opnum", OPNUMS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_ndr64_requests_decode_to_the_same_values(opnum, data):
    _, ins, _ = I.METHODS[opnum]
    params = data.draw(params_for(opnum))
    little, wide = encode_params(ins, params), encode_params(ins, params, ndr64=True)
    # MS-RPCE 2.2.5: the same call in NDR64, marshalled by the IDL oracle
    back, left = decode_params(ins, wide, ndr64=True)
    assert left == 0
    got = fastcodec.decode(opnum, wide, Ndr64Reader)
    assert got == request_message(opnum, back) == fastcodec.decode(opnum, little)
    assert got.trailing == 0

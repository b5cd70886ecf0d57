"""The sealing benchmark's answer reader (benchmarks/fragments.py) against PDUs impacket builds.

impacket's MSRPCRespHeader is the oracle for the connection-oriented PDU layout (C706
12.6.3.1 common header, 12.6.4.9 response, 12.6.4.7 fault): it computes frag_length and
auth_length itself, so the reader must find the same fragment boundaries in any split of
the stream and count an answer only when it is the one asked for.  No timing here.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from impacket.dcerpc.v5.rpcrt import (
    MSRPC_FAULT,
    MSRPC_RESPONSE,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    SEC_TRAILER,
    MSRPCRespHeader,
)

from benchmarks.fragments import AnswerReader, fragments


def _fragment(call_id: int, body: bytes, flags: int, ptype: int = MSRPC_RESPONSE,
              auth: bytes = b"") -> bytes:
    pdu = MSRPCRespHeader()
    pdu["type"] = ptype
    pdu["flags"] = flags
    pdu["call_id"] = call_id
    pdu["alloc_hint"] = len(body)
    pdu["pduData"] = body
    if auth:
        trailer = SEC_TRAILER()
        trailer["auth_type"], trailer["auth_level"] = 10, 6
        pdu["sec_trailer"] = trailer.getData()
        pdu["auth_data"] = auth
    return bytes(pdu.get_packet())


def _answer(call_id: int, sizes: tuple[int, ...] = (4000, 4000, 1200), auth: bytes = b"") -> bytes:
    """One answer in len(sizes) fragments: FIRST on the first, LAST on the last (C706 12.6.3.1)."""
    out = b""
    for i, n in enumerate(sizes):
        flags = (PFC_FIRST_FRAG if i == 0 else 0) | (PFC_LAST_FRAG if i == len(sizes) - 1 else 0)
        out += _fragment(call_id, bytes([i]) * n, flags, auth=auth)
    return out


def _feed(reader: AnswerReader, data: bytes, cuts: list[int]) -> int:
    done = 0
    at = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        done += reader.feed(data[at:cut])
        at = cut
    return done


def test_fragments_lists_what_impacket_packed():
    data = _answer(7, auth=b"\x01" * 16)
    frags = fragments(data + data[:30])  # a partial fragment after: left out
    # C706 12.6.3.1: frag_length covers header, body, sec_trailer and auth_value
    assert frags == [(MSRPC_RESPONSE, PFC_FIRST_FRAG, 24 + 4000 + 8 + 16, 16),
                     (MSRPC_RESPONSE, 0, 24 + 4000 + 8 + 16, 16),
                     (MSRPC_RESPONSE, PFC_LAST_FRAG, 24 + 1200 + 8 + 16, 16)]
    assert sum(f[2] for f in frags) == len(data)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2 * 8328), max_size=12))
def test_two_answers_in_any_split_count_as_two_good(cuts):
    one = _answer(5)
    data = one + _answer(5)
    reader = AnswerReader(len(one))
    reader.expect(5)
    assert _feed(reader, data, [c for c in cuts if c < len(data)]) == 2
    assert (reader.good, reader.wrong) == (2, 0)


def test_byte_by_byte():
    data = _answer(9, (100, 3))
    reader = AnswerReader(len(data))
    reader.expect(9)
    assert sum(reader.feed(data[i:i + 1]) for i in range(len(data))) == 1
    assert (reader.good, reader.wrong) == (1, 0)


def test_other_size_is_wrong():
    data = _answer(3)
    reader = AnswerReader(len(data) + 16)  # the reference answer was longer
    reader.expect(3)
    assert reader.feed(data) == 1
    assert (reader.good, reader.wrong) == (0, 1)


def test_another_calls_answer_is_wrong():
    data = _answer(3)
    reader = AnswerReader(len(data))
    reader.expect(4)  # C706 12.6.4: a response carries its request's call_id
    reader.feed(data)
    assert (reader.good, reader.wrong) == (0, 1)


def test_a_fault_ends_the_answer_and_is_wrong():
    # C706 12.6.4.7: a fault is one PDU; the reader must not wait for a LAST_FRAG after it
    fault = _fragment(3, b"\x05\x00\x00\x1c", PFC_FIRST_FRAG, ptype=MSRPC_FAULT)
    good = _answer(4)
    reader = AnswerReader(len(good))
    reader.expect(3)
    assert reader.feed(fault) == 1
    reader.expect(4)
    assert reader.feed(good) == 1
    assert (reader.good, reader.wrong) == (1, 1)


def test_a_frag_length_below_the_header_is_refused():
    data = bytearray(_answer(1))
    data[8:10] = (8).to_bytes(2, "little")
    with pytest.raises(ValueError, match="framing"):
        AnswerReader(100).feed(bytes(data))

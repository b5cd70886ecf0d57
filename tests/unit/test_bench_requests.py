"""The benchmarks' requests are answered, and the load generator counts only answers.

A benchmark whose requests the server refuses measures faults.  Every stub the NSPI
benchmarks send (benchmarks/nspi_requests.py: bench_nspi, bench_nspi_ops, bench_sealing,
bench_sessions) is read by the IDL oracle (tests/idl, transcribed from MS-OXNSPI section 6,
independent of fakegc's codecs), then answered through the server's own registered
operation in process, and the answer is read back by the same oracle: status 0 and the
rows asked for.  No timing here.
"""

from __future__ import annotations

import asyncio
import struct

import pytest

from benchmarks import nspi_requests as R
from benchmarks.loadgen import _Client, ept_map_stub
from fakegc.directory import loader
from fakegc.nspi import NSPI, StaticGc
from fakegc.rpc.registry import AssociationGroup, CallContext
from fakegc.wire import pdu as P
from tests.idl import nspi_idl as I
from tests.idl.ndr import decode_params

GC = StaticGc(loader.load_default(), allow_anonymous=True)


def _ctx(opnum: int, group: AssociationGroup) -> CallContext:
    return CallContext(GC, "gc01", NSPI, opnum, 1, 0, 1, group, None, None)


def _call(opnum: int, stub: bytes, group: AssociationGroup) -> dict:
    # MS-OXNSPI section 6 (the IDL): the request is complete, nothing left over
    params, left = decode_params(I.METHODS[opnum][1], stub)
    assert left == 0
    answer = NSPI.operations[opnum].call(_ctx(opnum, group), stub)
    # MS-OXNSPI section 6: the answer's [out] parameters then the long return value, nothing after
    values, left = decode_params(I.METHODS[opnum][2], answer)
    assert left == 0
    assert R.answer_status(answer) == values["result"] & 0xFFFFFFFF
    return {"in": params, **values}


@pytest.fixture()
def handle() -> tuple[bytes, AssociationGroup]:
    group = AssociationGroup(1)
    bound = _call(0, R.bind(), group)
    assert bound["result"] == 0  # MS-OXNSPI 3.1.4.1.1: Success for an anonymous bind the GC allows
    raw = bound["contextHandle"]
    return (raw if isinstance(raw, bytes) else bytes(raw)), group


def test_every_load_generator_stub_is_answered_with_status_0(handle):
    h, group = handle
    stubs = R.stubs(h)
    assert set(stubs) == set(R.OPNUMS)
    for name, stub in stubs.items():
        got = _call(R.OPNUMS[name], stub, group)
        assert got["result"] == 0, name  # MS-OXNSPI 2.2.1.2 Success: an answer, not a refusal


def test_query_rows_answers_fifty_rows_of_the_eight_columns(handle):
    h, group = handle
    got = _call(3, R.query_rows(h), group)
    assert got["in"]["Count"] == 50 and got["in"]["pPropTags"]["cValues"] == 8
    rows = got["ppRows"]["aRow"]
    # MS-OXNSPI 3.1.4.1.8: up to Count rows, each with the columns of pPropTags
    assert len(rows) == 50
    assert all(row["cValues"] == 8 for row in rows)
    assert [v["ulPropTag"] & 0xFFFF0000 for v in rows[0]["lpProps"]] == \
        [t & 0xFFFF0000 for t in R.EIGHT_COLUMNS]


def test_resolve_names_resolves_alice(handle):
    h, group = handle
    got = _call(20, R.resolve_names_w(h), group)
    mids = got["ppMIds"]["aulPropTag"]
    # MS-OXNSPI 3.1.4.1.14: one MId per name; 0 (MID_UNRESOLVED) would mean not found
    assert len(mids) == 1 and mids[0] not in (0, 1)


def test_a_stale_handle_is_not_counted_as_an_answer():
    # the stubs carry the handle; with one the server never issued the call is refused
    # (MS-OXNSPI 3.1.4.1 / MS-RPCE 3.3.1.5.6 context handle checks) and never counts
    from fakegc.rpc.registry import RpcFault

    with pytest.raises(RpcFault):
        NSPI.operations[3].call(_ctx(3, AssociationGroup(2)), R.query_rows(b"\x00" * 4 + b"\x11" * 16))


def _response(stub: bytes, last: bool = True) -> bytes:
    # C706 12.6.4.9: the request/response header, alloc_hint, p_cont_id, cancel_count, then the stub
    flags = P.PFC.FIRST_FRAG | (P.PFC.LAST_FRAG if last else 0)
    return P.pack_header(P.PTYPE.RESPONSE, flags, 24 + len(stub), 0, 7) + P.pack_response_header(len(stub), 0) + stub


def test_load_generator_counts_only_answers_with_the_expected_status():
    loop = asyncio.new_event_loop()
    try:
        client = _Client(b"", 0, loop.create_future())
        client.bound = True
        ok = b"\x00" * 12 + struct.pack("<I", 0)
        refused = b"\x00" * 12 + struct.pack("<I", 0x80070057)  # MS-OXNSPI 2.2.1.2 InvalidParameter
        data = (_response(b"\x00" * 8, last=False) + _response(ok) + _response(refused)
                + P.pack_fault(7, 0, 0x1C010003))  # C706 appendix E: nca_s_op_rng_error
        client.data_received(data[:37])  # split anywhere: PDUs reassemble
        client.data_received(data[37:])
    finally:
        loop.close()
    assert (client.count, client.bad_status, client.faults) == (1, 1, 1)


def test_ept_map_stub_of_the_epm_benchmarks_is_answered_with_status_0():
    from fakegc.rpc.epm import EPM, EndpointMap

    class Host:
        endpoint_map = EndpointMap()
    Host.endpoint_map.register(NSPI, "127.0.0.1", 4000)
    ctx = CallContext(Host(), "gc01", EPM, 3, 1, 0, 1, AssociationGroup(3), None, None)
    answer = EPM.operations[3].call(ctx, ept_map_stub(NSPI.syntax))
    # C706 O.2.7 ept_map: status last, 0 when a tower was found (Samba's epmapper agrees)
    assert struct.unpack("<I", answer[-4:])[0] == 0
    assert struct.unpack_from("<I", answer, 20)[0] == 1  # num_towers


def test_soak_bad_seek_stub_fails_where_soak_says_at_the_union_tag():
    # soak's "stubs" phase counts nca_s_fault_ndr for a SeekEntries with an unknown
    # PropertyValue_r union tag; the IDL oracle (MS-OXNSPI section 6) stops at that tag too,
    # so the phase measures the bad tag, not some other layout disagreement
    from benchmarks.soak import BAD_SEEK
    from tests.idl.ndr import StubError

    with pytest.raises(StubError, match="union discriminant"):
        decode_params(I.METHODS[4][1], BAD_SEEK)

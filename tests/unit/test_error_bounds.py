"""Error records stay bounded and undecodable stubs get the NDR fault (issue #18 item 2)."""

from __future__ import annotations

import gc
import sys

from fakegc.errorlog import ErrorLog
from fakegc.nspi import NSPI
from fakegc.scenario.cluster import ClusterThread
from fakegc.testing.rawrpc import NtlmSession, RawRpc, syntax
from fakegc.wire import pdu as P

# an NspiSeekEntries stub whose PropertyValue union tag is not a property type: impacket's
# NDR decoder raises a bare Exception("Unknown tag ... for union!")
BAD_SEEK = bytes.fromhex(
    "335f973daad8619b91ffc911f57cced458bbbf2ce03753c9bdfa0ff0169dc9575674066676cfb0b4eb89"
    "02c44269da1cf6ba66d3f8b6d4b100a9ea0e755a5c2e8210242a08e7078f7f")
NCA_S_FAULT_NDR = 0x000006F7


class _Big(Exception):
    def __init__(self) -> None:
        super().__init__("boom")
        self.payload = bytearray(1 << 20)


def _raise_big() -> None:
    local_buffer = bytearray(1 << 20)  # noqa: F841 (a frame local the traceback would keep)
    raise _Big


def test_error_log_keeps_summaries_not_exceptions() -> None:
    log = ErrorLog(keep=10)
    for _ in range(200):
        try:
            _raise_big()
        except _Big as exc:
            log.append(exc)
    gc.collect()
    assert log.total == 200 and len(log) == 10 and log.by_type["_Big"] == 200
    record = log[0]
    assert record.__traceback__ is None and "test_error_bounds.py" in record.summary
    assert "_raise_big" in record.summary
    assert sum(sys.getsizeof(r.summary) for r in log) < 10_000
    assert not any(isinstance(o, _Big) for o in gc.get_objects())  # nothing held the 1 MiB


def test_undecodable_stub_is_nca_s_fault_ndr() -> None:
    with ClusterThread() as ct:
        ep = ct.endpoints()
        user = ep["users"][0]
        with RawRpc("127.0.0.1", ep["actors"]["gc01"]["nspi"]) as rpc:
            session = NtlmSession(rpc, user["name"], user["password"])
            assert session.bind(syntax(NSPI.uuid, 56)).ptype == P.PTYPE.BIND_ACK
            for call_id in range(2, 12):
                reply = session.request(call_id, 4, BAD_SEEK)  # opnum 4: NspiSeekEntries
                # MS-RPCE 3.1.1.5.5 / C706 appendix E: a stub the server cannot unmarshal is
                # answered nca_s_fault_ndr (rpc_x_bad_stub_data), not an internal error
                assert reply.ptype == P.PTYPE.FAULT and reply.status == NCA_S_FAULT_NDR
        assert not any(s.errors for s in ct.cluster.all_servers())

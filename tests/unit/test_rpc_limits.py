"""RPC engine bounds under hostile peers (issue #18 items 1 and 3).

Oracles: Windows' interface security callback (rpcdce.h RPC_IF_CALLBACK_FN: a refused caller
gets RPC_S_ACCESS_DENIED, 5; without RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH the runtime
filters unauthenticated calls first), C706 12.6.4.7 (fault PDU), MS-RPCE 2.2.2.4
(nca_s_fault_remote_no_memory for a request the server cannot hold).
"""

from __future__ import annotations

import socket
import time

from fakegc.rpc.epm import EPM
from fakegc.rpc.server import RpcLimits
from fakegc.sources import SourceCap
from fakegc.testing.echo import ECHO
from fakegc.testing.rawrpc import NDR20, NtlmSession, RawRpc, syntax
from fakegc.wire import pdu as P

ACCESS_DENIED = 5
FIRST = P.PFC.FIRST_FRAG


def _pending_bytes(bg_loop, server) -> int:
    return bg_loop.call(lambda: sum(c.calls.buffered for c in server._connections))


def test_unauthenticated_first_fragment_is_refused_without_buffering(make_server, bg_loop):
    server = make_server()
    with RawRpc("127.0.0.1", server.port) as rpc:
        assert rpc.bind(syntax(ECHO.uuid, 1)).ptype == P.PTYPE.BIND_ACK
        for call_id in range(2, 66):  # 64 calls, each announcing 4 MiB, first fragments only
            rpc.send(rpc.request_pdu(call_id, 0, 1, b"\x00" * 4000, flags=FIRST,
                                     alloc_hint=4 << 20))
            reply = rpc.recv()
            # refused at the first fragment (security callback), not when the call completes
            assert reply.ptype == P.PTYPE.FAULT and reply.status == ACCESS_DENIED
            assert reply.call_id == call_id
            for _ in range(3):  # the rest of the refused call: dropped, nothing buffered
                rpc.send(rpc.request_pdu(call_id, 0, 1, b"\x00" * 4000, flags=0))
        rpc.send(rpc.request_pdu(99, 0, 1, b"", flags=3))  # a whole call: still answered
        assert rpc.recv().call_id == 99
        assert _pending_bytes(bg_loop, server) == 0
    assert not [e for e in server.journal.entries("protocol_error")
                if "continuation" in str(e.get("error"))]


def test_calls_in_flight_share_one_budget(make_server, bg_loop):
    from fakegc.codes import RpcStatus

    server = make_server(interfaces=[ECHO, EPM],
                         limits=RpcLimits(max_unauth_buffered=64 * 1024))
    with RawRpc("127.0.0.1", server.port) as rpc:
        assert rpc.bind(syntax(EPM.uuid, 3)).ptype == P.PTYPE.BIND_ACK  # EPM: no auth needed
        faults = 0
        for call_id in range(2, 66):
            rpc.send(rpc.request_pdu(call_id, 0, 3, b"\x00" * 4000, flags=FIRST,
                                     alloc_hint=1 << 20))
        rpc.sock.settimeout(2)
        try:
            while True:
                reply = rpc.recv()
                assert reply.status == RpcStatus.nca_s_fault_remote_no_memory  # MS-RPCE 2.2.2.4
                faults += 1
        except (TimeoutError, OSError):
            pass
        assert faults >= 64 - 16  # 16 x 4000 bytes fit in 64 KiB; the rest are refused
        assert _pending_bytes(bg_loop, server) <= 64 * 1024


def test_authenticated_calls_still_reassemble(make_server):
    server = make_server()
    with RawRpc("127.0.0.1", server.port) as rpc:
        session = NtlmSession(rpc, "alice", "Passw0rd!")
        assert session.bind(syntax(ECHO.uuid, 1)).ptype == P.PTYPE.BIND_ACK
        rpc.send(session.request_pdu(2, 0, b"\x01" * 64, flags=FIRST))
        rpc.send(session.request_pdu(2, 0, b"\x02" * 64, flags=P.PFC.LAST_FRAG))
        assert rpc.recv().ptype == P.PTYPE.RESPONSE


def test_per_source_cap_keeps_room_for_others(make_server, bg_loop):
    server = make_server()
    server.source_cap = SourceCap(per_source=8, total=100)
    held = []
    for _ in range(12):  # from 127.0.0.2: the greedy source
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", server.port))
        held.append(s)
    try:
        def refused() -> int:
            return sum(e.get("error") == "per-source connection cap"
                       for e in server.journal.entries("protocol_error"))

        # wait until the server has seen all 12 (8 kept, 4 refused): the accepts race the check
        deadline = time.monotonic() + 10
        while (refused() < 4 or bg_loop.call(lambda: server.connection_count) != 8) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bg_loop.call(lambda: server.connection_count) == 8
        assert refused() == 4
        with RawRpc("127.0.0.1", server.port) as rpc:  # another source still gets in
            assert rpc.bind(syntax(EPM.uuid, 3)).ptype == P.PTYPE.BIND_ACK
    finally:
        for s in held:
            s.close()
    assert any(e.get("error") == "per-source connection cap"
               for e in server.journal.entries("protocol_error"))


def test_byte_trickle_does_not_reset_the_idle_timer(make_server):
    server = make_server(limits=RpcLimits(idle_timeout=0.4))
    with RawRpc("127.0.0.1", server.port, timeout=10) as rpc:
        bind = rpc.bind_pdu([(0, syntax(EPM.uuid, 3), [NDR20])])
        closed = False
        rpc.sock.settimeout(0.02)
        for byte in bind[:-1]:  # one byte at a time, never a complete PDU
            try:
                rpc.sock.sendall(bytes([byte]))
                if rpc.sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed  # idle timeout counts complete PDUs, so the trickle is cut
    assert any(e.get("error") == "idle timeout" for e in server.journal.entries("protocol_error"))

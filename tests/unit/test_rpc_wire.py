"""Hand-built PDUs against the engine: bind negotiation (PROTOCOL.md §10), framing, errors."""

from __future__ import annotations

import socket

import pytest

from fakegc.codes import RpcStatus
from fakegc.rpc.server import RpcLimits
from fakegc.testing.echo import ECHO
from fakegc.testing.rawrpc import NDR20, NDR64, RawRpc, feature_syntax, syntax
from fakegc.wire import pdu as P

ECHO_SYN = ECHO.syntax
UNKNOWN = syntax("11111111-2222-3333-4444-555555555555", 1)


def raw(server) -> RawRpc:
    return RawRpc("127.0.0.1", server.port)


def healthy(server) -> None:
    """Another client is still served normally."""
    with raw(server) as c:
        assert c.bind(ECHO_SYN, flags=3).ptype == P.PTYPE.BIND_ACK
        reply = c.call(0, b"ping")
        assert reply.ptype == P.PTYPE.RESPONSE and reply.stub == b"ping"


@pytest.fixture
def server(make_server):
    return make_server(anonymous=True)


def test_windows_three_context_bind(server):
    with raw(server) as c:
        c.send(c.bind_pdu([(0, ECHO_SYN, [NDR20]), (1, ECHO_SYN, [NDR64]),
                           (2, ECHO_SYN, [feature_syntax(0x3)])], flags=0x17))
        ack = c.recv().bind_ack()
    assert [(r, why) for r, why, _ in ack.results] == [(0, 0), (2, 2), (3, 0x2)]
    assert ack.results[0][2] == P.pack_syntax(NDR20)
    assert ack.results[1][2] == b"\x00" * 20 and ack.results[2][2] == b"\x00" * 20
    assert ack.flags & P.PFC.SUPPORT_HEADER_SIGN and ack.flags & P.PFC.CONC_MPX
    assert ack.sec_addr == str(server.port).encode() + b"\x00"
    assert ack.max_xmit == ack.max_recv == 5840


def test_unknown_interface_is_provider_rejection_reason_1(server):
    with raw(server) as c:
        c.send(c.bind_pdu([(0, UNKNOWN, [NDR20]), (1, ECHO_SYN, [NDR20])]))
        ack = c.recv().bind_ack()
    assert [(r, why) for r, why, _ in ack.results] == [(2, 1), (0, 0)]


def test_second_feature_context_is_bind_nak(server):
    with raw(server) as c:
        c.send(c.bind_pdu([(0, ECHO_SYN, [NDR20]), (1, ECHO_SYN, [feature_syntax(1)]),
                           (2, ECHO_SYN, [feature_syntax(2)])]))
        reply = c.recv()
        assert reply.ptype == P.PTYPE.BIND_NAK
        assert c.closed_by_peer()
    healthy(server)


@pytest.mark.parametrize("xmit,recv,want", [(4280, 5840, 4280), (1024, 5840, 2048),
                                            (8000, 9000, 5840), (4283, 5000, 4280)])
def test_frag_sizes(server, xmit, recv, want):
    with raw(server) as c:
        c.send(c.bind_pdu([(0, ECHO_SYN, [NDR20])], max_xmit=xmit, max_recv=recv))
        ack = c.recv().bind_ack()
    assert ack.max_xmit == ack.max_recv == want


def test_unknown_association_group_is_refused(server):
    with raw(server) as c:
        c.send(c.bind_pdu([(0, ECHO_SYN, [NDR20])], assoc_group=0x1234567))
        reply = c.recv()
        assert reply.ptype == P.PTYPE.BIND_NAK and reply.status == 0
        assert c.closed_by_peer()
    server.journal.expect("bind_nak", error=lambda e: "association group" in e)


def test_association_group_spans_connections(server):
    with raw(server) as a:
        group = a.bind(ECHO_SYN).bind_ack().assoc_group
        handle = a.call(2, b"", call_id=2).stub
        with raw(server) as b:
            ack = (b.send(b.bind_pdu([(0, ECHO_SYN, [NDR20])], assoc_group=group)), b.recv())[1]
            assert ack.bind_ack().assoc_group == group
            assert b.call(3, handle).ptype == P.PTYPE.RESPONSE
        with raw(server) as other:
            other.bind(ECHO_SYN)
            assert other.call(3, handle).status == RpcStatus.nca_s_fault_context_mismatch


def test_ndr64_only_alter_context(server):
    with raw(server) as c:
        c.bind(ECHO_SYN)
        c.send(c.bind_pdu([(1, ECHO_SYN, [NDR64])], alter=True, call_id=2))
        reply = c.recv()
        assert reply.ptype == P.PTYPE.ALTER_CONTEXT_RESP
        ack = reply.bind_ack()
        assert [(r, why) for r, why, _ in ack.results] == [(2, 2)]
        assert ack.sec_addr == b""
        assert c.call(0, b"x", ctx_id=1, call_id=3).status == RpcStatus.nca_s_unk_if


def test_pipelined_and_interleaved_calls(server):
    with raw(server) as c:
        c.bind(ECHO_SYN)
        # three whole calls in one write, then two calls whose fragments interleave
        blob = b"".join(c.request_pdu(10 + i, 0, 0, f"call{i}".encode()) for i in range(3))
        blob += c.request_pdu(20, 0, 0, b"AAAA", flags=P.PFC.FIRST_FRAG, alloc_hint=8)
        blob += c.request_pdu(21, 0, 0, b"BBBB", flags=P.PFC.FIRST_FRAG, alloc_hint=8)
        blob += c.request_pdu(20, 0, 0, b"aaaa", flags=P.PFC.LAST_FRAG)
        blob += c.request_pdu(21, 0, 0, b"bbbb", flags=P.PFC.LAST_FRAG)
        c.send(blob)
        replies = {r.call_id: r.stub for r in (c.recv() for _ in range(5))}
    assert replies == {10: b"call0", 11: b"call1", 12: b"call2", 20: b"AAAAaaaa", 21: b"BBBBbbbb"}


def test_orphaned_and_cancel_are_ignored_safely(server):
    with raw(server) as c:
        c.bind(ECHO_SYN)
        c.send(c.request_pdu(5, 0, 0, b"half", flags=P.PFC.FIRST_FRAG, alloc_hint=100))
        c.send(P.pack_header(P.PTYPE.ORPHANED, 3, 16, 0, 5))
        c.send(P.pack_header(P.PTYPE.CO_CANCEL, 3, 24, 0, 6) + b"\x00" * 8)
        assert c.call(0, b"after", call_id=7).stub == b"after"
    server.journal.expect("orphaned", call_id=5)


@pytest.mark.parametrize("garbage", [
    b"\x00" * 64,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    P.pack_header(P.PTYPE.BIND, 3, 10, 0, 1),  # frag_length below the header
    P.pack_header(99, 3, 16, 0, 1),  # unknown PDU type
    P.pack_header(P.PTYPE.BIND, 3, 20, 0, 1) + b"\x00\x00\x00\x00",  # truncated bind
    P.pack_header(P.PTYPE.BIND, 3, 50, 40, 1) + b"\x00" * 34,  # auth longer than PDU
])
def test_garbage_gets_proto_error_and_closes_only_that_connection(server, garbage):
    with raw(server) as c:
        c.send(garbage)
        try:
            reply = c.recv()
            assert reply.ptype in (P.PTYPE.FAULT, P.PTYPE.BIND_NAK)
            if reply.ptype == P.PTYPE.FAULT:
                assert reply.status == RpcStatus.nca_s_proto_error
        except ConnectionError:
            pass
        assert c.closed_by_peer()
    server.journal.expect("protocol_error")
    healthy(server)


def test_truncated_pdu_then_close_does_not_hurt(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(RawRpc.bind_pdu([(0, ECHO_SYN, [NDR20])])[:30])
    s.close()
    healthy(server)


def test_request_before_bind(server):
    with raw(server) as c:
        reply = c.call(0, b"x")
        assert reply.status == RpcStatus.nca_s_proto_error
        assert c.closed_by_peer()


def test_oversized_fragment_and_absurd_alloc_hint(make_server):
    server = make_server(anonymous=True, limits=RpcLimits(max_request=10_000))
    with raw(server) as c:
        c.bind(ECHO_SYN)
        reply = (c.send(c.request_pdu(2, 0, 0, b"x", flags=1, alloc_hint=2**31)), c.recv())[1]
        assert reply.status == RpcStatus.nca_s_fault_remote_no_memory
        # a fragment over the negotiated 5840 bytes: protocol error, connection closed
        c.send(c.request_pdu(3, 0, 0, b"y" * 6000))
        assert c.recv().status == RpcStatus.nca_s_proto_error
        assert c.closed_by_peer()
    with raw(server) as c:
        c.bind(ECHO_SYN)
        c.send(c.request_pdu(4, 0, 0, b"z" * 5000, flags=1, alloc_hint=100))
        c.send(c.request_pdu(4, 0, 0, b"z" * 5000, flags=0))
        c.send(c.request_pdu(4, 0, 0, b"z" * 5000, flags=2))
        assert c.recv().status == RpcStatus.nca_s_fault_remote_no_memory
        assert c.call(0, b"ok", call_id=5).stub == b"ok"
    healthy(server)


def test_unknown_context_id_and_operation_fault(server):
    with raw(server) as c:
        c.bind(ECHO_SYN)
        assert c.call(0, b"", ctx_id=7, call_id=2).status == RpcStatus.nca_s_unk_if
        assert c.call(4, b"", call_id=3).status == 0x1234
        assert c.call(3, b"short", call_id=4).status == RpcStatus.nca_s_fault_context_mismatch


def test_anonymous_refused_unless_configured(make_server):
    server = make_server(anonymous=False)
    with raw(server) as c:
        c.bind(ECHO_SYN)
        assert c.call(0, b"x").status == RpcStatus.rpc_s_access_denied
    server.journal.expect("fault", status=5, error=lambda e: "requires authentication" in e)


def test_limits_max_connections(make_server):
    server = make_server(anonymous=True, limits=RpcLimits(max_connections=2))
    a, b = raw(server), raw(server)
    try:
        a.bind(ECHO_SYN)
        b.bind(ECHO_SYN)
        with raw(server) as c:
            assert c.closed_by_peer()
        assert a.call(0, b"still").stub == b"still"
    finally:
        a.close()
        b.close()


def test_idle_timeout_closes_connection(make_server):
    server = make_server(anonymous=True, limits=RpcLimits(idle_timeout=0.2))
    with RawRpc("127.0.0.1", server.port, timeout=3.0) as c:
        c.bind(ECHO_SYN)
        assert c.closed_by_peer()
    server.journal.expect("protocol_error", error="idle timeout")

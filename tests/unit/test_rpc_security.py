"""Header signing and the verification trailer with NTLM (PROTOCOL.md §10, MS-RPCE 2.2.2.13)."""

from __future__ import annotations

import struct

import pytest

from fakegc.codes import RpcStatus
from fakegc.rpc import verification as V
from fakegc.testing.echo import ECHO
from fakegc.testing.rawrpc import NDR20, NtlmSession, RawRpc, feature_syntax
from fakegc.wire import pdu as P

SYN = ECHO.syntax


def session(server, level: int, flags: int = 3) -> tuple[RawRpc, NtlmSession]:
    rpc = RawRpc("127.0.0.1", server.port)
    ntlm = NtlmSession(rpc, "alice", "Passw0rd!", level=level)
    ack = ntlm.bind(SYN, flags=flags)
    assert ack.ptype == P.PTYPE.BIND_ACK
    return rpc, ntlm


def pcontext() -> bytes:
    return P.pack_syntax(SYN) + P.pack_syntax(NDR20)


def header2(call_id: int, opnum: int = 0, ctx_id: int = 0) -> bytes:
    return bytes([P.PTYPE.REQUEST, 0, 0, 0]) + b"\x10\x00\x00\x00" + struct.pack("<IHH", call_id, ctx_id, opnum)


@pytest.mark.parametrize("level", [5, 6])
def test_header_signing_is_echoed_and_signed_calls_work(make_server, level):
    server = make_server()
    rpc, ntlm = session(server, level, flags=3 | P.PFC.SUPPORT_HEADER_SIGN)
    with rpc:
        for call_id in (2, 3, 4):  # sequence numbers advance both ways
            reply = ntlm.request(call_id, 0, b"hello %d" % call_id)
            assert reply.ptype == P.PTYPE.RESPONSE
            assert ntlm.open(reply) == b"hello %d" % call_id
    ack = server.journal.last("bind_ack")
    assert ack.fields["header_sign"] is True


@pytest.mark.parametrize("level", [5, 6])
@pytest.mark.parametrize("offset", [2, 12, 20, 30])  # ptype, call_id, ctx_id/opnum, stub
def test_tampered_signed_pdu_is_fault_5(make_server, level, offset):
    server = make_server()
    rpc, ntlm = session(server, level, flags=3 | P.PFC.SUPPORT_HEADER_SIGN)
    with rpc:
        pdu = ntlm.request_pdu(2, 0, b"payload-payload!", tamper=offset)
        rpc.send(pdu)
        try:
            reply = rpc.recv()
            assert reply.ptype == P.PTYPE.FAULT
            assert reply.status in (RpcStatus.rpc_s_access_denied, RpcStatus.nca_s_proto_error,
                                    RpcStatus.nca_s_unk_if, RpcStatus.nca_s_op_rng_error)
        except ConnectionError:
            pass
    server.journal.expect("protocol_error" if offset == 2 else "fault")
    rpc2, ntlm2 = session(server, level)
    with rpc2:
        assert ntlm2.request(2, 0, b"ok").ptype == P.PTYPE.RESPONSE


@pytest.mark.parametrize("level", [5, 6])
def test_correct_verification_trailer_is_stripped(make_server, level):
    server = make_server()
    rpc, ntlm = session(server, level, flags=3 | P.PFC.SUPPORT_HEADER_SIGN)
    stub = b"DATA"  # 4-aligned, so the trailer follows directly
    vt = V.build([(V.CMD_BITMASK1, struct.pack("<I", 1)), (V.CMD_PCONTEXT, pcontext()),
                  (V.CMD_HEADER2, header2(2))])
    with rpc:
        reply = ntlm.request(2, 0, stub + vt)
        assert reply.ptype == P.PTYPE.RESPONSE
        # the echo interface answers what reached it: the trailer was removed
        assert ntlm.open(reply) == b"DATA"


@pytest.mark.parametrize("level", [5, 6])
@pytest.mark.parametrize("bad", ["bitmask_without_header_sign", "pcontext", "header2_call_id",
                                 "header2_opnum", "unknown_must_process"])
def test_wrong_verification_trailer_is_fault_5(make_server, level, bad):
    server = make_server()
    header_sign = bad != "bitmask_without_header_sign"
    rpc, ntlm = session(server, level, flags=3 | (P.PFC.SUPPORT_HEADER_SIGN if header_sign else 0))
    commands = {
        "bitmask_without_header_sign": [(V.CMD_BITMASK1, struct.pack("<I", 1))],
        "pcontext": [(V.CMD_PCONTEXT, P.pack_syntax(SYN) + b"\x00" * 20)],
        "header2_call_id": [(V.CMD_HEADER2, header2(99))],
        "header2_opnum": [(V.CMD_HEADER2, header2(2, opnum=1))],
        "unknown_must_process": [(0x8000 | 0x0007, b"\x00" * 4)],
    }[bad]
    with rpc:
        reply = ntlm.request(2, 0, b"DATA" + V.build(commands))
        assert reply.ptype == P.PTYPE.FAULT and reply.status == RpcStatus.rpc_s_access_denied
    server.journal.expect("auth_failed", reason=lambda r: r.startswith("verification trailer"))


def test_unknown_optional_command_is_ignored(make_server):
    server = make_server()
    rpc, ntlm = session(server, 6)
    with rpc:
        reply = ntlm.request(2, 0, b"DATA" + V.build([(0x0007, b"\x00" * 4),
                                                       (V.CMD_PCONTEXT, pcontext())]))
        assert reply.ptype == P.PTYPE.RESPONSE


def test_unsigned_request_on_signed_connection_refused(make_server):
    server = make_server()
    rpc, _ntlm = session(server, 5)
    with rpc:
        reply = rpc.call(0, b"plain", call_id=2)
        assert reply.ptype == P.PTYPE.FAULT and reply.status == RpcStatus.rpc_s_access_denied


def test_feature_negotiation_with_ntlm_bind(make_server):
    server = make_server()
    rpc = RawRpc("127.0.0.1", server.port)
    ntlm = NtlmSession(rpc, "alice", "Passw0rd!", level=6)
    with rpc:
        ack = ntlm.bind(SYN, flags=0x17, extra_contexts=[(1, SYN, [feature_syntax(3)])])
        results = ack.bind_ack().results
        assert [(r, why) for r, why, _ in results] == [(0, 0), (3, 2)]
        assert ntlm.request(2, 0, b"x" * 40).ptype == P.PTYPE.RESPONSE

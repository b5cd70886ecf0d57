"""Hypothesis fuzzing of the live RPC engine (issue #7 item 3).

After every example: the server answered with a protocol-level error (fault /
bind_nak) or closed only that connection, a parallel healthy client is still
served, no internal error was recorded, and connection state stays bounded.
``FAKEGC_FUZZ_EXAMPLES`` raises the example count (``make fuzz``).
"""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings

from fakegc.rpc.epm import EPM
from fakegc.rpc.mgmt import MGMT
from fakegc.testing.echo import ECHO
from fakegc.testing.rawrpc import RawRpc
from fakegc.testing.strategies import pdu_streams
from fakegc.wire import pdu as P

EXAMPLES = int(os.environ.get("FAKEGC_FUZZ_EXAMPLES", "300"))
KNOWN = [ECHO.syntax, EPM.syntax, MGMT.syntax]


@pytest.fixture(scope="module")
def fuzz_server(bg_loop):
    from fakegc.journal import Journal
    from fakegc.rpc.auth.ntlm import NtlmProvider
    from fakegc.rpc.auth.simple import SimpleCredentials
    from fakegc.rpc.epm import EndpointMap
    from fakegc.rpc.server import RpcLimits, RpcServer

    server = RpcServer("fuzz", [ECHO, EPM, MGMT], journal=Journal(maxlen=5000),
                       providers=[NtlmProvider(SimpleCredentials({"alice": "Passw0rd!"}))],
                       allow_anonymous=True, limits=RpcLimits(max_request=64 * 1024))
    server.endpoint_map = EndpointMap()
    bg_loop.run(server.start())
    healthy = RawRpc("127.0.0.1", server.port)
    assert healthy.bind(ECHO.syntax).ptype == P.PTYPE.BIND_ACK
    yield server, healthy
    healthy.close()
    bg_loop.run(server.close())


def read_all(sock: socket.socket) -> list[bytes]:
    """Half-close, then read PDUs until the server closes; return them."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.settimeout(2.0)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    pdus = []
    while len(data) >= 16:
        n = data[8] | data[9] << 8
        if n < 16 or len(data) < n:
            break
        pdus.append(data[:n])
        data = data[n:]
    return pdus


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stream=pdu_streams(KNOWN))
def test_fuzzed_pdu_streams_never_hurt_the_server(fuzz_server, stream):
    server, healthy = fuzz_server
    sock = socket.create_connection(("127.0.0.1", server.port))
    try:
        for pdu in stream:
            try:
                sock.sendall(pdu)
            except (BrokenPipeError, ConnectionResetError):
                break
        replies = read_all(sock)
    finally:
        sock.close()
    for reply in replies:
        assert reply[0] == 5 and reply[2] in (P.PTYPE.BIND_ACK, P.PTYPE.BIND_NAK, P.PTYPE.FAULT,
                                              P.PTYPE.RESPONSE, P.PTYPE.ALTER_CONTEXT_RESP)
    assert not server.errors, server.errors
    call_id = 1000 + len(stream)
    reply = healthy.call(0, b"alive", call_id=call_id)
    assert reply.ptype == P.PTYPE.RESPONSE and reply.stub == b"alive"
    # bounded state: closed fuzz connections leave nothing behind but the healthy one
    assert server.connection_count <= 3
    assert len(server._groups) <= 3

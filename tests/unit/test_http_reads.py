"""HTTP reads of the RPC proxy are bounded in time and size (issue #18 items 5 and 2).

Oracles: RFC 9112 6.3 (an invalid Content-Length makes the message invalid: 400 and
close), RFC 9110 15.5.9 (408 for a request not completed in time), RFC 6585 4 (431).
Tests use short deadlines; the defaults are in README "Limits and defaults".
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from fakegc.journal import Journal
from fakegc.kdc.principals import PrincipalDb
from fakegc.rpchttp.proxy import RpcHttpProxy
from fakegc.runner import BackgroundLoop
from fakegc.wire.http import HttpLimits

BASIC = "Authorization: Basic YWxpY2U6UGFzc3cwcmQh\r\n"  # alice:Passw0rd!


class _Rpc:
    def open_virtual(self, transport: object) -> object:
        raise AssertionError("no virtual connection expected")


@pytest.fixture(scope="module")
def proxy() -> Iterator[RpcHttpProxy]:
    loop = BackgroundLoop().start()
    db = PrincipalDb("CONTOSO.TEST", "CONTOSO")
    db.add_user("alice", "Passw0rd!")
    p = RpcHttpProxy(lambda server, port: _Rpc(), Journal(), db,
                     tls=False, limits=HttpLimits(header_timeout=0.3, body_timeout=0.3))
    loop.run(p.start())
    yield p
    loop.run(p.close())
    loop.stop()


def _exchange(proxy: RpcHttpProxy, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply else 0


@pytest.mark.parametrize("length", [b"-7", b"1e3", b"+5", b"99999999999999999999999"])
def test_bad_content_length_is_400(proxy: RpcHttpProxy, length: bytes) -> None:
    reply = _exchange(proxy, b"RPC_IN_DATA /rpc/rpcproxy.dll?gc01:6004 HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: " + length + b"\r\n\r\n")
    assert _status(reply) == 400  # RFC 9112 6.3 item 5


def test_many_bad_requests_keep_no_errors(proxy: RpcHttpProxy) -> None:
    for _ in range(50):
        _exchange(proxy, b"RPC_IN_DATA /rpc HTTP/1.1\r\nContent-Length: -7\r\n\r\n")
    assert proxy.errors.total == 0  # each is a 400, not a kept exception


def test_slow_head_and_body_are_closed(proxy: RpcHttpProxy) -> None:
    reply = _exchange(proxy, b"RPC_IN_DATA /rpc/rpcproxy.dll?gc01:6004 HTTP/1.1\r\nHost")
    assert _status(reply) == 408  # RFC 9110 15.5.9: head not complete in time
    reply = _exchange(proxy, b"RPC_IN_DATA /rpc HTTP/1.1\r\nContent-Length: 100\r\n\r\nab")
    assert _status(reply) == 408  # the 401 path waits for the declared body, not forever


def test_channel_without_first_pdu_is_closed(proxy: RpcHttpProxy) -> None:
    head = (f"RPC_IN_DATA /rpc/rpcproxy.dll?gc01:6004 HTTP/1.1\r\nHost: x\r\n{BASIC}"
            "Content-Length: 1073741824\r\n\r\n").encode()
    # MS-RPCH 3.2.1.5.3: the IN channel's body starts with CONN/B1; a peer that never
    # sends it (or sends part of a PDU) is cut after body_timeout
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(head)
        s.sendall(struct.pack("<BBBB", 5, 0, 20, 3))  # 4 of a PDU's 16 header bytes
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    assert out.startswith(b"HTTP/1.1 100")  # then closed: recv returned EOF


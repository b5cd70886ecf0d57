"""KDC over TCP is bounded (issue #18 item 4): idle and read deadlines, a connection cap,
a bounded buffer.  RFC 4120 7.2.2: each message is preceded by a 4-byte big-endian length;
a KDC that will not take a length answers KRB_ERR_FIELD_TOOLONG (61) and closes."""

from __future__ import annotations

import socket
import struct

from impacket.krb5.asn1 import KRB_ERROR
from pyasn1.codec.der import decoder

from fakegc.client.kerberos import get_tgt
from fakegc.kdc.server import KdcTcpLimits
from tests.kdc_fixtures import kdc  # noqa: F401


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_oversize_length_is_field_toolong(kdc):  # noqa: F811
    with socket.create_connection(("127.0.0.1", kdc.tcp_port), timeout=10) as s:
        s.sendall(struct.pack(">I", 200_000) + b"\x6a" * 100)  # 200 kB claimed: over the limit
        out = _read_all(s)
    err, _ = decoder.decode(out[4:], asn1Spec=KRB_ERROR())
    assert int(err["error-code"]) == 61  # RFC 4120 7.5.9 KRB_ERR_FIELD_TOOLONG, then closed


def test_partial_message_and_trickle_are_closed(kdc):  # noqa: F811
    kdc.tcp_limits = KdcTcpLimits(idle_timeout=0.5, read_timeout=0.2, max_connections=1024)
    with socket.create_connection(("127.0.0.1", kdc.tcp_port), timeout=10) as s:
        s.sendall(struct.pack(">I", 1000) + b"\x6a" * 10)  # a message that never completes
        assert _read_all(s) == b""  # closed by the read deadline
    with socket.create_connection(("127.0.0.1", kdc.tcp_port), timeout=10) as s:
        assert _read_all(s) == b""  # nothing sent: closed by the idle deadline
    assert any("not complete" in str(e.get("error")) for e in kdc.journal.entries("protocol_error"))
    assert any("idle" in str(e.get("error")) for e in kdc.journal.entries("protocol_error"))
    get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)  # still serving


def test_connection_cap(kdc, bg_loop):  # noqa: F811
    kdc.tcp_limits = KdcTcpLimits(max_connections=5)
    held = [socket.create_connection(("127.0.0.1", kdc.tcp_port), timeout=10) for _ in range(5)]
    try:
        with socket.create_connection(("127.0.0.1", kdc.tcp_port), timeout=10) as s:
            try:
                assert s.recv(1) == b""  # the sixth is closed at once
            except ConnectionResetError:
                pass
    finally:
        for s in held:
            s.close()
    assert any(e.get("error") == "max_connections" for e in kdc.journal.entries("protocol_error"))

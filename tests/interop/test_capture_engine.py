"""Wireshark dissects the engine's traffic cleanly: binds, NTLM at every level, EPM, faults."""

from __future__ import annotations

import os

import pytest
from impacket.dcerpc.v5 import epm, mgmt, nspi, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException

from fakegc.rpc.registry import Interface
from fakegc.testing.capture import capture, tshark_available

from .test_rpc_impacket import LEVELS, connect, echo

needs_tshark = pytest.mark.skipif(not tshark_available() and os.environ.get("CI") != "true",
                                  reason="tshark missing or not root")


@needs_tshark
def test_engine_capture_is_clean(make_server):
    server = make_server()
    server.endpoint_map.register(Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426",
                                           (56, 0)), "127.0.0.1", 6004)
    with capture([server.port]) as cap:
        for level in LEVELS:
            dce = connect(server.port, level, iface=mgmt.MSRPC_UUID_MGMT)
            mgmt.hinq_if_ids(dce)
            dce.disconnect()
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{server.port}]")
        d = t.get_dce_rpc()
        d.connect()
        epm.hept_map("127.0.0.1", nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp", dce=d)
        d.disconnect()
        dce = connect(server.port, LEVELS[0])
        dce.call(99, b"")
        with pytest.raises(DCERPCException):
            dce.recv()
        assert echo(dce, b"x" * 9000) == b"x" * 9000  # fragmented answer
        dce.disconnect()
    report = cap.check(password="Passw0rd!")
    assert report.frames > 20
    assert {"dcerpc", "epm", "mgmt"} <= report.protocols, report.protocols
    assert "NTLMSSP_AUTH, User: CONTOSO\\alice" in report.text
    assert report.clean, (report.malformed, report.errors)

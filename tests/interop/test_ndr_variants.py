"""Big-endian NDR and NDR64 against outside clients and Wireshark's dissector.

Samba's client with the ``bigendian`` binding option (C706 §14.1 "receiver makes
it right"; issue #17 item 4) and impacket's client in NDR64 (MS-RPCE 2.2.5); every
exchange is captured and tshark must dissect it without a malformed packet.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import uuid as uuidlib
from pathlib import Path

import pytest
from impacket.dcerpc.v5 import epm, mgmt, oxabref, transport
from impacket.uuid import bin_to_uuidtup

from fakegc.testing.capture import capture, tshark_available
from fakegc.testing.echo import ECHO

from ..conformance.test_dcerpc_conformance import map_tower
from .test_samba_client import SYSTEM_PY, needs_samba, samba_call

needs_tshark = pytest.mark.skipif(not tshark_available() and os.environ.get("CI") != "true",
                                  reason="tshark missing or not root")
NDR64 = ("71710533-BEBA-4937-8319-B5DBEF9CCC36", "1.0")
IF_IDS = sorted([str(ECHO.uuid), "afa8bd80-7d8a-11c9-bef4-08002b102989",
                 "e1af8308-5d1f-11c9-91a4-08002b14a0fa"])


@needs_samba
@pytest.mark.parametrize("options", ["bigendian", "bigendian,connect,ntlm",
                                     "bigendian,sign,ntlm", "bigendian,seal,ntlm"])
def test_samba_big_endian_mgmt(make_server, options):
    server = make_server(anonymous=True)
    out = samba_call(server.port, options)
    assert "error" not in out, out
    # Samba's typed mgmt client decodes our little-endian answers (C706 §14.1: the
    # receiver converts; the server answers in its own drep).
    assert out["if_ids"] == IF_IDS and out["listening"] is True
    server.journal.expect("request", op="inq_if_ids")  # the call reached the server


@needs_samba
@pytest.mark.parametrize("options", ["", "bigendian"], ids=["little", "big"])
def test_samba_epm_lookup_walk_and_insert(make_server, options):
    server = make_server(anonymous=True)
    script = Path(__file__).parent / "samba" / "samba_epm.py"
    done = subprocess.run([SYSTEM_PY, str(script), "127.0.0.1", str(server.port), options],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert "error" not in out, out
    # C706 O.2.5 with max_ents 1: one entry per call, then ept_s_not_registered ends the walk
    # (Samba's rpcclient stops on it, PROTOCOL.md §10).
    assert sorted(out["annotations"]) == ["echo", "epm", "mgmt"]
    assert out["lookup_status"] == [0, 0, 0, 0x16C9A0D6]
    # remote ept_insert refused: C706 O.2.3 error_status_t, Samba's client reads it; the value
    # 5 has no outside oracle (Samba's own server faults op_rng_error, see fakegc.rpc.epm)
    assert out["insert_status"] == 5


def _be_syntax(uuid: str, major: int, minor: int) -> bytes:
    """p_syntax_id_t in big-endian NDR: GUID fields and the u32 version (C706 §12.6.3.1)."""
    u = uuidlib.UUID(uuid)
    return struct.pack(">IHH", *u.fields[:3]) + u.bytes[8:] + struct.pack(">I", (minor << 16) | major)


def _be_bind(abstract: tuple[str, int, int]) -> bytes:
    """A big-endian bind PDU (drep 0x00 0x00 0x00 0x00), one NDR context, written by hand."""
    body = struct.pack(">HHIBxxx", 5840, 5840, 0, 1)
    body += struct.pack(">HBx", 0, 1) + _be_syntax(*abstract)
    body += _be_syntax("8a885d04-1ceb-11c9-9fe8-08002b104860", 2, 0)
    return struct.pack(">BBBB4sHHI", 5, 0, 11, 3, b"\0\0\0\0", 16 + len(body), 0, 1) + body


def _be_request(call_id: int, opnum: int, stub: bytes) -> bytes:
    return (struct.pack(">BBBB4sHHI", 5, 0, 0, 3, b"\0\0\0\0", 24 + len(stub), 0, call_id)
            + struct.pack(">IHH", len(stub), 0, opnum) + stub)


def _recv(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 16:
        chunk = sock.recv(16 - len(head))
        assert chunk, "connection closed"
        head += chunk
    size = int.from_bytes(head[8:10], "little")  # our answers are little-endian (drep 0x10)
    data = head
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def test_big_endian_ept_map_is_answered_in_little_endian(make_server):
    server = make_server(anonymous=True)
    tower = map_tower(mgmt.MSRPC_UUID_MGMT)  # tower octets are little-endian in any drep
    stub = (struct.pack(">I", 0)  # object: NULL
            + struct.pack(">III", 0x20000, len(tower), len(tower)) + tower
            + b"\0" * (-len(tower) % 4)
            + b"\0" * 20 + struct.pack(">I", 4))  # entry_handle, max_towers
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_be_bind(("e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3, 0)))
        ack = _recv(sock)
        assert ack[2] == 12 and ack[4] == 0x10  # bind_ack in the server's own drep
        sock.sendall(_be_request(7, 3, stub))
        reply = _recv(sock)
    # C706 §14.1: the receiver makes it right; a response with call_id 7 whose stub
    # impacket's NDR decoder reads (ept_mapResponse, C706 O.2.7).
    assert reply[2] == 2 and int.from_bytes(reply[12:16], "little") == 7
    resp = epm.ept_mapResponse()
    resp.fromString(reply[24:])
    mapped = epm.EPMTower(b"".join(resp["ITowers"][0]["Data"]["tower_octet_string"]))
    assert epm.PrintStringBinding(mapped["Floors"]).endswith(f"[{server.port}]")


def test_big_endian_call_the_server_cannot_decode_fails_fast(make_server):
    server = make_server(anonymous=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_be_bind((str(ECHO.uuid), 1, 0)))
        assert _recv(sock)[2] == 12
        sock.sendall(_be_request(0x01020304, 0, struct.pack(">I", 4) + b"ping"))
        reply = _recv(sock)
    # C706 §12.6.4.7: a fault names the call it answers; never call_id 0, never silence.
    assert reply[2] == 3 and int.from_bytes(reply[12:16], "little") == 0x01020304
    assert int.from_bytes(reply[24:28], "little") == 0x6F7  # MS-ERREF RPC_X_BAD_STUB_DATA


@needs_tshark
@needs_samba
def test_big_endian_and_ndr64_captures_dissect_cleanly(make_server):
    server = make_server(anonymous=True)
    with capture([server.port]) as cap:
        out = samba_call(server.port, "bigendian,sign,ntlm")
        assert out["if_ids"] == IF_IDS
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{server.port}]")
        t.set_credentials("alice", "Passw0rd!", "CONTOSO")
        for iface in (mgmt.MSRPC_UUID_MGMT, epm.MSRPC_UUID_PORTMAP):
            d = t.get_dce_rpc()
            d.connect()
            d.bind(iface, transfer_syntax=NDR64)
            if iface == mgmt.MSRPC_UUID_MGMT:
                ids = mgmt.hinq_if_ids(d)["if_id_vector"]["if_id"]
                assert sorted(bin_to_uuidtup(i["Data"].getData())[0].lower()
                              for i in ids) == IF_IDS
                mgmt.hinq_stats(d)
            else:
                # ept_map, not ept_lookup: Wireshark's EPM dissector reads the annotation's
                # offset and length in ept_lookup answers as 32-bit even in NDR64, where
                # MS-RPCE 2.2.5.3.4 makes variance counts 64-bit (impacket reads them so).
                req = epm.ept_map()
                req["max_towers"] = 4
                tower = map_tower(mgmt.MSRPC_UUID_MGMT)
                req["map_tower"]["tower_length"] = len(tower)
                req["map_tower"]["tower_octet_string"] = tower
                assert d.request(req)["num_towers"] == 1
            d.disconnect()
    report = cap.check(password="Passw0rd!")
    assert {"dcerpc", "mgmt"} <= report.protocols, report.protocols
    # Wireshark reads the drep of what Samba sent: big-endian requests did reach the server
    # (C706 §12.6.3.1 drep byte 0 = 0x00), so the clean report covers that byte order
    be = subprocess.run(["tshark", "-n", "-r", str(cap.path), "-d", f"tcp.port=={server.port},dcerpc",
                         "-Y", f"dcerpc.drep.byteorder == 0 && tcp.dstport == {server.port}"],
                        capture_output=True, text=True, timeout=120, check=False)
    assert be.stdout.strip(), be.stderr
    assert report.clean, (report.malformed, report.errors)  # Wireshark's DCE/RPC dissector


def test_big_endian_rfr_request_is_read_in_the_senders_order(ct):
    """RfrGetNewDSA (MS-OXABREF 3.1.4.1) from a big-endian sender, written by hand per C706
    §14: the DN string's counts are big-endian; the answer comes back little-endian."""
    port = ct.endpoints()["actors"]["ex01"]["rfr"]
    dn = b"/o=Contoso/ou=Exchange/cn=Recipients/cn=alice\x00"
    stub = (struct.pack(">I", 0) + struct.pack(">III", len(dn), 0, len(dn)) + dn
            + b"\0" * (-len(dn) % 4) + struct.pack(">I", 0)  # ppszUnused NULL
            + struct.pack(">II", 0x20000, 0x20004) + struct.pack(">III", 1, 0, 1) + b"\0")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_be_bind(("1544f5e0-613c-11d1-93df-00c04fd7bd09", 1, 0)))
        assert _recv(sock)[2] == 12
        sock.sendall(_be_request(9, 0, stub))
        reply = _recv(sock)
    assert reply[2] == 2 and int.from_bytes(reply[12:16], "little") == 9
    # Unauthenticated: MS-OXABREF's LogonFailed (0x80040111) as the return value; the DN
    # was read whole, so the sender's order was honoured.
    assert int.from_bytes(reply[-4:], "little") == 0x80040111
    answer = ct.journal.expect("response", op="RfrGetNewDSA")[-1]
    assert answer.fields["user_dn"] == dn[:-1].decode()


@needs_tshark
def test_rfr_ndr64_capture_dissects_cleanly(ct):
    ep = ct.endpoints()
    port = ep["actors"]["ex01"]["rfr"]
    with capture([port]) as cap:
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
        t.set_credentials("alice", "Passw0rd!", "CONTOSO")
        d = t.get_dce_rpc()
        d.set_auth_level(2)  # connect: the stubs stay readable for the dissector
        d.connect()
        d.bind(oxabref.MSRPC_UUID_OXABREF, transfer_syntax=NDR64)
        assert oxabref.hRfrGetNewDSA(d, "/o=Contoso/cn=alice")["ppszServer"].endswith(".test")
        d.disconnect()
    report = cap.check(password="Passw0rd!")
    assert {"dcerpc", "rfr"} <= report.protocols, report.protocols
    assert report.clean, (report.malformed, report.errors)  # Wireshark's DCE/RPC dissector

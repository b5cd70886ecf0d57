"""The RPC engine against impacket's real client classes (issue #2 "must show")."""

from __future__ import annotations

import struct
import threading

import pytest
from impacket.dcerpc.v5 import epm, mgmt, nspi, transport
from impacket.dcerpc.v5.rpcrt import (
    RPC_C_AUTHN_LEVEL_CONNECT,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
    DCERPCException,
)
from impacket.uuid import uuidtup_to_bin

from fakegc.rpc.registry import Interface
from fakegc.rpc.server import RpcLimits
from fakegc.testing.echo import ECHO

ECHO_UUID = uuidtup_to_bin((str(ECHO.uuid), "1.0"))
LEVELS = [RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY]


def connect(port: int, level: int = RPC_C_AUTHN_LEVEL_PKT_PRIVACY, user: str = "alice",
            password: str = "Passw0rd!", iface: bytes = ECHO_UUID, frag: int = 0):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    t.set_credentials(user, password, "CONTOSO")
    dce = t.get_dce_rpc()
    dce.set_auth_level(level)
    if frag:
        dce.set_max_fragment_size(frag)
    dce.connect()
    dce.bind(iface)
    return dce


def echo(dce, data: bytes) -> bytes:
    dce.call(0, data)
    return dce.recv()


@pytest.mark.parametrize("level", LEVELS)
def test_ntlm_bind_and_calls_at_every_level(make_server, level):
    server = make_server()
    dce = connect(server.port, level)
    payload = bytes(range(256)) * 3
    assert echo(dce, payload) == payload
    handle = (dce.call(2, b""), dce.recv())[1]
    assert len(handle) == 20
    dce.call(3, handle)
    assert dce.recv() == b"alice\x00"
    dce.disconnect()
    auth = server.journal.expect("auth", user="alice", level=level)
    assert auth[0].fields["mech"] == "ntlm"
    server.journal.expect("request", op="Echo", user="alice@CONTOSO", auth_level=level)


@pytest.mark.parametrize("level", LEVELS)
def test_wrong_password_is_refused_and_server_survives(make_server, level):
    server = make_server()
    dce = connect(server.port, level, password="wrong")
    # NTLM's third leg (auth3) has no answer; the first call is refused with access denied.
    with pytest.raises(DCERPCException) as err:
        echo(dce, b"x" * 8)
    assert "rpc_s_access_denied" in str(err.value) or "0x5" in str(err.value)
    server.journal.expect("auth_failed", reason=lambda r: "wrong password" in r)
    ok = connect(server.port, level)
    assert echo(ok, b"still served") == b"still served"


def test_unknown_user_refused(make_server):
    server = make_server()
    dce = connect(server.port, user="mallory", password="x")
    with pytest.raises(DCERPCException):
        echo(dce, b"x")
    server.journal.expect("auth_failed", reason=lambda r: "unknown user" in r)


@pytest.mark.parametrize("level", LEVELS)
def test_fragmented_requests_and_responses(make_server, level):
    server = make_server(limits=RpcLimits(min_frag=256, max_frag=256))
    dce = connect(server.port, level, frag=100)
    payload = bytes((i * 7) & 0xFF for i in range(5000))
    assert echo(dce, payload) == payload
    dce.call(1, struct.pack("<I", 9000))
    assert dce.recv() == bytes(i & 0xFF for i in range(9000))
    ack = server.journal.last("bind_ack")
    assert ack.fields["max_frag"] == 256
    # responses really were cut at the negotiated size
    assert server.journal.last("response", op="Blob").fields["size"] == 9000


def test_concurrent_connections(make_server):
    server = make_server()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            dce = connect(server.port, LEVELS[n % 3])
            for i in range(5):
                data = f"{n}-{i}".encode() * 10
                assert echo(dce, data) == data
            dce.disconnect()
        except BaseException as exc:  # noqa: BLE001 - reported below  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert server.journal.count("auth", user="alice") == 8


def test_epm_map_finds_nspi_port_and_lookup_lists_everything(make_server):
    nspi_iface = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0))
    server = make_server()
    server.endpoint_map.register(nspi_iface, "127.0.0.1", 6004)
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{server.port}]")
    dce = t.get_dce_rpc()
    dce.connect()
    binding = epm.hept_map("127.0.0.1", nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp", dce=dce)
    assert binding == "ncacn_ip_tcp:127.0.0.1[6004]"
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{server.port}]")
    dce = t.get_dce_rpc()
    dce.connect()
    entries = epm.hept_lookup("127.0.0.1", dce=dce)
    names = sorted(e["annotation"].rstrip(b"\x00").decode() for e in entries)
    assert names == ["echo", "epm", "mgmt", "nspi"]
    server.journal.expect("response", op="ept_map", status=0, towers=1)


def test_epm_map_unknown_interface(make_server):
    server = make_server()
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{server.port}]")
    dce = t.get_dce_rpc()
    dce.connect()
    with pytest.raises(DCERPCException) as err:
        epm.hept_map("127.0.0.1", nspi.MSRPC_UUID_NSPI, protocol="ncacn_ip_tcp", dce=dce)
    assert "16c9a0d6" in str(err.value).lower() or "not_registered" in str(err.value).lower()


def test_mgmt_lists_interfaces(make_server):
    server = make_server()
    dce = connect(server.port, RPC_C_AUTHN_LEVEL_CONNECT, iface=mgmt.MSRPC_UUID_MGMT)
    resp = mgmt.hinq_if_ids(dce)
    assert resp["if_id_vector"]["count"] == 3
    listening = mgmt.his_server_listening(dce)
    assert listening["status"] == 0


def test_unknown_interface_bind_rejected(make_server):
    server = make_server()
    with pytest.raises(DCERPCException) as err:
        connect(server.port, iface=nspi.MSRPC_UUID_NSPI)
    assert "abstract_syntax_not_supported" in str(err.value)
    assert echo(connect(server.port), b"ok") == b"ok"


def test_bad_opnum_faults_op_rng_error(make_server):
    server = make_server()
    dce = connect(server.port)
    dce.call(99, b"")
    with pytest.raises(DCERPCException) as err:
        dce.recv()
    assert "nca_s_op_rng_error" in str(err.value)
    assert echo(dce, b"after") == b"after"


def test_bad_context_handle_faults_context_mismatch(make_server):
    server = make_server()
    dce = connect(server.port)
    dce.call(3, b"\x00" * 4 + b"\x11" * 16)
    with pytest.raises(DCERPCException) as err:
        dce.recv()
    assert "nca_s_fault_context_mismatch" in str(err.value)


def test_context_handle_from_another_association_is_rejected(make_server):
    server = make_server()
    a = connect(server.port)
    a.call(2, b"")
    handle = a.recv()
    b = connect(server.port)  # a new connection, assoc group 0: a new association group
    b.call(3, handle)
    with pytest.raises(DCERPCException) as err:
        b.recv()
    assert "nca_s_fault_context_mismatch" in str(err.value)
    a.call(3, handle)
    assert a.recv() == b"alice\x00"

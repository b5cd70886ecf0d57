"""RPC over HTTP v2 (Outlook Anywhere) with impacket's installed exchanger.py (issue #9).

impacket accepts an RPC proxy only on port 80 or 443, so these tests bind 443 (root; CI
runs as root).  Every scenario event applies through the proxy as well."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from impacket.dcerpc.v5 import nspi, transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY

from fakegc.directory import props as P
from fakegc.scenario.cluster import ClusterConfig, ClusterThread
from tests.portlock import PortLock

EXCHANGER = Path(sys.executable).parent / "exchanger.py"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 and os.environ.get("CI") != "true",
                                reason="impacket's RPC proxy client only dials 80/443 (needs root)")


@pytest.fixture(scope="module")
def proxy_cluster():
    # 443 is the only TLS port impacket dials: one test file at a time holds it
    with PortLock(443):
        ct = ClusterThread(ClusterConfig(rpc_http_port=443))
        yield ct
        ct.close()


@pytest.fixture
def pc(proxy_cluster):
    proxy_cluster.reset()
    yield proxy_cluster
    assert not proxy_cluster.cluster.rpc_http.errors


def exchanger(*args, user="CONTOSO/alice:Passw0rd!"):
    basic = "-basic" in args
    rest = [a for a in args if a != "-basic"]
    pre = ["-basic", "-rpc-hostname", "ex01"] if basic else []
    done = subprocess.run([sys.executable, str(EXCHANGER), *pre, f"{user}@127.0.0.1", *rest],
                          capture_output=True, text=True, timeout=120)
    return done


@pytest.mark.parametrize("basic", [False, True])
def test_list_tables_count(pc, basic):
    done = exchanger("nspi", "list-tables", "-count", *(["-basic"] if basic else []))
    assert done.returncode == 0 and "Protocol failed" not in done.stdout, done.stdout + done.stderr
    d = pc.cluster.directory
    for c in d.containers:
        name = "Default Global Address List" if c.container_id == 0 else c.name
        block = done.stdout.split(name, 1)[1].split("\n\n", 1)[0]
        assert f"TotalRecs: {len(d.table(c))}" in block, (name, block)
    pc.journal.expect("auth", actor="ex01-rpchttp", user="alice")
    pc.journal.expect("response", op="NspiUpdateStat")


def test_dump_gal_lists_every_object(pc):
    done = exchanger("nspi", "dump-tables", "-name", "GAL", "-lookup-type", "EXTENDED")
    assert done.returncode == 0, done.stderr
    d = pc.cluster.directory
    for mid in d.table(d.gal):
        obj = d.objects[mid]
        assert f"PR_DISPLAY_NAME: {obj.display_name}" in done.stdout
        if obj.smtp:
            assert f"SMTP:{obj.smtp}" in done.stdout


def test_guid_known_and_dnt_lookup(pc):
    d = pc.cluster.directory
    alice = d.find_alias("alice")
    done = exchanger("nspi", "guid-known", "-guid", str(alice.object_guid))
    assert done.returncode == 0 and "mail: alice@contoso.test" in done.stdout, done.stdout
    base = pc.cluster.gcs["gc01"].mid_offset
    done = exchanger("nspi", "dnt-lookup", "-start-dnt", str(base + 0x10), "-stop-dnt", str(base + 0x20))
    assert done.returncode == 0
    first = [d.objects[m] for m in range(0x10, 0x20) if m in d.objects]
    for obj in first:
        assert f"mailNickname: {obj.alias}" in done.stdout


def test_dnt_lookup_with_default_arguments_lists_entries(pc):
    """MIds are DNT-like small integers (PROTOCOL.md §11): exchanger's default walk (MIds
    500000 down to 0, 350 a request) lists the GC's objects.  The walk is stopped once it
    has passed every GC's block: the rest (down to 0) holds no MId of this cluster."""
    d = pc.cluster.directory
    offsets = {gc.mid_offset for gc in pc.cluster.gcs.values()}
    assert len(offsets) == len(pc.cluster.gcs)  # distinct per GC (MS-OXNSPI 3.1.1.2)
    assert all(0 < o and o + max(d.objects) < 500000 for o in offsets)
    proc = subprocess.Popen([sys.executable, str(EXCHANGER), "CONTOSO/alice:Passw0rd!@127.0.0.1",
                             "nspi", "dnt-lookup"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    guard = threading.Timer(300, proc.kill)  # a hang ends the walk (then the asserts below fail)
    guard.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            # "# MIds a-b:" announces MIds a down to b: stop at the first chunk wholly below
            if line.startswith("# MIds ") and int(line[7:].split("-")[0]) < min(offsets):
                break
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
    out = "".join(lines)
    assert "# MIds 500000-499651:" in out  # exchanger.py's default start and chunk
    # impacket exchanger.py prints mailNickname for each object it finds
    for mid in d.table(d.gal)[:20]:
        assert f"mailNickname: {d.objects[mid].alias}" in out


def test_guid_known_full_names_each_property_by_its_own_id(pc):
    """exchanger prints FULL rows by impacket's MAPI_PROPERTIES names; no property may show
    under another's name (issue #17: 0x8C8E is msDS-PhoneticFirstName, not a home server)."""
    alice = pc.cluster.directory.find_alias("alice")
    done = exchanger("nspi", "guid-known", "-guid", str(alice.object_guid), "-lookup-type", "FULL")
    assert done.returncode == 0, done.stderr
    assert "msDS-PhoneticFirstName" not in done.stdout
    home = alice.props[P.PR_EMS_AB_HOME_MDB]
    assert f"homeMDB: {home}" in done.stdout  # MS-OXPROPS 2.544 (0x8006)


def test_wrong_password_gets_401(pc):
    done = exchanger("nspi", "list-tables", user="CONTOSO/alice:wrong")
    assert "401 Unauthorized" in done.stdout
    pc.journal.expect("auth_failed", actor="ex01-rpchttp", scheme="NTLM")


def _tls(port=443):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                 (b"RPC_IN_DATA /rpc/rpcproxy.dll?ex01:6004 HTTP/1.1\r\n"
                                  b"Authorization: Basic !!!notbase64\r\n\r\n")])
def test_malformed_http_is_refused_and_others_are_served(pc, raw):
    s = _tls()
    s.sendall(raw)
    reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 4")
    s.close()
    assert exchanger("nspi", "list-tables").returncode == 0


def test_rts_out_of_order_closes_only_that_channel(pc):
    s = _tls()
    s.sendall(b"RPC_IN_DATA /rpc/rpcproxy.dll?ex01:6004 HTTP/1.1\r\nContent-Length: 1073741824\r\n"
              b"Authorization: Basic " + __import__("base64").b64encode(b"CONTOSO\\alice:Passw0rd!") + b"\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 100 Continue")
    # an RPC bind where CONN/B1 must come first
    s.sendall(bytes([5, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0]))
    assert s.recv(4096) == b""  # closed
    pc.journal.expect("protocol_error", actor="ex01-rpchttp", error=lambda e: "RTS" in e)
    assert exchanger("nspi", "list-tables").returncode == 0


def test_shutdown_cuts_sessions_through_the_proxy(pc):
    t = transport.DCERPCTransportFactory("ncacn_http:ex01[6004,RpcProxy=127.0.0.1:443]")
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    d = t.get_dce_rpc()
    d.set_credentials("alice", "Passw0rd!", "CONTOSO")
    d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    d.connect()
    d.bind(nspi.MSRPC_UUID_NSPI)
    h = nspi.hNspiBind(d)["contextHandle"]
    rows = nspi.hNspiQueryRows(d, h, Count=5, pPropTags=[P.PR_DISPLAY_NAME])
    assert rows["ppRows"]["cRows"] == 5
    cut = pc.fire("shutdown_begin", gc="gc01")
    assert cut["connections_cut"] >= 1  # the virtual connection is one of gc01's connections
    out = t.get_socket_out()  # impacket itself would spin on the closed OUT channel: read it raw
    out.settimeout(5)
    assert out.recv(1) == b""
    deadline = time.monotonic() + 5
    while not pc.journal.count("disconnect", actor="ex01-rpchttp") and time.monotonic() < deadline:
        time.sleep(0.02)
    pc.journal.expect("disconnect", actor="ex01-rpchttp")
    pc.fire("new_gc_ready", gc="gc02")  # the proxy's 6004 now leads to gc02
    done = exchanger("nspi", "list-tables")
    assert done.returncode == 0 and "Protocol failed" not in done.stdout
    pc.journal.expect("response", actor="gc02", op="NspiBind", status=0)

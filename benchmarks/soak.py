"""``make soak``: hostile load against one ``fakegc`` cluster process; prints figures.

Bounded in count and time (issue #18).  The cluster runs in a child process (its RSS is
read from /proc); the journal is filled to its bound first, so growth measured afterwards
is what the hostile input itself costs.  Phases:

  park      one unauthenticated NSPI connection parks 64 calls x 4 MiB     RSS < 32 MiB
  proxy     8000 RPC-over-HTTP requests with Content-Length: -7            RSS < 16 MiB
  stubs     5000 authenticated NSPI stubs impacket cannot decode           RSS < 16 MiB
  flood     one source (127.0.0.2) opens all the connections it can; then a legitimate
            NSPI bind, a KDC exchange and `fakegc ctl state` must succeed
  trickle   one byte at a time: closed within the idle timeout
  slow      partial HTTP heads/bodies (proxy, control plane), a partial KDC-TCP message:
            each closed within 30 s
  fuzz      mutated PDUs (EPM, NSPI, RFR), KDC UDP/TCP messages and authenticated NSPI
            stubs for --fuzz-seconds (default 60; --long: 600), probes every second
  diskfull  (root) a second cluster whose journal mirror sits on a 256 KiB tmpfs in a
            private mount namespace: EPM and NSPI keep serving, health says degraded

Exit status 0 when every figure is within its bound.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024
BAD_SEEK = bytes.fromhex(  # NspiSeekEntries with an unknown PropertyValue union tag
    "335f973daad8619b91ffc911f57cced458bbbf2ce03753c9bdfa0ff0169dc9575674066676cfb0b4eb89"
    "02c44269da1cf6ba66d3f8b6d4b100a9ea0e755a5c2e8210242a08e7078f7f")


# -- the cluster process --------------------------------------------------------------------
def serve(args: argparse.Namespace) -> None:
    """Child: start a cluster, fill its journal, print the endpoints, run until stdin closes."""
    from fakegc.kdc.server import KdcTcpLimits
    from fakegc.rpc.server import RpcLimits
    from fakegc.scenario.cluster import ClusterConfig, ClusterThread

    cfg = ClusterConfig(admin_port=0, rpc_http_port=0, journal_size=args.journal_size,
                        journal_path=Path(args.journal) if args.journal else None,
                        journal_rotate_bytes=4 * MIB, journal_keep=1,
                        limits=RpcLimits(idle_timeout=args.idle))
    ct = ClusterThread(cfg)
    ct.cluster.kdc.tcp_limits = KdcTcpLimits()  # the defaults: idle 30 s, read 10 s
    journal = ct.cluster.journal
    for i in range(args.journal_size):  # steady state: the journal is at its bound
        journal.record("soak", "fill", i, op="NspiQueryRows", size=1234, user="CONTOSO\\alice")
    print(json.dumps(ct.endpoints()), flush=True)
    sys.stdin.read()
    ct.close()


class Cluster:
    """Driver side: the child process and its endpoints."""

    def __init__(self, idle: float, journal: str | None = None, wrap: list[str] | None = None,
                 journal_size: int = 20_000) -> None:
        cmd = [sys.executable, __file__, "--serve", "--idle", str(idle),
               "--journal-size", str(journal_size)] + (["--journal", journal] if journal else [])
        env = dict(os.environ, FAKEGC_ADMIN_TOKEN="soak-" + os.urandom(8).hex())
        self.token = env["FAKEGC_ADMIN_TOKEN"]
        self.proc = subprocess.Popen((wrap or []) + cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("soak: the cluster did not start")
        self.ep: dict[str, Any] = json.loads(line)
        self.ep_file = Path(tempfile.mkdtemp(prefix="fakegc-soak-")) / "endpoints.json"
        self.ep_file.write_text(json.dumps(self.ep))
        self.ep_file.chmod(0o600)
        self.pid = self.proc.pid  # unshare and sh exec python: the same pid

    def rss(self) -> float:
        """The cluster's resident set, MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def port(self, actor: str, key: str) -> int:
        return int(self.ep["actors"][actor][key])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- probes -----------------------------------------------------------------------------------
def nspi_bind(c: Cluster) -> bool:
    """A legitimate NTLM bind to gc01's NSPI endpoint (MS-RPCE bind_ack)."""
    from fakegc.nspi import NSPI
    from fakegc.testing.rawrpc import NtlmSession, RawRpc, syntax
    from fakegc.wire import pdu as P

    user = c.ep["users"][0]
    try:
        with RawRpc("127.0.0.1", c.port("gc01", "nspi"), timeout=10) as rpc:
            ack = NtlmSession(rpc, user["name"], user["password"]).bind(syntax(NSPI.uuid, 56))
            return ack.ptype == P.PTYPE.BIND_ACK
    except OSError:
        return False


def epm_bind(c: Cluster) -> bool:
    from fakegc.rpc.epm import EPM
    from fakegc.testing.rawrpc import RawRpc, syntax
    from fakegc.wire import pdu as P

    try:
        with RawRpc("127.0.0.1", c.port("gc01", "epm"), timeout=10) as rpc:
            return rpc.bind(syntax(EPM.uuid, 3)).ptype == P.PTYPE.BIND_ACK
    except OSError:
        return False


def kdc_exchange(c: Cluster) -> bool:
    from fakegc.client.kerberos import get_tgt

    user = c.ep["users"][0]
    try:
        get_tgt(user["name"], user["password"], c.ep["realm"], "127.0.0.1", c.ep["kdc"]["tcp"])
        return True
    except Exception:  # noqa: BLE001 - any failure is a failed probe
        return False


def ctl_state(c: Cluster) -> dict[str, Any] | None:
    done = subprocess.run([sys.executable, "-m", "fakegc.cli", "ctl", "--endpoints-json",
                           str(c.ep_file), "state", "--json"], capture_output=True, text=True,
                          timeout=60, check=False, cwd=ROOT)
    return json.loads(done.stdout) if done.returncode == 0 else None


# -- phases -----------------------------------------------------------------------------------
def phase_park(c: Cluster) -> dict[str, Any]:
    from fakegc.nspi import NSPI
    from fakegc.testing.rawrpc import RawRpc, syntax
    from fakegc.wire import pdu as P

    before = c.rss()
    sent = 0
    room = 5840 - 24
    with RawRpc("127.0.0.1", c.port("gc01", "nspi"), timeout=30) as rpc:
        rpc.bind(syntax(NSPI.uuid, 56))  # no auth: the bind is accepted, calls are not
        for call_id in range(2, 66):
            frags = []
            total = 0
            while total < 4 * MIB:
                flags = (P.PFC.FIRST_FRAG if total == 0 else 0) | \
                    (P.PFC.LAST_FRAG if total + room >= 4 * MIB else 0)
                frags.append(rpc.request_pdu(call_id, 0, 4, b"\x00" * room, flags=flags,
                                             alloc_hint=4 * MIB))
                total += room
            rpc.send(b"".join(frags))
            sent += len(frags)
        rpc.send(rpc.request_pdu(99, 0, 0, b"", flags=3))  # answered after all of the above
        replies = 0
        while True:
            replies += 1
            if rpc.recv().call_id == 99:
                break
        grown = c.rss() - before
    return {"inputs": sent, "refused_calls": replies - 1, "rss_growth_mib": round(grown, 1),
            "ok": grown < 32}


def _tls_request(port: int, data: bytes, timeout: float = 30) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
        return out


def phase_proxy(c: Cluster, n: int) -> dict[str, Any]:
    port = c.port("ex01", "rpc_http")
    req = b"RPC_IN_DATA /rpc/rpcproxy.dll?gc01.contoso.test:6004 HTTP/1.1\r\nHost: ex01\r\n" \
          b"Content-Length: -7\r\n\r\n"
    before = c.rss()
    answers: list[int] = []

    def worker(k: int) -> None:
        for _ in range(k):
            try:
                answers.append(int(_tls_request(port, req).split(b" ", 2)[1]))
            except (OSError, IndexError, ValueError):
                answers.append(0)

    threads = [threading.Thread(target=worker, args=(n // 4,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grown = c.rss() - before
    bad = sum(1 for a in answers if a != 400)
    return {"inputs": len(answers), "not_400": bad, "rss_growth_mib": round(grown, 1),
            "ok": grown < 16 and bad == 0}


def phase_stubs(c: Cluster, n: int) -> dict[str, Any]:
    from fakegc.nspi import NSPI
    from fakegc.testing.rawrpc import NtlmSession, RawRpc, syntax

    user = c.ep["users"][0]
    before = c.rss()
    ndr_faults = 0
    with RawRpc("127.0.0.1", c.port("gc01", "nspi"), timeout=30) as rpc:
        s = NtlmSession(rpc, user["name"], user["password"])
        s.bind(syntax(NSPI.uuid, 56))
        for i in range(n):
            ndr_faults += s.request(2 + i, 4, BAD_SEEK).status == 0x6F7
    grown = c.rss() - before
    return {"inputs": n, "nca_s_fault_ndr": ndr_faults, "rss_growth_mib": round(grown, 1),
            "ok": grown < 16 and ndr_faults == n}


def phase_flood(c: Cluster, limit: int) -> dict[str, Any]:
    held: list[socket.socket] = []
    port = c.port("gc01", "nspi")
    for _ in range(limit):
        s = socket.socket()
        try:
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            break
        held.append(s)
    time.sleep(1.0)
    open_count = 0
    for s in held:
        s.setblocking(False)
        try:
            open_count += s.recv(1) != b""
        except BlockingIOError:
            open_count += 1
        except OSError:
            pass
    probes = {"nspi_bind": nspi_bind(c), "kdc_exchange": kdc_exchange(c),
              "ctl_state": ctl_state(c) is not None}
    for s in held:
        s.close()
    return {"attempted": len(held), "held_open": open_count, **probes,
            "ok": all(probes.values())}


def _time_to_close(connect: Any, data: bytes, bound: float) -> float:
    start = time.monotonic()
    try:
        s = connect()
        s.settimeout(bound)
        s.sendall(data)
        while s.recv(4096):
            pass
        s.close()
    except (OSError, ssl.SSLError):
        pass
    return round(time.monotonic() - start, 1)


def phase_slow(c: Cluster) -> dict[str, Any]:
    admin_port = int(c.ep["admin"].rsplit(":", 1)[1])
    proxy_port = c.port("ex01", "rpc_http")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def tls() -> socket.socket:
        return ctx.wrap_socket(socket.create_connection(("127.0.0.1", proxy_port), timeout=60))

    def plain(port: int) -> Any:
        return lambda: socket.create_connection(("127.0.0.1", port), timeout=60)

    auth = f"Authorization: Bearer {c.token}\r\n".encode()
    cases = {
        "proxy_partial_head": (tls, b"RPC_IN_DATA /rpc/rpcproxy.dll?gc01:6004 HTTP/1.1\r\nHo"),
        "proxy_body_never_sent": (tls, b"RPC_IN_DATA /rpc HTTP/1.1\r\nContent-Length: 50\r\n\r\n"),
        "admin_partial_head": (plain(admin_port), b"GET /state HTTP/1.1\r\n"),
        "admin_body_never_sent": (plain(admin_port), b"POST /fire HTTP/1.1\r\n" + auth
                                  + b"Content-Length: 40\r\n\r\n{"),
        "kdc_tcp_partial": (plain(c.ep["kdc"]["tcp"]), struct.pack(">I", 500) + b"\x6a\x82"),
    }
    out: dict[str, Any] = {}
    threads = []
    for name, (connect, data) in cases.items():
        def run(name: str = name, connect: Any = connect, data: bytes = data) -> None:
            out[name] = _time_to_close(connect, data, 60)
        threads.append(threading.Thread(target=run))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["ok"] = all(v < 31 for k, v in out.items())
    return out


def phase_trickle(c: Cluster, idle: float) -> dict[str, Any]:
    from fakegc.nspi import NSPI
    from fakegc.testing.rawrpc import NDR20, RawRpc, syntax

    bind = RawRpc.bind_pdu([(0, syntax(NSPI.uuid, 56), [NDR20])])
    start = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", c.port("gc01", "nspi"))) as s:
        s.settimeout(0.25)
        while time.monotonic() - start < idle + 30:
            try:
                s.sendall(bind[sent % (len(bind) - 1):][:1])
                sent += 1
                if s.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    closed_after = round(time.monotonic() - start, 1)
    return {"bytes_sent": sent, "closed_after_s": closed_after, "idle_timeout_s": idle,
            "ok": closed_after <= idle + 2}


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.random()
        if op < 0.5 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op < 0.7 and b:
            del b[rnd.randrange(len(b)):][:rnd.randint(1, 64)]
        elif op < 0.9:
            pos = rnd.randrange(len(b) + 1)
            b[pos:pos] = os.urandom(rnd.randint(1, 64))
        else:
            b = b[:rnd.randrange(len(b) + 1)]
    return bytes(b)


def phase_fuzz(c: Cluster, seconds: float, seed: int) -> dict[str, Any]:
    from fakegc.nspi import NSPI
    from fakegc.referral import RFR
    from fakegc.rpc.epm import EPM
    from fakegc.testing.rawrpc import NDR20, NtlmSession, RawRpc, syntax

    rnd = random.Random(seed)
    targets = [(c.port("gc01", "epm"), EPM), (c.port("gc01", "nspi"), NSPI),
               (c.port("ex01", "rfr"), RFR)]
    kdc_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    as_req = bytes.fromhex("6a") + os.urandom(200)
    with contextlib.suppress(Exception):  # a random seed message is good enough without hypothesis
        from fakegc.testing.strategies import as_requests

        as_req = as_requests().example()
    user = c.ep["users"][0]
    inputs = probes = failed = 0
    rss_start = c.rss()
    end = time.monotonic() + seconds
    next_probe = time.monotonic()
    auth_rpc = RawRpc("127.0.0.1", c.port("gc01", "nspi"), timeout=5)
    session = NtlmSession(auth_rpc, user["name"], user["password"])
    session.bind(syntax(NSPI.uuid, 56))
    call_id = 2
    while time.monotonic() < end and c.alive():
        kind = rnd.random()
        try:
            if kind < 0.5:
                port, iface = rnd.choice(targets)
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    bind = RawRpc.bind_pdu([(0, syntax(iface.uuid, iface.version[0]), [NDR20])])
                    req = RawRpc.request_pdu(2, 0, rnd.randrange(24), os.urandom(rnd.randrange(200)))
                    s.sendall(b"".join(_mutate(rnd, p) if rnd.random() < 0.7 else p
                                       for p in (bind, req, req)))
                    s.settimeout(0.05)
                    try:
                        s.recv(65536)
                    except OSError:
                        pass
                inputs += 3
            elif kind < 0.7:
                kdc_udp.sendto(_mutate(rnd, as_req), ("127.0.0.1", c.ep["kdc"]["udp"]))
                inputs += 1
            elif kind < 0.8:
                with socket.create_connection(("127.0.0.1", c.ep["kdc"]["tcp"]), timeout=2) as s:
                    m = _mutate(rnd, as_req)
                    s.sendall(struct.pack(">I", len(m)) + m)
                    s.settimeout(0.2)
                    try:
                        s.recv(65536)
                    except OSError:
                        pass
                inputs += 1
            else:
                stub = _mutate(rnd, BAD_SEEK) if rnd.random() < 0.5 else os.urandom(rnd.randrange(300))
                session.request(call_id, rnd.randrange(21), stub)
                call_id += 1
                inputs += 1
        except OSError:
            auth_rpc.close()
            auth_rpc = RawRpc("127.0.0.1", c.port("gc01", "nspi"), timeout=5)
            session = NtlmSession(auth_rpc, user["name"], user["password"])
            session.bind(syntax(NSPI.uuid, 56))
        if time.monotonic() >= next_probe:
            probes += 1
            failed += not (epm_bind(c) and kdc_exchange(c))
            next_probe = time.monotonic() + 1.0
    auth_rpc.close()
    kdc_udp.close()
    crashed = 0 if c.alive() else 1
    return {"seconds": seconds, "inputs": inputs, "crashes": crashed, "probes": probes,
            "probes_failed": failed, "rss_start_mib": round(rss_start, 1),
            "rss_end_mib": round(c.rss(), 1) if c.alive() else None,
            "ok": crashed == 0 and failed == 0}


def phase_diskfull(idle: float) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "needs root for a tmpfs in a private mount namespace", "ok": True}
    mnt = Path(tempfile.mkdtemp(prefix="fakegc-full-"))
    wrap = ["unshare", "-m", "sh", "-c",
            f'mount -t tmpfs -o size=256k fakegc-full {mnt} && exec "$0" "$@"']
    c = Cluster(idle, journal=str(mnt / "journal.jsonl"), wrap=wrap, journal_size=5000)
    try:
        served = {"epm_bind": all(epm_bind(c) for _ in range(20)),
                  "nspi_bind": all(nspi_bind(c) for _ in range(20))}
        state = ctl_state(c) or {}
        return {**served, "health": state.get("health"),
                "problem": (state.get("problems") or [""])[0][:80],
                "ok": all(served.values()) and state.get("health") == "degraded"}
    finally:
        c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--journal", help=argparse.SUPPRESS)
    ap.add_argument("--journal-size", type=int, default=20_000, help=argparse.SUPPRESS)
    ap.add_argument("--idle", type=float, default=5.0, help="RPC idle timeout for the run (s)")
    ap.add_argument("--fuzz-seconds", type=float, default=60.0)
    ap.add_argument("--long", action="store_true", help="a 10-minute fuzz phase")
    ap.add_argument("--proxy-requests", type=int, default=8000)
    ap.add_argument("--stubs", type=int, default=5000)
    ap.add_argument("--flood", type=int, default=6000, help="connections the flood tries")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.serve:
        serve(args)
        return 0
    from fakegc.sources import raise_nofile

    raise_nofile()
    started = time.monotonic()
    c = Cluster(args.idle)
    figures: dict[str, Any] = {"rss_at_start_mib": round(c.rss(), 1)}
    try:
        figures["park"] = phase_park(c)
        figures["proxy"] = phase_proxy(c, args.proxy_requests)
        figures["stubs"] = phase_stubs(c, args.stubs)
        figures["flood"] = phase_flood(c, args.flood)
        figures["trickle"] = phase_trickle(c, args.idle)
        figures["slow"] = phase_slow(c)
        figures["fuzz"] = phase_fuzz(c, 600.0 if args.long else args.fuzz_seconds, args.seed)
        figures["crashes"] = 0 if c.alive() else 1
        figures["rss_at_end_mib"] = round(c.rss(), 1) if c.alive() else None
    finally:
        c.close()
    figures["diskfull"] = phase_diskfull(args.idle)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    ok = all(v.get("ok", True) for v in figures.values() if isinstance(v, dict)) \
        and figures["crashes"] == 0
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            if isinstance(value, dict):
                detail = "  ".join(f"{k}={v}" for k, v in value.items() if k != "ok")
                print(f"{name:<9} {'ok  ' if value.get('ok', True) else 'FAIL'} {detail}")
            else:
                print(f"{name:<9} {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

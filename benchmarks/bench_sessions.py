"""Idle NSPI sessions: memory per session and how fast a scripted shutdown reaches them (issue #8).

    .venv/bin/python benchmarks/bench_sessions.py [-n 10000]   (-n 0: the most the box allows)

A cluster runs in a child process (CPU 1).  This process opens N connections to
gc01, binds NSPI and calls NspiBind on each (anonymous allowed, no per-call
crypto), then asks the child for its RSS, fires ``shutdown_begin`` through the
admin endpoint and measures, on the client side, the time until every
connection has seen its close.  Raise the open-files limit for large N.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serve(q: mp.Queue[tuple[int, int, str, str | None]]) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    _raise_nofile()
    from fakegc.rpc.server import RpcLimits
    from fakegc.runner import new_event_loop
    from fakegc.scenario.cluster import Cluster, ClusterConfig

    cfg = ClusterConfig(allow_anonymous=True, admin_port=0, journal_size=1000,
                        limits=RpcLimits(max_connections=100_000))
    loop = new_event_loop()
    cluster = loop.run_until_complete(Cluster.start(cfg))
    cluster.journal.enabled_kinds = frozenset({"state", "event"})
    for server in cluster.all_servers():
        server._journal_calls = False
    q.put((cluster.gcs["gc01"].nspi.port, os.getpid(), cluster.admin.url, cluster.admin.token))
    loop.run_forever()


def _raise_nofile() -> int:
    """Raise RLIMIT_NOFILE as far as allowed (root: up to fs.nr_open); returns the limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as fh:
            ceiling = int(fh.read())
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, ceiling))
        return ceiling
    except (OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard


def _most_sessions(nofile: int) -> int:
    """As many sessions as the box allows: open files, and the ephemeral ports one client
    address has towards one server port (net.ipv4.ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            low, high = (int(x) for x in fh.read().split())
        ports = high - low + 1
    except (OSError, ValueError):
        ports = 28_000
    return max(1, min(nofile, ports) - 1_000)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10000, help="sessions (0: as many as the box allows)")
    args = ap.parse_args()
    nofile = _raise_nofile()
    if args.n <= 0:
        args.n = _most_sessions(nofile)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.nspi_requests import stubs
    from fakegc.nspi import NSPI
    from fakegc.scenario.ctl import request
    from fakegc.testing.rawrpc import RawRpc

    q: mp.Queue[tuple[int, int, str, str]] = mp.Queue()
    proc = mp.Process(target=_serve, args=(q,), daemon=True)
    proc.start()
    port, pid, admin, token = q.get(timeout=60)
    base_rss = _rss_mib(pid)
    bind = RawRpc.bind_pdu([(0, NSPI.syntax, [(__import__("uuid").UUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2, 0)])])
    nspibind = RawRpc.request_pdu(2, 0, 0, stubs(b"\x00" * 20)["NspiBind"])
    from benchmarks.bench_nspi import _answer
    from benchmarks.nspi_requests import answer_status

    with RawRpc("127.0.0.1", port) as probe:  # each session's NspiBind must be answered, not refused
        probe.bind(NSPI.syntax)
        ptype, answer = _answer(probe, 0, stubs(b"\x00" * 20)["NspiBind"])
        if answer_status(answer) != 0:
            proc.terminate()
            sys.exit(f"<<< NspiBind answered PDU type {ptype} status {answer_status(answer):#x}: sessions not bound")
    socks = []
    started = time.perf_counter()
    for i in range(args.n):
        # 1,000 sessions a source address: the server caps connections per source (a quarter
        # of its descriptor budget, README "Limits and defaults"), as one flooding client is
        s = socket.create_connection(("127.0.0.1", port), source_address=(f"127.10.{i // 1000}.1", 0))
        s.sendall(bind + nspibind)
        socks.append(s)
        if len(socks) % 500 == 0:  # drain replies so buffers stay small
            for t in socks[-500:]:
                t.settimeout(10)
                got = 0
                while got < 2:
                    data = t.recv(65536)
                    got += data.count(b"\x05\x00\x0c") + data.count(b"\x05\x00\x02")
    opened = time.perf_counter() - started
    time.sleep(1.0)
    rss = _rss_mib(pid)
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass
        sel.register(s, selectors.EVENT_READ)
    t0 = time.perf_counter()
    request(admin, "POST", "/fire", {"event": "shutdown_begin", "gc": "gc01"}, timeout=60,
            token=token)
    remaining = len(socks)
    last = t0
    while remaining and time.perf_counter() - t0 < 30:
        for key, _ in sel.select(timeout=1):
            try:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                remaining -= 1
                last = time.perf_counter()
    from benchmarks.stats import load

    print(f"{args.n} idle NSPI sessions (bind + NspiBind each; open-files limit {nofile}), "
          f"opened in {opened:.1f}s; {load()}")
    print(f"  server RSS: {rss:.0f} MiB ({base_rss:.0f} MiB before; "
          f"{(rss - base_rss) * 1024 / args.n:.1f} KiB per session; target < 1024 MiB total)")
    journal = request(admin, "GET", "/journal?kind=state&limit=50", token=token)
    events = request(admin, "GET", "/journal?kind=event&limit=50", token=token)
    fired = next(e for e in events if e.get("event") == "shutdown_begin")
    cuts = [e for e in journal if e.get("state") == "connections_cut" and e["seq"] > fired["seq"]]
    server_ms = (max(e["t"] for e in cuts) - fired["t"]) * 1000 if cuts else float("nan")
    print(f"  shutdown_begin: every connection aborted by the server {server_ms:.1f} ms after the event "
          f"({sum(e.get('count', 0) for e in cuts)} cut; target 100 ms)")
    print(f"  the client saw all but {remaining} closes within {(last - t0) * 1000:.0f} ms "
          f"(single-threaded Python client draining the sockets, plus the admin HTTP round trip)")
    for s in socks:
        s.close()
    proc.terminate()


if __name__ == "__main__":
    main()

"""Sealed against clear NSPI calls: NspiQueryRows 50x8 at PKT_PRIVACY and PKT_CONNECT (issue #19).

    .venv/bin/python benchmarks/bench_sealing.py [-c 4] [-t 3] [-r 3]

The GC runs in a child process pinned to CPU 1 with NTLM (the call journal off, as in a load
test).  The client is impacket's DCERPC over ncacn_ip_tcp with NTLM at the chosen level
(``-c`` threads, one connection and one call in flight each) on CPU 0; impacket seals and
signs in Python, so the client saturates first.  The figure that judges the server is its own
CPU time per call (utime + stime of the server process from /proc, divided by the calls it
answered with status 0; a fault or another status is counted apart and makes the script
exit non-zero): ``1 / cpu per call`` is the rate one core of server sustains.  Levels run in
interleaved rounds (CONNECT, PRIVACY, PRIVACY, CONNECT, ...); median and range printed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serve(q: mp.Queue[int]) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from fakegc.directory import loader
    from fakegc.journal import Journal
    from fakegc.nspi import NSPI, StaticGc
    from fakegc.rpc.auth.ntlm import NtlmProvider
    from fakegc.rpc.auth.simple import SimpleCredentials
    from fakegc.rpc.server import RpcServer
    from fakegc.runner import new_event_loop

    loop = new_event_loop()
    directory = loader.load_default()
    creds = SimpleCredentials(dict(directory.accounts()))
    server = RpcServer("gc01", [NSPI], actor=StaticGc(directory), journal=Journal(maxlen=1000),
                       providers=[NtlmProvider(creds)], journal_calls=False)
    loop.run_until_complete(server.start())
    q.put(server.port)
    loop.run_forever()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client(port: int, level: int, seconds: float, counts: list[int], start: threading.Barrier,
            wrong: list[int]) -> None:
    from impacket.dcerpc.v5 import nspi, transport

    from benchmarks.nspi_requests import answer_status, stubs

    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    dce = t.get_dce_rpc()
    dce.set_auth_level(level)
    dce.connect()
    dce.bind(nspi.MSRPC_UUID_NSPI)
    handle = nspi.hNspiBind(dce)["contextHandle"]
    request = stubs(handle.getData())["NspiQueryRows 50x8"]

    class Raw:  # a pre-encoded stub under impacket's call(): getData() and opnum only
        opnum = 3

        def getData(self) -> bytes:
            return request

    raw = Raw()
    dce.call(3, raw)
    first = dce.recv()
    start.wait()
    n = bad = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        dce.call(3, raw)
        try:
            answer = dce.recv()  # impacket raises on a fault PDU
        except Exception:  # noqa: BLE001 - a fault is counted, not measured
            bad += 1
            continue
        if answer_status(answer) == 0 and len(answer) == len(first):
            n += 1  # the IDL's return value 0 (MS-OXNSPI section 6) and the same 50 rows
        else:
            bad += 1
    counts.append(n)
    wrong.append(bad + (answer_status(first) != 0))
    dce.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--connections", type=int, default=4)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    args = ap.parse_args()
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    from benchmarks.stats import interleaved, load, med, spread

    q: mp.Queue[int] = mp.Queue()
    proc = mp.Process(target=_serve, args=(q,), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    pid = proc.pid
    assert pid is not None
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    levels = {"PKT_CONNECT": RPC_C_AUTHN_LEVEL_CONNECT, "PKT_PRIVACY": RPC_C_AUTHN_LEVEL_PKT_PRIVACY}
    rates: dict[str, list[float]] = {name: [] for name in levels}
    capacity: dict[str, list[float]] = {name: [] for name in levels}
    failed: dict[str, int] = {name: 0 for name in levels}
    try:
        for _r, name in interleaved(list(levels), args.rounds):
            counts: list[int] = []
            wrong: list[int] = []
            barrier = threading.Barrier(args.connections + 1)
            threads = [threading.Thread(target=_client, args=(port, levels[name], args.seconds, counts, barrier, wrong))
                       for _ in range(args.connections)]
            for t in threads:
                t.start()
            barrier.wait()
            cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
            for t in threads:
                t.join()
            cpu1, t1 = _cpu_seconds(pid), time.perf_counter()
            calls = sum(counts)
            failed[name] += sum(wrong) + args.connections - len(wrong)  # a thread that died
            rates[name].append(calls / (t1 - t0))
            capacity[name].append(calls / (cpu1 - cpu0) if cpu1 > cpu0 else float("nan"))
    finally:
        proc.terminate()
        proc.join(10)
    print(f"NspiQueryRows 50x8 over NTLM, {args.connections} impacket connections x 1 in flight, "
          f"{args.seconds:.0f} s, median [range] of {args.rounds} interleaved rounds; {load()}")
    for name in levels:
        print(f"  {name:<12} client saw {spread(rates[name]):>18} calls/s; server CPU "
              f"{1e6 / med(capacity[name]):>6.0f} us/call = {spread(capacity[name]):>18} calls per CPU-second")
    ratio = med(capacity["PKT_PRIVACY"]) / med(capacity["PKT_CONNECT"])
    print(f"  server capacity PRIVACY / CONNECT: {ratio:.2f} (target >= 0.5)")
    print(f"  calls counted: answers with status 0 and 50 rows; faulted or other: {failed}")
    if any(failed.values()):
        sys.exit(f"<<< calls faulted or answered another status: {failed}; these figures are not answers")


if __name__ == "__main__":
    main()

"""ept_map calls/s: ``fakegc serve`` as shipped against Samba 4.17's endpoint mapper.

    .venv/bin/python benchmarks/bench_epm_vs_samba.py [-c 8] [-w 1] [-t 3] [-r 3]

fakegc is the shipped command, ``fakegc serve`` (the default cluster, every call journaled),
in its own process; Samba is samba-dcerpcd with rpcd_epmapper on 127.0.0.1:135 (root,
``make bench-deps``).  Both are pinned to CPU 1 and answer the same query: ept_map of the
endpoint mapper interface itself (a tower back from both), at gc01's endpoint mapper and
Samba's.  The generator (benchmarks/loadgen.py: pre-encoded request PDUs written on raw
asyncio sockets, counting complete responses; no fakegc server code) runs on CPU 0 with
``-c`` connections x ``-w`` calls in flight.  Rounds interleave A-B-B-A; median and range
printed with the load average.  Without Samba only fakegc is measured.  Each run also reads
the server's CPU time (user + system of every process of its session, from /proc) and prints
it per call: neither side saturates its core at 8 x 1, so calls/s follow the round-trip
latency on a loaded machine, while CPU per call is each server's own cost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.loadgen import ept_map_stub, run
from benchmarks.peers import fakegc_serve, samba_available, samba_epm


def _listener_session(port: int) -> int:
    """The session id of the process listening on 127.0.0.1:``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in list(fh)[1:]:
                f = line.split()
                if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(_stat(pid)[3])
    raise RuntimeError(f"no listener on port {port}")


def _stat(pid: str) -> list[str]:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()


def session_cpu(sid: int) -> float:
    """CPU seconds (user + system) of every process of session ``sid``: the whole server
    (samba-dcerpcd and its rpcd_epmapper helper; ``fakegc serve``)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError):
            f = _stat(pid)
            if int(f[3]) == sid:
                total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(port: int, args: argparse.Namespace) -> tuple[float, float]:
    """(calls/s, server CPU µs per call) of one run."""
    sid = _listener_session(port)
    before = session_cpu(sid)
    from fakegc.rpc.epm import EPM
    from fakegc.runner import new_event_loop

    loop = new_event_loop()
    try:
        res = loop.run_until_complete(run("127.0.0.1", port, EPM.syntax, 3, ept_map_stub(EPM.syntax),
                                          args.connections, args.window, args.seconds))
    finally:
        loop.close()
    cpu = session_cpu(sid) - before
    if res["faults"] or res["bad_status"]:
        print(f"  ({res['faults']} faults, {res['bad_status']} other statuses from port {port}; not in the rate)")
    calls = max(float(res["calls"]), 1.0)
    return float(res["rate"]), cpu * 1e6 / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-w", "--window", type=int, default=1)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    args = ap.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.stats import interleaved, load, ratio_spread, spread

    with contextlib.ExitStack() as stack:
        _pid, doc = stack.enter_context(fakegc_serve())
        ports = {"fakegc serve (journal on)": int(doc["actors"]["gc01"]["epm"])}
        if samba_available():
            ports["Samba 4.17 rpcd_epmapper"] = stack.enter_context(samba_epm())
        rates: dict[str, list[float]] = {name: [] for name in ports}
        costs: dict[str, list[float]] = {name: [] for name in ports}
        for _r, name in interleaved(list(ports), args.rounds):
            rate, cost = measure(ports[name], args)
            rates[name].append(rate)
            costs[name].append(cost)
    print(f"ept_map of the EPM interface, {args.connections} connections x {args.window} in flight, "
          f"{args.seconds:.0f} s a run, median [range] of {args.rounds} interleaved rounds; {load()}")
    for name, values in rates.items():
        print(f"  {name:<28}{spread(values):>24} calls/s, server CPU {spread(costs[name], '.1f')} µs/call")
    if len(rates) == 2:
        ours, theirs = rates.values()
        print(f"  ratio fakegc/samba: {ratio_spread(list(ours), list(theirs))} (target >= 2x)")
        our_cost, their_cost = costs.values()
        print(f"  capacity ratio (Samba's CPU per call / fakegc's): "
              f"{ratio_spread(list(their_cost), list(our_cost))}")


if __name__ == "__main__":
    main()

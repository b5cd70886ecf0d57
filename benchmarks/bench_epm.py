"""ept_map calls/s against fakegc's endpoint mapper (issue #2; #8 adds Samba side by side).

    .venv/bin/python benchmarks/bench_epm.py [-c CONNECTIONS] [-w WINDOW] [-t SECONDS]

The server runs in a child process pinned to CPU 1 (journal of calls off, as in a
load test), the load generator in this process pinned to CPU 0.  Prints the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serve(port_q: mp.Queue[int], journal_calls: bool, register_epm: bool = False) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})
    from fakegc.journal import Journal
    from fakegc.rpc.epm import EPM, EndpointMap
    from fakegc.rpc.mgmt import MGMT
    from fakegc.rpc.registry import Interface
    from fakegc.rpc.server import RpcServer
    from fakegc.runner import new_event_loop

    loop = new_event_loop()
    server = RpcServer("epm", [EPM, MGMT], journal=Journal(maxlen=1000), journal_calls=journal_calls)
    server.endpoint_map = EndpointMap()  # type: ignore[attr-defined]
    loop.run_until_complete(server.start())
    nspi = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0))
    server.endpoint_map.register(nspi, "127.0.0.1", 6004)  # type: ignore[attr-defined]
    if register_epm:
        server.endpoint_map.register(EPM, "127.0.0.1", server.port)  # type: ignore[attr-defined]
    port_q.put(server.port)
    loop.run_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-w", "--window", type=int, default=16)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    ap.add_argument("--journal-calls", action="store_true", help="journal every call (default off)")
    args = ap.parse_args()
    q: mp.Queue[int] = mp.Queue()
    proc = mp.Process(target=_serve, args=(q, args.journal_calls), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.loadgen import ept_map_stub, run
    from fakegc.rpc.epm import EPM
    from fakegc.rpc.registry import Interface
    from fakegc.runner import new_event_loop

    nspi = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0))
    loop = new_event_loop()
    res = loop.run_until_complete(run("127.0.0.1", port, EPM.syntax, 3, ept_map_stub(nspi.syntax),
                                      args.connections, args.window, args.seconds))
    proc.terminate()
    print(f"fakegc ept_map: {res['rate']:.0f} calls/s ({res['calls']} calls in {res['seconds']:.2f}s, "
          f"{args.connections} connections x {args.window} in flight, faults={res['faults']}, "
          f"other statuses={res['bad_status']}; only status-0 answers counted)")


if __name__ == "__main__":
    main()

"""ept_map calls/s: fakegc against Samba 4.17's endpoint mapper, same load generator, same run.

    .venv/bin/python benchmarks/bench_epm_vs_samba.py [-c 8] [-w 16] [-t 3]

Both servers answer the same query (ept_map of the endpoint mapper interface
itself, which both answer with a tower), each pinned to CPU 1, the generator on
CPU 0.  Needs root and `make bench-deps` (Samba); without Samba it prints fakegc only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_epm import _serve  # noqa: E402
from benchmarks.loadgen import ept_map_stub, run  # noqa: E402
from benchmarks.peers import samba_available, samba_epm  # noqa: E402


def measure(port: int, args: argparse.Namespace) -> dict[str, float]:
    from fakegc.rpc.epm import EPM
    from fakegc.runner import new_event_loop

    loop = new_event_loop()
    try:
        return loop.run_until_complete(run("127.0.0.1", port, EPM.syntax, 3, ept_map_stub(EPM.syntax),
                                           args.connections, args.window, args.seconds))
    finally:
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-w", "--window", type=int, default=16)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    rows = []
    q: mp.Queue[int] = mp.Queue()
    proc = mp.Process(target=_serve, args=(q, False, True), daemon=True)
    proc.start()
    ours = measure(q.get(timeout=30), args)
    proc.terminate()
    rows.append(("fakegc", ours))
    if samba_available():
        with samba_epm() as port:
            theirs = measure(port, args)
        rows.append(("samba 4.17 rpcd_epmapper", theirs))
    print(f"ept_map, {args.connections} connections x {args.window} in flight, {args.seconds:.0f}s each")
    print(f"{'server':<28}{'calls/s':>12}{'faults':>8}")
    for name, res in rows:
        print(f"{name:<28}{res['rate']:>12.0f}{res['faults']:>8}")
    if len(rows) == 2:
        print(f"ratio fakegc/samba: {rows[0][1]['rate'] / rows[1][1]['rate']:.2f}x (target >= 2x)")


if __name__ == "__main__":
    main()

"""Cluster start to ready, in process (issue #8: a test suite can start one per test).

    .venv/bin/python benchmarks/bench_start.py [-n 20]

Starts and closes the default cluster (contoso fixture, ~350 objects; KDC keys
derive lazily) N times on one event loop and prints the distribution, plus the
cost of a reset (what the pytest plugin does between tests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def measure(n: int) -> tuple[list[float], list[float]]:
    from fakegc.scenario.cluster import Cluster

    starts, resets = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        cluster = await Cluster.start()
        starts.append(time.perf_counter() - t0)
        await cluster.fire("gc_down", gc="gc01")
        t0 = time.perf_counter()
        await cluster.reset()
        resets.append(time.perf_counter() - t0)
        await cluster.close()
    return starts, resets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    from fakegc.runner import new_event_loop

    t0 = time.perf_counter()
    from fakegc.directory import loader

    loader.load_default()  # first parse of the fixture (cached per process afterwards)
    first = time.perf_counter() - t0
    loop = new_event_loop()
    starts, resets = loop.run_until_complete(measure(args.n))
    ms = [s * 1000 for s in starts]
    from benchmarks.stats import load

    print(load())
    print(f"cluster start to ready over {args.n} runs: median {statistics.median(ms):.1f} ms, "
          f"min {min(ms):.1f} ms, max {max(ms):.1f} ms (target <= 100 ms)")
    print(f"first fixture parse (once per process): {first * 1000:.0f} ms")
    print(f"reset after gc_down: median {statistics.median(resets) * 1000:.2f} ms")


if __name__ == "__main__":
    main()

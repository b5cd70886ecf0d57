"""TGS-REP throughput over a long run: no cliff as the KDC's replay cache fills (issue #19).

    .venv/bin/python benchmarks/bench_kdc_long.py [-n 120000] [-w 16] [--journal]

One KDC (pinned to CPU 1) receives ``n`` distinct TGS-REQs (fresh authenticators, made lazily
by benchmarks/kdcgen.py on CPU 0).  Every authenticator stays in the replay cache for
2 x max skew (10 min), so the cache ends the run holding all of them.  Printed: the reply
rate in the first and the last window (10 s, or a quarter of the run when it is shorter
than 40 s) and their ratio (target >= 0.8).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_kdc import REALM, SPN, USERS, _drive, _fakegc


def _rate(stamps: list[float], lo: float, hi: float) -> float:
    inside = sum(1 for t in stamps if lo <= t < hi)
    return inside / (hi - lo) if hi > lo else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=120_000)
    ap.add_argument("-w", "--window", type=int, default=16)
    ap.add_argument("--journal", action="store_true", help="record every request and answer")
    args = ap.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.kdcgen import tgs_reqs
    from benchmarks.stats import load
    from fakegc.kdc.principals import PrincipalDb
    from fakegc.kdc.requests import as_req
    from fakegc.runner import new_event_loop

    db = PrincipalDb(REALM)
    key = db.key(db.add_user("alice", USERS["alice"]), 18)
    loop = new_event_loop()
    stamps: list[float] = []
    with _fakegc(args.journal) as port:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(as_req("alice", REALM, key), ("127.0.0.1", port))
        tgt = s.recv(65536)
        rate, errors = loop.run_until_complete(
            _drive(port, tgs_reqs(tgt, key, "alice", REALM, SPN), args.n, args.window, stamps, 900))
    if not stamps:
        print("no replies")
        return
    t0, t1 = stamps[0], stamps[-1]
    win = min(10.0, (t1 - t0) / 4)
    first, last = _rate(stamps, t0, t0 + win), _rate(stamps, t1 - win, t1)
    print(f"TGS-REP over {len(stamps)} of {args.n} distinct requests in {t1 - t0:.1f} s "
          f"({rate:.0f}/s overall, {errors} error replies; journal {'on' if args.journal else 'off'}); "
          f"{load()}")
    print(f"first {win:.1f} s: {first:.0f}/s   last {win:.1f} s: {last:.0f}/s   "
          f"last/first: {last / first:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()

"""A large directory served: cluster ready, tables and indexes warmed, first calls (issue #19).

    .venv/bin/python benchmarks/bench_warm.py [--users 1000000]

In a child process pinned to CPU 1: generates a ``fakegc directory generate`` JSON fixture
(not timed), starts the default cluster on it (``Cluster.start``: load, copy-on-write view,
listeners) and prints the time to ready, then waits for the worker thread's ``directory/warm``
journal entry (every container table, the ANR and exact-match indexes built on the pristine
copy and handed to the served one) and prints when it came.  Then, on the served directory,
the *first* call of each operation that builds something on first use, through the pure
NSPI handlers (no sockets): NspiSeekEntries, NspiGetMatches PR_ANR, NspiResolveNamesW hit and
miss, NspiDNToMId of a GUID-form DN, and the GC's MId block (sized at every NspiBind).  Issue #19's target
for these at 1M users is 5 ms.  Max RSS of the child is printed last.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(users: int, q: mp.Queue[list[tuple[str, str]]]) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from fakegc.directory import props as P
    from fakegc.directory.generate import write_json
    from fakegc.nspi import handlers as H
    from fakegc.nspi import handlers_props as HP
    from fakegc.nspi import messages as M
    from fakegc.nspi.host import StaticGc
    from fakegc.nspi.table import Stat
    from fakegc.rpc.registry import AuthInfo
    from fakegc.runner import new_event_loop
    from fakegc.scenario.cluster import Cluster, ClusterConfig

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"users{users}.json")
        with open(path, "w") as f:
            write_json(users, f)
        loop = new_event_loop()
        t0 = time.perf_counter()
        cluster = loop.run_until_complete(Cluster.start(ClusterConfig(directory_path=path)))
        rows.append(("cluster ready (load included)", f"{time.perf_counter() - t0:.2f} s"))
        entry: Any = loop.run_until_complete(cluster.journal.wait_for("warm", actor="directory",
                                                                      timeout=600))
        took = f"{time.perf_counter() - t0:.2f} s after start"
        inside = f"{entry.fields['seconds']} s in the thread, adopted={entry.fields['adopted']}"
        rows.append(("warm-up handed over", f"{took} ({inside})"))
        d = cluster.directory
        gc = StaticGc(d)
        h0 = b"\x00" * 20
        auth = AuthInfo(10, 6, "alice", "CONTOSO", "ntlm")
        bound = H.bind(M.NspiBind(0, Stat(), True), auth, gc)
        session = bound.session
        assert session is not None
        some = d.find_alias("u000123") or next(iter(d))
        calls: dict[str, Any] = {
            "NspiSeekEntries": lambda: H.seek_entries(M.NspiSeekEntries(
                h0, Stat(), (P.PR_DISPLAY_NAME, "Mal"), None, [P.PR_DISPLAY_NAME]), session, gc),
            "NspiGetMatches PR_ANR 'Olivia Nowak'": lambda: H.get_matches(M.NspiGetMatches(
                h0, Stat(), ("property", 4, P.PR_ANR, "Olivia Nowak"), 0, [P.PR_DISPLAY_NAME]), session, gc),
            "NspiResolveNamesW hit": lambda: HP.resolve_names_w(M.NspiResolveNamesW(
                h0, Stat(), None, [some.alias]), session, gc),
            "NspiResolveNamesW miss": lambda: HP.resolve_names_w(M.NspiResolveNamesW(
                h0, Stat(), None, ["qqqzz"]), session, gc),
            "NspiDNToMId (GUID-form DN)": lambda: HP.dn_to_mid(M.NspiDNToMId(
                h0, [f"/guid={some.guid_le.hex()}".encode()]), session, gc),
            "GC's MId block (what NspiBind reads)": lambda: cluster.gcs[cluster.config.gcs[0]].mid_offset,
        }
        for name, call in calls.items():
            t = time.perf_counter()
            status = getattr(call(), "status", None)
            answered = "" if status is None else f" (status {status})"
            rows.append((f"first {name}", f"{(time.perf_counter() - t) * 1e3:.2f} ms{answered}"))
        loop.run_until_complete(cluster.close())
    rows.append(("max RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"))
    q.put(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    args = ap.parse_args()
    from benchmarks.stats import load

    q: mp.Queue[list[tuple[str, str]]] = mp.Queue()
    proc = mp.Process(target=_run, args=(args.users, q))
    proc.start()
    rows = q.get(timeout=1800)
    proc.join()
    print(f"{args.users:,} users served by the default cluster (child on CPU 1); {load()}")
    for name, value in rows:
        print(f"  {name:<44}{value}")


if __name__ == "__main__":
    main()

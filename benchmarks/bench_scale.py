"""NSPI at size: every operation against 1k / 10k / 100k (and optionally 1M) users (issue #19).

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1000,10000,100000] [-n 50]

For each size a child process generates the fixture (``fakegc directory generate``'s JSON),
then measures: loading it (CPU and wall time), the directory's memory per object (RSS
growth over the load, divided by the objects), cluster start to ready with it (default
cluster: two GCs, Exchange, KDC), and the in-process handler time of every NSPI operation
(the pure handlers of fakegc.nspi, no sockets; QueryRows includes encoding its rows), p50 in µs
over ``n`` calls after one warm-up call (the first call after a change builds the sorted
table and the ANR index; that cost is printed as "first ANR call").  The last column is the
growth class read off the figures: how the p50 grows from the smallest to the largest size
(O(1): under 3x for 100x the objects; O(log n)-ish: under 10x; else O(n)).  "cluster start
(again)" is the second start in the process: the parsed fixture is kept and each cluster gets a
copy-on-write copy (the pytest plugin's case).  A cluster on a large directory (>= 50k objects)
warms its tables and indexes in a worker thread after start (``benchmarks/bench_warm.py``
times that); the script waits for it before going on, untimed, so it does not share the CPU
with the rows below.  The PR_ANR 'Ali' query matches ~2% of the
users, so its answer (k rows) grows with n: O(log n + k); the exact-alias and miss queries
show the index's own cost.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


_NOT_ANSWERED: list[str] = []  # operations whose result carried a status other than success


def _p50_us(fn: Callable[[], Any], n: int, name: str = "") -> float:
    status = getattr(fn(), "status", 0)
    if status not in (0, 0x00040380):  # Success, or ErrorsReturned: a row with some PT_ERROR values (MS-OXNSPI 2.2.1.2)
        _NOT_ANSWERED.append(f"{name}: status {status:#x}")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _measure(size: int, n: int, q: mp.Queue[dict[str, float]]) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from fakegc.codes import NspiStatus as S
    from fakegc.directory import props as P
    from fakegc.directory.build import LARGE
    from fakegc.directory.generate import write_json
    from fakegc.directory.loader import load
    from fakegc.nspi import codec
    from fakegc.nspi import handlers as H
    from fakegc.nspi import handlers_props as HP
    from fakegc.nspi import messages as M
    from fakegc.nspi.host import StaticGc
    from fakegc.nspi.table import Stat
    from fakegc.rpc.registry import AuthInfo
    from fakegc.runner import new_event_loop
    from fakegc.scenario.cluster import Cluster, ClusterConfig

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"users{size}.json")
        with open(path, "w") as f:
            write_json(size, f)
        rss0 = _rss_kib()
        c0, w0 = time.process_time(), time.perf_counter()
        d = load(path)
        out["load wall s"], out["load cpu s"] = time.perf_counter() - w0, time.process_time() - c0
        out["KiB/object (RSS)"] = (_rss_kib() - rss0) / len(d)
        loop = new_event_loop()
        for label in ("cluster start s (parses)", "cluster start s (again)"):
            c0, w0 = time.process_time(), time.perf_counter()
            cluster = loop.run_until_complete(Cluster.start(ClusterConfig(directory_path=Path(path))))
            out[label] = time.perf_counter() - w0
            out[label.replace(" s ", " cpu s ")] = time.process_time() - c0
            if len(cluster.directory) >= LARGE:  # let its warm-up thread finish (not timed):
                loop.run_until_complete(cluster.journal.wait_for(  # it would share the CPU below
                    "warm", actor="directory", timeout=1800))
            loop.run_until_complete(cluster.close())
            del cluster
    gc = StaticGc(d)
    h0 = b"\x00" * 20
    bound = H.bind(M.NspiBind(0, Stat(), True), AuthInfo(10, 6, "alice", "CONTOSO", "ntlm"), gc)
    session = bound.session
    assert session is not None
    table = d.table(d.gal)
    mid, other = table[len(table) // 2], table[len(table) // 3]
    obj = d.get(mid)
    assert obj is not None
    cols = [P.PR_DISPLAY_NAME, P.PR_SMTP_ADDRESS, P.PR_TITLE, P.PR_DEPARTMENT_NAME, P.PR_ACCOUNT,
            P.PR_OFFICE_LOCATION, P.PR_DISPLAY_TYPE, P.PR_OBJECT_TYPE]
    anr = ("property", 4, P.PR_ANR, "Ali")
    t0 = time.perf_counter()
    first = H.get_matches(M.NspiGetMatches(h0, Stat(), anr, 0, None), session, gc)
    out["first ANR call s"] = time.perf_counter() - t0
    out["matches of PR_ANR 'Ali'"] = len(first.mids or [])

    def query_rows() -> Any:
        res = H.query_rows(M.NspiQueryRows(h0, 0, Stat(CurrentRec=mid), None, 50, cols), session, gc)
        assert res.rows is not None
        codec.cached_rows(gc, session, res.rows, 1252)
        return res

    def get_matches(text: str) -> Callable[[], None]:
        def run() -> Any:
            res = H.get_matches(M.NspiGetMatches(h0, Stat(), ("property", 4, P.PR_ANR, text), 0,
                                                 [P.PR_DISPLAY_NAME]), session, gc)
            assert res.status in (S.Success, S.TableTooBig)
            return res
        return run

    ops: dict[str, Callable[[], Any]] = {
        "NspiBind": lambda: H.bind(M.NspiBind(0, Stat(), True), AuthInfo(10, 6, "alice", "CONTOSO", "ntlm"), gc),
        "NspiUpdateStat (Delta 50)": lambda: H.update_stat(M.NspiUpdateStat(h0, Stat(CurrentRec=mid, Delta=50), True), session, gc),
        "NspiQueryRows 50x8": query_rows,
        "NspiSeekEntries": lambda: H.seek_entries(M.NspiSeekEntries(h0, Stat(), (P.PR_DISPLAY_NAME, obj.display_name), None, [P.PR_DISPLAY_NAME]), session, gc),
        "NspiGetMatches PR_ANR 'Ali'": get_matches("Ali"),
        "NspiGetMatches PR_ANR exact alias": get_matches(obj.alias),
        "NspiGetMatches PR_ANR miss": get_matches("qqqzz"),
        "NspiResortRestriction (50)": lambda: H.resort_restriction(M.NspiResortRestriction(h0, Stat(), table[:50]), session, gc),
        "NspiCompareMIds": lambda: H.compare_mids(M.NspiCompareMIds(h0, Stat(), mid, other), session, gc),
        "NspiDNToMId": lambda: HP.dn_to_mid(M.NspiDNToMId(h0, [obj.dn.encode()]), session, gc),
        "NspiGetPropList": lambda: HP.get_prop_list(M.NspiGetPropList(h0, 0, mid, 1252), session, gc),
        "NspiGetProps": lambda: HP.get_props(M.NspiGetProps(h0, 0, Stat(CurrentRec=mid), cols), session, gc),
        "NspiGetSpecialTable": lambda: H.get_special_table(M.NspiGetSpecialTable(h0, 0, Stat(), True), session, gc),
        "NspiQueryColumns": lambda: HP.query_columns(M.NspiQueryColumns(h0, 0x80000000), session, gc),
        "NspiResolveNamesW hit": lambda: HP.resolve_names_w(M.NspiResolveNamesW(h0, Stat(), None, [obj.alias]), session, gc),
        "NspiResolveNamesW miss": lambda: HP.resolve_names_w(M.NspiResolveNamesW(h0, Stat(), None, ["qqqzz"]), session, gc),
    }
    for name, fn in ops.items():
        out[name] = _p50_us(fn, n, name)
    out["calls not answered with success"] = len(_NOT_ANSWERED)
    for line in _NOT_ANSWERED:
        print(f"<<< {size}: {line}: its time is not an answer's", file=sys.stderr)
    out["objects"] = len(d)
    out["maxrss MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put(out)


def _growth(first: float, last: float, ratio: float) -> str:
    g = last / first if first > 0 else float("inf")
    if g < 3:
        return "O(1)"
    if g < max(10.0, ratio ** 0.5):
        return "O(log n)"
    return "O(n)" if g < ratio * 3 else "worse than O(n)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("-n", type=int, default=50, help="calls per operation")
    args = ap.parse_args()
    from benchmarks.stats import load

    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        q: mp.Queue[dict[str, float]] = mp.Queue()
        proc = mp.Process(target=_measure, args=(size, args.n, q))
        proc.start()
        results[size] = q.get(timeout=1800)
        proc.join()
    print(f"NSPI at size (in-process handlers, p50 of {args.n} calls in µs; other rows as named); {load()}")
    header = f"{'':<36}" + "".join(f"{s:>12,}" for s in sizes) + "  growth"
    print(header)
    keys = [k for k in results[sizes[0]] if k != "objects"]
    ratio = sizes[-1] / sizes[0]
    for key in keys:
        cells = "".join(f"{results[s][key]:>12.3f}" for s in sizes)
        growth = _growth(results[sizes[0]][key], results[sizes[-1]][key], ratio) if key.startswith("Nspi") else ""
        if "'Ali'" in key and key.startswith("Nspi"):
            growth += " (k = matches grows with n: O(log n + k))"
        print(f"{key:<36}{cells}  {growth}")


if __name__ == "__main__":
    main()

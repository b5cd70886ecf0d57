"""Lab network figures: `fakegc lab -- true` wall time, and lab DNS queries per second.

Usage: python benchmarks/bench_lab.py [-n RUNS] [-q QUERIES]
Needs root or user namespaces (it runs inside `fakegc lab`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PROBE = """
import sys, time, socket
import dns.message, dns.query, dns.resolver
server = str(dns.resolver.get_default_resolver().nameservers[0])
n = int(sys.argv[1])
queries = [dns.message.make_query(name, "A") for name in
           ("gc01.contoso.test", "gc02.contoso.test", "ex01.contoso.test")]
t0 = time.perf_counter()
for i in range(n):
    r = dns.query.udp(queries[i % 3], server, timeout=2)
    assert r.answer
dt = time.perf_counter() - t0
print(f"lab DNS, UDP A queries one at a time (dnspython client): {n / dt:,.0f} queries/s, "
      f"{dt / n * 1e6:.0f} us each")
t0 = time.perf_counter()
for i in range(n // 10):
    socket.gethostbyname("gc02.contoso.test")
dt = time.perf_counter() - t0
print(f"glibc gethostbyname through resolv.conf: {dt / (n // 10) * 1e6:.0f} us each")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=5, help="`fakegc lab -- true` runs")
    ap.add_argument("-q", type=int, default=3000, help="DNS queries")
    args = ap.parse_args()
    fakegc = str(BIN / "fakegc")
    times = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        subprocess.run([fakegc, "lab", "--", "true"], check=True)
        times.append(time.perf_counter() - t0)
    print(f"fakegc lab -- true: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s over {args.n} runs (namespace, cluster start, DNS, teardown)")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run([fakegc, "lab", "--", sys.executable, "-c", PROBE, str(args.q)],
                          env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

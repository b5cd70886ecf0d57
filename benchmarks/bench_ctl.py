"""`fakegc ctl` start-up: wall time of one call against a running server (issue #21: <= 0.2 s).

    .venv/bin/python benchmarks/bench_ctl.py [-n 20]

Starts ``fakegc serve`` once, then runs ``fakegc ctl --endpoints-json FILE state`` N times
as a user would (the console script, a new process each time) and prints the distribution;
then the same for ``fakegc --help`` and, for comparison, ``python -c pass`` (the interpreter's
own start).  Also prints the import time of the modules ``ctl`` loads (``-X importtime``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(cmd: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def show(label: str, xs: list[float]) -> None:
    xs = sorted(xs)
    print(f"{label:<44} median {statistics.median(xs) * 1000:6.0f} ms   "
          f"p90 {xs[int(len(xs) * 0.9) - 1] * 1000:6.0f} ms   max {xs[-1] * 1000:6.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ep = Path(tmp) / "fakegc.json"
        server = subprocess.Popen([str(BIN / "fakegc"), "serve", "--endpoints-json", str(ep)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (ep.exists() and ep.stat().st_size) and time.monotonic() < deadline:
                time.sleep(0.05)
            print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; n={args.n}")
            show("python -c pass", timed([sys.executable, "-c", "pass"], args.n))
            show("fakegc --help", timed([str(BIN / "fakegc"), "--help"], args.n))
            show("fakegc ctl --endpoints-json F state",
                 timed([str(BIN / "fakegc"), "ctl", "--endpoints-json", str(ep), "state"], args.n))
            imp = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                  "import fakegc.cli, fakegc.cli_ctl, fakegc.scenario.ctl"],
                                 capture_output=True, text=True, check=True).stderr
            total = sum(int(line.split("|")[0].split(":")[1]) for line in imp.splitlines()
                        if line.startswith("import time:") and "self" not in line)
            print(f"imports of fakegc.cli + cli_ctl + scenario.ctl: {total / 1000:.0f} ms (self, summed)")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)


if __name__ == "__main__":
    main()

"""Run every benchmark in turn (``make bench``) and print their figures.

The whole run is budgeted to finish within 10 minutes on a 2-core machine even under load:
each script gets at most its own cap and never more than what is left of the budget (a
script cut short is reported, and the run goes on).  Sizes are chosen so that a quiet
machine needs about half of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUDGET = 600.0  # seconds for the whole run
# (script and arguments, cap in seconds)
SCRIPTS: list[tuple[list[str], float]] = [
    (["bench_start.py"], 30),
    (["bench_epm_vs_samba.py", "-c", "8", "-w", "1", "-t", "3", "-r", "3"], 60),
    (["bench_nspi.py", "-t", "2", "-r", "3"], 60),
    (["bench_sealing.py", "-t", "2", "-r", "3", "--prep", "3"], 120),
    (["bench_kdc.py", "-n", "5000", "-r", "3"], 120),
    (["bench_kdc_long.py", "-n", "120000", "--journal"], 90),
    (["bench_sessions.py", "-n", "0"], 90),
    (["bench_scale.py", "--sizes", "1000,10000,100000", "-n", "30"], 150),
    (["bench_ctl.py", "-n", "20"], 30),
    (["bench_lab.py"], 60),
]


def main() -> int:
    failed = 0
    start = time.monotonic()
    print(f"make bench: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs", flush=True)
    for script, cap in SCRIPTS:
        left = BUDGET - (time.monotonic() - start)
        if left < 10:
            print(f"== {' '.join(script)}: skipped, the 10-minute budget is spent", flush=True)
            failed += 1
            continue
        print(f"== {' '.join(script)}", flush=True)
        t0 = time.monotonic()
        try:
            done = subprocess.run([sys.executable, os.path.join(HERE, script[0]), *script[1:]],
                                  timeout=min(cap, left), check=False)
            failed += done.returncode != 0
        except subprocess.TimeoutExpired:
            print(f"   cut short after {min(cap, left):.0f} s", flush=True)
            failed += 1
        print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    print(f"make bench: {time.monotonic() - start:.0f} s in all", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

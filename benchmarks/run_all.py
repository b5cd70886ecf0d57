"""Run every benchmark in turn (``make bench``) and print their figures."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = [["bench_start.py"], ["bench_epm_vs_samba.py", "-t", "3"], ["bench_nspi.py", "-t", "3"],
           ["bench_kdc.py", "-n", "20000"], ["bench_sessions.py", "-n", "10000"],
           ["bench_ctl.py", "-n", "20"]]


def main() -> int:
    failed = 0
    for script in SCRIPTS:
        print(f"== {' '.join(script)}", flush=True)
        done = subprocess.run([sys.executable, os.path.join(HERE, script[0]), *script[1:]], timeout=900)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""How long a call waits while `fakegc serve` warms a large directory (issue #19).

    .venv/bin/python benchmarks/bench_warm_stall.py [--users 1000000] [-t 20]

``fakegc serve --directory F`` (as shipped) on a generated JSON fixture of ``--users`` users,
pinned to CPU 1.  Once its endpoints file is written, a client on CPU 0 (fakegc's raw test
client, not the server's code) binds gc01's endpoint mapper and sends one ept_map every
10 ms for ``-t`` seconds, through the worker thread's warm-up of tables and indexes
(docs/PROTOCOL.md §7), which shares the interpreter lock with the event loop.  Prints the time
to ready, the slowest calls with when they happened, and how many took over 10 and 100 ms.
The server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("-t", "--seconds", type=float, default=20.0)
    args = ap.parse_args()
    from benchmarks.loadgen import ept_map_stub
    from benchmarks.stats import load
    from fakegc.directory.generate import write_json
    from fakegc.nspi import NSPI
    from fakegc.rpc.epm import EPM
    from fakegc.testing.rawrpc import RawRpc

    fakegc = Path(sys.executable).with_name("fakegc")
    with tempfile.TemporaryDirectory() as tmp:
        fixture, endpoints = Path(tmp, "users.json"), Path(tmp, "endpoints.json")
        with open(fixture, "w") as f:
            write_json(args.users, f)
        pin = ["taskset", "-c", "1"] if (os.cpu_count() or 1) > 1 else []
        if pin:
            os.sched_setaffinity(0, {0})
        t0 = time.monotonic()
        proc = subprocess.Popen([*pin, str(fakegc), "serve", "--directory", str(fixture),
                                 "--endpoints-json", str(endpoints), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not (endpoints.exists() and endpoints.stat().st_size):
                if proc.poll() is not None:
                    sys.exit(f"fakegc serve exited with {proc.returncode}")
                time.sleep(0.05)
            ready = time.monotonic() - t0
            port = json.loads(endpoints.read_text())["actors"]["gc01"]["epm"]
            rpc = RawRpc("127.0.0.1", port, timeout=60)
            rpc.bind(EPM.syntax)
            stub = ept_map_stub(NSPI.syntax)
            waits: list[tuple[float, float]] = []
            bad = 0
            end = time.monotonic() + args.seconds
            call_id = 2
            while time.monotonic() < end:
                sent = time.monotonic()
                reply = rpc.call(3, stub, call_id=call_id)
                waits.append((sent - t0, time.monotonic() - sent))
                # C706 12.6.4.10: a response PDU; C706 appendix O: ept_map's status, last in the stub, 0
                bad += reply.ptype != 2 or reply.stub[-4:] != bytes(4)
                call_id += 1
                time.sleep(0.01)
            rpc.close()
        finally:
            proc.terminate()
            proc.wait(30)
    worst = sorted(waits, key=lambda w: -w[1])[:5]
    print(f"fakegc serve with {args.users:,} users: endpoints written {ready:.2f} s after start; {load()}")
    print(f"  {len(waits)} ept_map calls, one every ~10 ms for {args.seconds:.0f} s from then "
          f"(answers that were not status 0: {bad})")
    print("  slowest (s after start: wait): " + ", ".join(f"{t:.2f}: {w * 1000:.0f} ms" for t, w in worst))
    print(f"  over 10 ms: {sum(w > 0.01 for _, w in waits)}; over 100 ms: {sum(w > 0.1 for _, w in waits)}")
    if bad:
        sys.exit("<<< some ept_map answers were not status 0")


if __name__ == "__main__":
    main()

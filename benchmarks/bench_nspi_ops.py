"""NSPI operations in process, without sockets: microseconds a call through the registry
pipeline (decode -> boundary -> handler -> encode) for the load generator's three requests.

    .venv/bin/python benchmarks/bench_nspi_ops.py [-n 3000]

Complements bench_nspi.py (calls/s over TCP), whose figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="calls per operation")
    args = ap.parse_args()
    from benchmarks.nspi_requests import answer_status, stubs
    from fakegc.directory import loader
    from fakegc.nspi import NSPI, StaticGc
    from fakegc.rpc.registry import AssociationGroup, CallContext

    gc = StaticGc(loader.load_default(), allow_anonymous=True)
    group = AssociationGroup(1)

    def ctx(opnum: int) -> CallContext:
        return CallContext(gc, "gc01", NSPI, opnum, 1, 0, 1, group, None, None)

    bound = NSPI.operations[0].call(ctx(0), stubs(b"\x00" * 20)["NspiBind"])
    handle = bound[20:40] if bound[:4] != b"\x00" * 4 else bound[4:24]
    print(f"NSPI operations in process, {args.n} calls each")
    for name, opnum in (("NspiQueryRows 50x8", 3), ("NspiResolveNamesW", 20), ("NspiBind", 0)):
        stub = stubs(handle)[name]
        op = NSPI.operations[opnum]
        answer = op.call(ctx(opnum), stub)
        if answer_status(answer) != 0:  # the IDL's closing return value (MS-OXNSPI section 6)
            sys.exit(f"{name}: answered status {answer_status(answer):#x}; not measured")
        start = time.perf_counter()
        for _ in range(args.n):
            op.call(ctx(opnum), stub)
        print(f"  {name:22s} {(time.perf_counter() - start) / args.n * 1e6:7.1f} us/call")


if __name__ == "__main__":
    main()

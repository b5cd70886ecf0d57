"""NSPI calls/s: NspiQueryRows (50 rows x 8 properties), NspiResolveNamesW, NspiBind (issues #3, #8).

    .venv/bin/python benchmarks/bench_nspi.py [-c 8] [-w 8] [-t 3]

The GC runs in a child process pinned to CPU 1 (anonymous allowed so the load
generator needs no NTLM; the call journal off, as in a load test); the generator
on CPU 0 shares one association group so every connection can use one NSPI
context handle (MS-RPCE 3.3.1.5.6).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakegc.testing.rawrpc import RawRpc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serve(q: mp.Queue[int]) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from fakegc.directory import loader
    from fakegc.journal import Journal
    from fakegc.nspi import NSPI, StaticGc
    from fakegc.rpc.server import RpcServer
    from fakegc.runner import new_event_loop

    loop = new_event_loop()
    gc = StaticGc(loader.load_default(), allow_anonymous=True)
    server = RpcServer("gc01", [NSPI], actor=gc, journal=Journal(maxlen=1000), allow_anonymous=True,
                       journal_calls=False)
    loop.run_until_complete(server.start())
    q.put(server.port)
    loop.run_forever()


def stubs(handle: bytes) -> dict[str, bytes]:
    """The three requests in MS-OXNSPI's IDL form (benchmarks/nspi_requests.py)."""
    from benchmarks.nspi_requests import stubs as idl_stubs

    return idl_stubs(handle)


def _answer(rpc: RawRpc, opnum: int, stub: bytes) -> tuple[int, bytes]:
    """One call on ``rpc``: (PDU type of the last fragment, the reassembled answer stub)."""
    from fakegc.wire import pdu as P

    rpc.send(rpc.request_pdu(2, 0, opnum, stub))
    body = b""
    while True:
        reply = rpc.recv()
        if reply.ptype != P.PTYPE.RESPONSE:
            return reply.ptype, b""
        body += reply.stub
        if reply.header.flags & P.PFC.LAST_FRAG:
            return reply.ptype, body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-w", "--window", type=int, default=8)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    args = ap.parse_args()
    q: mp.Queue[int] = mp.Queue()
    proc = mp.Process(target=_serve, args=(q,), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.loadgen import run_group
    from benchmarks.nspi_requests import OPNUMS, answer_status
    from fakegc.nspi import NSPI
    from fakegc.runner import new_event_loop
    from fakegc.testing.rawrpc import RawRpc

    setup = RawRpc("127.0.0.1", port)
    group = setup.bind(NSPI.syntax).bind_ack().assoc_group
    ptype, stub = _answer(setup, 0, stubs(b"\x00" * 20)["NspiBind"])
    if answer_status(stub) != 0:
        sys.exit(f"NspiBind was not answered with status 0 (PDU type {ptype}); nothing to measure")
    handle = stub[-24:-4]  # pServerGuid pointer+guid, then the 20-byte handle, then the status
    # one call of each, reassembled and read: an answer with status 0 and, for QueryRows, rows
    for name, request in stubs(handle).items():
        ptype, stub = _answer(setup, OPNUMS[name], request)
        if answer_status(stub) != 0:
            sys.exit(f"{name}: answered PDU type {ptype}, status {answer_status(stub):#x}; not measured")
        print(f"  checked: {name} answers status 0 with a {len(stub)}-byte stub")
    loop = new_event_loop()
    from benchmarks.stats import load

    print(f"NSPI calls/s, {args.connections} connections x {args.window} in flight, {args.seconds:.0f}s each; "
          f"{load()}; only answers with status 0 count")
    wrong = 0
    for name, request in stubs(handle).items():
        res = loop.run_until_complete(run_group("127.0.0.1", port, NSPI.syntax, OPNUMS[name], request,
                                                args.connections, args.window, args.seconds, group))
        bad = int(res["faults"] + res["bad_status"])
        wrong += bad
        flag = "" if not bad else f"  <<< {bad} CALLS FAULTED OR ANSWERED ANOTHER STATUS (not in the rate)"
        print(f"  {name:<22}{res['rate']:>10.0f} calls/s  ({res['calls']:.0f} answered with status 0, "
              f"faults {res['faults']}, other statuses {res['bad_status']}; target >= 10000){flag}")
    setup.close()
    proc.terminate()
    if wrong:
        sys.exit(f"{wrong} calls faulted or answered another status: these figures are not answers")


if __name__ == "__main__":
    main()

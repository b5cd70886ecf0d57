"""NSPI calls/s: NspiQueryRows (50 rows x 8 properties), NspiResolveNamesW, NspiBind (issues #3, #8).

    .venv/bin/python benchmarks/bench_nspi.py [-c 8] [-w 8] [-t 3] [-r 3]

The GC runs in a child process pinned to CPU 1 (anonymous allowed so the load
generator needs no NTLM; the call journal off, as in a load test); the generator
on CPU 0 shares one association group so every connection can use one NSPI
context handle (MS-RPCE 3.3.1.5.6).  The requests are MS-OXNSPI's IDL form
(benchmarks/nspi_requests.py); one call of each is answered and read before timing, and
only answers with status 0 count: faults or other statuses are printed and make the script
exit non-zero.  The three calls run in ``-r`` interleaved rounds (A-B-C, C-B-A, ...);
median [range] printed.
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
    ap.add_argument("-r", "--rounds", type=int, default=3)
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
    from benchmarks.stats import interleaved, load, spread

    print(f"NSPI calls/s, {args.connections} connections x {args.window} in flight, {args.seconds:.0f}s each, "
          f"median [range] of {args.rounds} interleaved rounds; {load()}; only answers with status 0 count")
    requests = stubs(handle)
    rates: dict[str, list[float]] = {name: [] for name in requests}
    answered = {name: 0 for name in requests}
    failed = {name: 0 for name in requests}
    for _r, name in interleaved(list(requests), args.rounds):
        res = loop.run_until_complete(run_group("127.0.0.1", port, NSPI.syntax, OPNUMS[name], requests[name],
                                                args.connections, args.window, args.seconds, group))
        rates[name].append(res["rate"])
        answered[name] += int(res["calls"])
        failed[name] += int(res["faults"] + res["bad_status"])
    for name in requests:
        flag = "" if not failed[name] else f"  <<< {failed[name]} CALLS FAULTED OR ANSWERED ANOTHER STATUS"
        print(f"  {name:<22}{spread(rates[name]):>22} calls/s  ({answered[name]} answered with status 0, "
              f"{failed[name]} faulted or other status; target >= 10000){flag}")
    wrong = sum(failed.values())
    setup.close()
    proc.terminate()
    if wrong:
        sys.exit(f"{wrong} calls faulted or answered another status: these figures are not answers")


if __name__ == "__main__":
    main()

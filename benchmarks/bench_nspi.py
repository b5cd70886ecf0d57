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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _serve(q: "mp.Queue[int]") -> None:
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
    from impacket.dcerpc.v5 import nspi
    from impacket.dcerpc.v5.dtypes import DWORD

    def tags(req, values):  # type: ignore[no-untyped-def]
        for v in values:
            d = DWORD()
            d["Data"] = v
            req["pPropTags"]["aulPropTag"].append(d)
        req["pPropTags"]["cValues"] = len(values)
        # PropertyTagArray_r: size_is(cValues + 1) (MS-OXNSPI 2.2.2.2), as the IDL's stubs send it
        req.fields["pPropTags"].fields["Data"].fields["aulPropTag"].fields["MaximumCount"] = \
            len(values) + 1

    def ctx(raw: bytes):  # type: ignore[no-untyped-def]
        h = nspi.handle_t()
        h.fromString(raw)  # handle_t(data) would zero the UUID in its constructor
        return h

    eight = [0x3001001F, 0x39FE001F, 0x3003001F, 0x3A17001F, 0x3A18001F, 0x3A08001F, 0x0FFE0003, 0x39000003]
    q = nspi.NspiQueryRows()
    q["hRpc"] = ctx(handle)
    q["dwFlags"] = 0
    q["pStat"]["CodePage"] = 1252
    q["pStat"]["SortLocale"] = 0x409
    q["lpETable"] = nspi.NULL
    q["Count"] = 50
    tags(q, eight)
    r = nspi.NspiResolveNamesW()
    r["hRpc"] = ctx(handle)
    r["pStat"]["CodePage"] = 1252
    tags(r, [0x3001001F, 0x39FE001F])
    r["paStr"]["Count"] = 1
    from impacket.dcerpc.v5.dtypes import LPWSTR

    name = LPWSTR()
    name["Data"] = "alice\x00"
    r["paStr"]["Strings"].append(name)
    b = nspi.NspiBind()
    b["dwFlags"] = 0x20
    b["pStat"]["CodePage"] = 1252
    b["pServerGuid"] = b"\x00" * 16
    return {"NspiQueryRows 50x8": q.getData(), "NspiResolveNamesW": r.getData(), "NspiBind": b.getData()}


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
    from fakegc.nspi import NSPI
    from fakegc.runner import new_event_loop
    from fakegc.testing.rawrpc import RawRpc

    setup = RawRpc("127.0.0.1", port)
    group = setup.bind(NSPI.syntax).bind_ack().assoc_group
    reply = setup.call(0, stubs(b"\x00" * 20)["NspiBind"])
    stub = reply.stub
    handle = stub[-24:-4]  # pServerGuid pointer+guid, then the 20-byte handle, then the status
    loop = new_event_loop()
    from benchmarks.stats import load

    print(f"NSPI calls/s, {args.connections} connections x {args.window} in flight, {args.seconds:.0f}s each; "
          f"{load()}")
    for name, request in stubs(handle).items():
        opnum = {"NspiQueryRows 50x8": 3, "NspiResolveNamesW": 20, "NspiBind": 0}[name]
        res = loop.run_until_complete(run_group("127.0.0.1", port, NSPI.syntax, opnum, request,
                                                args.connections, args.window, args.seconds, group))
        print(f"  {name:<22}{res['rate']:>10.0f} calls/s  (faults {res['faults']}, target >= 10000)")
    setup.close()
    proc.terminate()


if __name__ == "__main__":
    main()

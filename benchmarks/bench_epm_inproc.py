"""Server CPU per ept_map call, in process: the RPC engine's Python path without sockets.

    .venv/bin/python benchmarks/bench_epm_inproc.py [-n 200000] [--journal-off] [--listener]

One ``_Connection`` of an :class:`RpcServer` serving EPM (the cluster's endpoint map:
NSPI, mgmt, EPM registered) is fed the same bind and then ept_map request PDUs
(benchmarks/loadgen.py's stub) through ``data_received``; the transport only counts
bytes.  Prints µs per call (best of 5 batches): the per-call cost the socket benchmark
(bench_epm_vs_samba.py) adds its syscalls to, and a figure that a loaded machine
disturbs less.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.loadgen import ept_map_stub
from fakegc.journal import Journal
from fakegc.rpc.epm import EPM, EndpointMap
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.server import RpcServer, _Connection
from fakegc.testing.rawrpc import NDR20, RawRpc


class _Sink:
    """A transport that keeps only a byte count."""

    def __init__(self) -> None:
        self.sent = 0

    def write(self, data: bytes) -> None:
        self.sent += len(data)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="calls per batch")
    ap.add_argument("--journal-off", action="store_true", help="journal_calls=False")
    ap.add_argument("--listener", action="store_true", help="one journal listener, as `fakegc serve` has")
    args = ap.parse_args()
    journal = Journal()
    if args.listener:
        journal.subscribe(lambda entry: None)
    server = RpcServer("gc01", [EPM, MGMT], journal=journal, allow_anonymous=True,
                       journal_calls=not args.journal_off)
    emap = EndpointMap()
    from fakegc.nspi.interface import NSPI

    emap.register(NSPI, "127.0.0.1", 6004, "NSPI")
    emap.register(MGMT, "127.0.0.1", 6004, "mgmt")
    emap.register(EPM, "127.0.0.1", 135, "EPM")
    server.endpoint_map = emap  # type: ignore[attr-defined]
    conn = _Connection(server)
    sink = _Sink()
    conn.connection_made(sink)  # type: ignore[arg-type]
    conn.data_received(RawRpc.bind_pdu([(0, EPM.syntax, [NDR20])]))
    request = RawRpc.request_pdu(7, 0, 3, ept_map_stub(EPM.syntax))
    feed = conn.data_received
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(args.n):
            feed(request)
        best = min(best, (time.perf_counter() - t0) / args.n)
        journal.clear()
    print(f"ept_map in process: {best * 1e6:.2f} µs per call (best of 5 x {args.n}; "
          f"journal {'off' if args.journal_off else 'on'}{', 1 listener' if args.listener else ''}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()

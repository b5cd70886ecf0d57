"""KDC replies/s: fakegc against MIT krb5kdc, same load generator, same run (issues #4, #8).

    .venv/bin/python benchmarks/bench_kdc.py [-n 2000] [-w 16] [-r 3]

fakegc runs twice, with its journal off and on (every request and answer recorded, as in a
test).  Five loads over UDP (W requests in flight): KDC_ERR_C_PRINCIPAL_UNKNOWN (unknown
client), KDC_ERR_PREAUTH_REQUIRED (no pre-authentication), AS-REP (valid
PA-ENC-TIMESTAMP), TGS-REP (valid TGT) and TGS S_PRINCIPAL_UNKNOWN (the shutdown
scenario: a scripted rule at fakegc, a missing principal at MIT).  Every request is distinct (fresh
nonce, fresh authenticator) so MIT's lookaside cache cannot answer from memory
(PROTOCOL.md §7).  Each KDC is pinned to CPU 1, the generator to CPU 0.  Without
MIT installed (`make bench-deps`) only fakegc is measured.  The three servers run side by side
for the whole script and are measured in interleaved rounds (A-B-C-C-B-A...); requests are made
lazily by benchmarks/kdcgen.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Generator, Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REALM = "CONTOSO.TEST"
USERS = {"alice": "Passw0rd!"}
SPN = "exchangeAB/gc01.contoso.test"
GONE = "exchangeAB/gc09.contoso.test"  # no such principal at MIT; a scripted rule at fakegc


def _serve(q: mp.Queue[int], journal: bool = False) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from fakegc.journal import Journal
    from fakegc.kdc.principals import PrincipalDb
    from fakegc.kdc.server import Kdc
    from fakegc.runner import new_event_loop

    db = PrincipalDb(REALM)
    for u, p in USERS.items():
        db.add_user(u, p)
    db.add_service(SPN, password="service-secret-1")
    loop = new_event_loop()
    # journal on: every request and answer recorded in the in-memory ring, as in a test
    kdc = Kdc(db, Journal(maxlen=100_000) if journal else Journal(maxlen=1000, enabled_kinds=()))
    # the shutdown scenario's rule: TGS-REQs for the GC going away get S_PRINCIPAL_UNKNOWN
    kdc.add_rule(msg="TGS", service=GONE)
    loop.run_until_complete(kdc.start())
    q.put(kdc.udp_port)
    loop.run_forever()


class _Gen(asyncio.DatagramProtocol):
    """Keeps ``window`` requests in flight, taking each from a lazy iterator (benchmarks/kdcgen.py:
    ~5 µs a TGS-REQ, not the 1.4 ms of building one with pyasn1)."""

    def __init__(self, requests: Iterator[bytes], n: int, window: int, done: asyncio.Future[float],
                 stamps: list[float] | None = None) -> None:
        self.requests, self.n, self.window, self.done, self.stamps = requests, n, window, done, stamps
        self.next = 0
        self.replies = 0
        self.errors = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.start = time.perf_counter()
        for _ in range(min(self.window, self.n)):
            self._send()

    def _send(self) -> None:
        if self.next < self.n:
            self.transport.sendto(next(self.requests))  # type: ignore[union-attr]
            self.next += 1

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.replies += 1
        if self.stamps is not None:
            self.stamps.append(time.perf_counter())
        if data[:1] == b"\x7e":
            self.errors += 1
        if self.replies >= self.n and not self.done.done():
            self.done.set_result(time.perf_counter() - self.start)
        else:
            self._send()


async def _drive(port: int, requests: Iterator[bytes], n: int, window: int,
                 stamps: list[float] | None = None, timeout: float = 120) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _Gen(requests, n, window, done, stamps), remote_addr=("127.0.0.1", port))
    try:
        elapsed = await asyncio.wait_for(done, timeout)
    except TimeoutError:
        elapsed = time.perf_counter() - proto.start
    transport.close()
    return proto.replies / elapsed, proto.errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="requests per load")
    ap.add_argument("-w", "--window", type=int, default=16)
    ap.add_argument("-r", "--rounds", type=int, default=3, help="interleaved rounds (A-B-B-A)")
    args = ap.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.kdcgen import as_reqs, tgs_reqs
    from benchmarks.peers import mit_available, mit_kdc
    from benchmarks.stats import interleaved, load, ratio_spread, spread
    from fakegc.kdc.principals import PrincipalDb
    from fakegc.kdc.requests import as_req
    from fakegc.runner import new_event_loop

    db = PrincipalDb(REALM)
    alice = db.add_user("alice", USERS["alice"])
    key = db.key(alice, 18)
    loop = new_event_loop()

    def loads(port: int) -> dict[str, tuple[float, int]]:
        import socket

        out: dict[str, tuple[float, int]] = {}
        n, w = args.n, args.window

        def run(requests: Iterator[bytes]) -> tuple[float, int]:
            return loop.run_until_complete(_drive(port, requests, n, w))

        # warm-up, the same for every server: 2000 requests of the first load, not counted
        loop.run_until_complete(_drive(port, as_reqs("warm", REALM, distinct_names=True), 2000, w))
        out["C_PRINCIPAL_UNKNOWN"] = run(as_reqs("nobody", REALM, distinct_names=True))
        out["PREAUTH_REQUIRED"] = run(as_reqs("alice", REALM))
        out["AS-REP"] = run(as_reqs("alice", REALM, key))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(as_req("alice", REALM, key), ("127.0.0.1", port))
        tgt = s.recv(65536)
        out["TGS-REP"] = run(tgs_reqs(tgt, key, "alice", REALM, SPN))
        out["TGS-REP, body checksum"] = run(tgs_reqs(tgt, key, "alice", REALM, SPN, checksum=True))
        out["TGS S_PRINCIPAL_UNKNOWN"] = run(tgs_reqs(tgt, key, "alice", REALM, GONE))
        return out

    with contextlib.ExitStack() as stack:
        ports = {"fakegc": stack.enter_context(_fakegc(False)),
                 "fakegc+journal": stack.enter_context(_fakegc(True))}
        if mit_available():
            ports["MIT krb5kdc"] = int(str(stack.enter_context(mit_kdc(REALM, USERS, [SPN]))["port"]))
        rates: dict[str, dict[str, list[float]]] = {name: {} for name in ports}
        errors: dict[str, dict[str, int]] = {name: {} for name in ports}
        for _r, name in interleaved(list(ports), args.rounds):
            for load_name, (rate, errs) in loads(ports[name]).items():
                rates[name].setdefault(load_name, []).append(rate)
                errors[name][load_name] = errors[name].get(load_name, 0) + errs
    print(f"KDC replies/s over UDP, {args.n} distinct requests per load, {args.window} in flight, "
          f"median [range] of {args.rounds} interleaved rounds; {load()}")
    mit = rates.get("MIT krb5kdc", {})
    print(f"{'load':<26}{'fakegc':>22}{'+journal':>22}{'MIT krb5kdc':>22}{'ratio':>18}{'+journal':>18}")
    for name, ours in rates["fakegc"].items():
        jr, mr = rates["fakegc+journal"][name], mit.get(name, [])
        print(f"{name:<26}{spread(ours):>22}{spread(jr):>22}{spread(mr):>22}"
              f"{ratio_spread(ours, mr):>18}{ratio_spread(jr, mr):>18}   (error replies: "
              + ", ".join(f"{server} {errs.get(name, 0)}" for server, errs in errors.items()) + ")")


@contextlib.contextmanager
def _fakegc(journal: bool) -> Generator[int, None, None]:
    q: mp.Queue[int] = mp.Queue()
    proc = mp.Process(target=_serve, args=(q, journal), daemon=True)
    proc.start()
    try:
        yield q.get(timeout=30)
    finally:
        proc.terminate()
        proc.join(10)

if __name__ == "__main__":
    main()

"""KDC replies/s: fakegc against MIT krb5kdc, same load generator, same run (issues #4, #8).

    .venv/bin/python benchmarks/bench_kdc.py [-n 2000] [-w 16]

fakegc runs twice, with its journal off and on (every request and answer recorded, as in a
test).  Five loads over UDP (W requests in flight): KDC_ERR_C_PRINCIPAL_UNKNOWN (unknown
client), KDC_ERR_PREAUTH_REQUIRED (no pre-authentication), AS-REP (valid
PA-ENC-TIMESTAMP), TGS-REP (valid TGT) and TGS S_PRINCIPAL_UNKNOWN (the shutdown
scenario: a scripted rule at fakegc, a missing principal at MIT).  Every request is distinct (fresh
nonce, fresh authenticator) so MIT's lookaside cache cannot answer from memory
(PROTOCOL.md §7).  Each KDC is pinned to CPU 1, the generator to CPU 0.  Without
MIT installed (`make bench-deps`) only fakegc is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REALM = "CONTOSO.TEST"
USERS = {"alice": "Passw0rd!"}
SPN = "exchangeAB/gc01.contoso.test"
GONE = "exchangeAB/gc09.contoso.test"  # no such principal at MIT; a scripted rule at fakegc


def _serve(q: "mp.Queue[int]", journal: bool = False) -> None:
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


def _as_req(user: str, with_ts: bool, key=None) -> bytes:  # type: ignore[no-untyped-def]
    from fakegc.kdc.requests import as_req

    return as_req(user, REALM, key if with_ts else None)


def _tgs_reqs(tgt_reply: bytes, key, n: int, spn: str = SPN, checksum: bool = False) -> list[bytes]:  # type: ignore[no-untyped-def]
    """n distinct TGS-REQs (fresh authenticators; no body checksum, as impacket sends them,
    unless ``checksum``: the authenticator checksums the body, as MIT and Samba send them)."""
    from fakegc.kdc.requests import open_as_rep, tgs_req

    rep, _enc, session = open_as_rep(tgt_reply, key)
    base = dt.datetime.now(dt.timezone.utc)
    return [tgs_req(rep, session, "alice", REALM, spn, body_checksum=checksum,
                    cusec=i % 1_000_000,
                    ctime=base + dt.timedelta(seconds=i // 1_000_000)) for i in range(n)]


class _Gen(asyncio.DatagramProtocol):
    def __init__(self, requests: list[bytes], window: int, done: asyncio.Future[float]) -> None:
        self.requests, self.window, self.done = requests, window, done
        self.next = 0
        self.replies = 0
        self.errors = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.start = time.perf_counter()
        for _ in range(min(self.window, len(self.requests))):
            self._send()

    def _send(self) -> None:
        if self.next < len(self.requests):
            self.transport.sendto(self.requests[self.next])  # type: ignore[union-attr]
            self.next += 1

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.replies += 1
        if data[:1] == b"\x7e":
            self.errors += 1
        if self.replies >= len(self.requests) and not self.done.done():
            self.done.set_result(time.perf_counter() - self.start)
        else:
            self._send()


async def _drive(port: int, requests: list[bytes], window: int) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    transport, proto = await loop.create_datagram_endpoint(lambda: _Gen(requests, window, done),
                                                           remote_addr=("127.0.0.1", port))
    try:
        elapsed = await asyncio.wait_for(done, 120)
    except asyncio.TimeoutError:
        elapsed = time.perf_counter() - proto.start
    transport.close()
    return proto.replies / elapsed, proto.errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="requests per load")
    ap.add_argument("-w", "--window", type=int, default=16)
    args = ap.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    from benchmarks.peers import mit_available, mit_kdc
    from fakegc.kdc.principals import PrincipalDb
    from fakegc.runner import new_event_loop

    db = PrincipalDb(REALM)
    alice = db.add_user("alice", USERS["alice"])
    key = db.key(alice, 18)
    loop = new_event_loop()

    def loads(port: int) -> dict[str, tuple[float, int]]:
        import socket

        out: dict[str, tuple[float, int]] = {}
        # warm-up, the same for every server: 2000 requests of the first load, not counted
        loop.run_until_complete(_drive(port, [_as_req(f"warm{i}", False) for i in range(2000)],
                                       args.window))
        out["C_PRINCIPAL_UNKNOWN"] = loop.run_until_complete(
            _drive(port, [_as_req(f"nobody{i}", False) for i in range(args.n)], args.window))
        out["PREAUTH_REQUIRED"] = loop.run_until_complete(
            _drive(port, [_as_req("alice", False) for _ in range(args.n)], args.window))
        out["AS-REP"] = loop.run_until_complete(
            _drive(port, [_as_req("alice", True, key) for _ in range(args.n)], args.window))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(_as_req("alice", True, key), ("127.0.0.1", port))
        tgt = s.recv(65536)
        out["TGS-REP"] = loop.run_until_complete(_drive(port, _tgs_reqs(tgt, key, args.n), args.window))
        out["TGS-REP, body checksum"] = loop.run_until_complete(
            _drive(port, _tgs_reqs(tgt, key, args.n, checksum=True), args.window))
        out["TGS S_PRINCIPAL_UNKNOWN"] = loop.run_until_complete(
            _drive(port, _tgs_reqs(tgt, key, args.n, GONE), args.window))
        return out

    def fakegc(journal: bool) -> dict[str, tuple[float, int]]:
        q: mp.Queue[int] = mp.Queue()
        proc = mp.Process(target=_serve, args=(q, journal), daemon=True)
        proc.start()
        try:
            return loads(q.get(timeout=30))
        finally:
            proc.terminate()

    ours = fakegc(False)
    journaled = fakegc(True)
    theirs = None
    if mit_available():
        with mit_kdc(REALM, USERS, [SPN]) as mit:
            theirs = loads(int(mit["port"]))  # type: ignore[arg-type]
    print(f"KDC replies/s over UDP, {args.n} distinct requests per load, {args.window} in flight")
    print(f"{'load':<26}{'fakegc':>10}{'+journal':>10}{'MIT krb5kdc':>13}{'ratio':>7}{'+journal':>10}")
    for name, (rate, errors) in ours.items():
        jrate = journaled[name][0]
        mit_rate = theirs[name][0] if theirs else float("nan")
        print(f"{name:<26}{rate:>10.0f}{jrate:>10.0f}{mit_rate:>13.0f}{rate / mit_rate:>7.2f}"
              f"{jrate / mit_rate:>10.2f}   (error replies: {errors})")


if __name__ == "__main__":
    main()

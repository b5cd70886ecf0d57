"""Sealed against clear NSPI calls, at a saturated server: NspiQueryRows 50x8 at PKT_PRIVACY
and PKT_CONNECT, over NTLM and Kerberos (issue #19 target 6).

    .venv/bin/python benchmarks/bench_sealing.py [--auth ntlm|kerberos|both] [-c 8] [-t 3] [-r 3]

The server is ``fakegc serve`` as shipped (every call journaled) pinned to CPU 1, with a
config that gives gc01's service account AES256 only (AD's msDS-SupportedEncryptionTypes):
Outlook in a domain asks for AES256 first, impacket asks for rc4-hmac first, so this is
what makes impacket's session key, and the Kerberos sealing, AES256 (RFC 4121 wrap with
AES-CTS + HMAC-SHA1-96, section 4.2.4; DCE style, MS-KILE 3.4.5) as Outlook's would be.  NTLM seals with RC4 +
HMAC-MD5 (MS-NLMP 3.4.4.2).

The generator runs on CPU 0 and is not fakegc's server code.  Per connection, impacket
does everything that needs the protocol's state:

1. the bind (NTLM, or Kerberos in SPNEGO with a service ticket impacket got from the
   cluster's KDC before the rounds) at the level measured, NspiBind, and one NspiQueryRows
   50x8 that impacket unseals; that answer must have status 0 (MS-OXNSPI section 6) and
   50 rows (impacket's NspiQueryRowsResponse), and its bytes on the wire, all fragments,
   become the reference size;
2. then N more calls, captured: the transport's ``send`` appends to a list while
   ``dce.call`` runs, so impacket advances its own sequence numbers, call_ids and
   RC4/AES state (the requests are exactly what it would send; the generator does no
   crypto).  N covers the window at the rate the contender reached in its last round
   x 1.2 (a generous guess x 1.5 in round one), at most ``--max-calls`` and what
   ``-j`` forked workers capture in ``--prep`` seconds (impacket needs 80-900 us a
   request), so the set-up stays a few seconds a run.

In the timed window the captured requests go out in order on the real sockets, one in
flight per connection, and each answer is read by its fragment headers only
(benchmarks/fragments.py): it counts when every fragment is a response of the request's
call_id and the sizes add up to the reference.  **In the window the generator checks
ptypes, call_ids and sizes, not the unsealed status**: only the first answer per
connection is unsealed and verified.  A fault, another size or a lost connection counts
as wrong and makes the script exit non-zero.  If a connection runs out of captured
requests, the window ends there for all and the rate is calls / elapsed time (the
"window s" column shows it).

Both CPUs are printed per run from /proc/PID/task/*/schedstat: time on CPU and time
runnable but waiting for a CPU.  The server near 100 % of CPU 1 with the generator well
below 100 % of CPU 0 means the rate is the server's; a large "waited" means another
process took that CPU (the box is shared) and the run is noisy.  Contenders run in interleaved rounds (A-B-C-D,
D-C-B-A, ...); median [range] printed with the load average, and the OpenSSL floor of one
sealed answer (NTLM: HMAC-MD5 + RC4; Kerberos: AES-CBC (CTS's bulk) + HMAC-SHA1 per fragment).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hmac
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.fragments import AnswerReader, fragments

REALM, DOMAIN, USER, PASSWORD = "CONTOSO.TEST", "CONTOSO", "alice", "Passw0rd!"
# gc01's accounts support AES256 only, so impacket's TGS-REQ (rc4 first) gets an AES256
# session key (the KDC picks the first requested etype the service supports, RFC 4120 3.3.3)
CONFIG = "[cluster]\nservice_etypes = { gc01 = [18] }\n"
GUESS = {"PKT_CONNECT": 20000.0, "PKT_PRIVACY": 8000.0}  # calls/s before a first round
WARM = 0.2  # seconds of load before the window opens


@dataclass
class Conn:
    """One bound connection: its socket, the captured request PDUs and their call_ids."""

    dce: Any
    transport: Any
    raw: Any  # the request under impacket's call(): getData() and opnum
    size: int  # the reference answer's bytes on the wire
    frags: list[tuple[int, int, int, int]]  # its fragments (ptype, flags, length, auth length)
    pdus: list[bytes] = field(default_factory=list)
    call_ids: list[int] = field(default_factory=list)


def _query_rows(dce: Any) -> Any:
    """The benchmark's NspiQueryRows 50x8 request (benchmarks/nspi_requests.py) in a shape
    impacket's ``call`` takes: an object with getData() and opnum."""
    from impacket.dcerpc.v5 import nspi

    from benchmarks.nspi_requests import stubs

    handle = nspi.hNspiBind(dce)["contextHandle"]
    stub = stubs(handle.getData())["NspiQueryRows 50x8"]

    class Raw:
        opnum = 3

        def getData(self) -> bytes:
            return stub

    return Raw()


def connect(port: int, auth: str, level: int, tgs: dict[str, Any] | None) -> Conn:
    """Bind and verify one answer in full (module docstring, step 1)."""
    from impacket.dcerpc.v5 import nspi, transport
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_GSS_NEGOTIATE

    from benchmarks.nspi_requests import answer_status

    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:gc01.contoso.test[{port}]")
    t.setRemoteHost("127.0.0.1")  # the SPN names the GC; the socket goes to loopback
    if auth == "kerberos":
        t.set_credentials(USER, PASSWORD, REALM, TGS=tgs)
        t.set_kerberos(True, kdcHost="127.0.0.1")
    else:
        t.set_credentials(USER, PASSWORD, DOMAIN)
    dce = t.get_dce_rpc()
    if auth == "kerberos":
        dce.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
    dce.set_auth_level(level)
    dce.connect()
    dce.bind(nspi.MSRPC_UUID_NSPI)
    raw = _query_rows(dce)
    wire: list[bytes] = []
    recv = t.recv

    def keep(forceRecv: int = 0, count: int = 0) -> bytes:
        data: bytes = recv(forceRecv, count)
        wire.append(data)
        return data

    t.recv = keep
    try:
        dce.call(3, raw)
        answer = dce.recv()  # impacket unseals (and raises on a fault)
    finally:
        del t.recv
    rows = nspi.simplifyPropertyRowSet(nspi.NspiQueryRowsResponse(answer)["ppRows"])
    if answer_status(answer) != 0 or len(rows) != 50:  # MS-OXNSPI 3.1.4.1.8: Count rows, status 0
        raise RuntimeError(f"first answer: status {answer_status(answer):#x}, {len(rows)} rows")
    data = b"".join(wire)
    if data[4] & 0xF0 != 0x10:  # drep[0]: little-endian integers, which the reader assumes (C706 14.1)
        raise RuntimeError(f"the server answered with drep {data[4:8].hex()}")
    conn = Conn(dce, t, raw, len(data), fragments(data))
    if sum(f[2] for f in conn.frags) != len(data) or not conn.frags[-1][1] & 0x02:
        raise RuntimeError("the first answer's fragments do not add up")  # C706 12.6.3.1
    return conn


def capture(conn: Conn, calls: int, seconds: float = float("inf")) -> list[bytes]:
    """The next ``calls`` request PDUs (fewer if ``seconds`` run out) exactly as impacket
    sends them (module docstring, step 2): ``send`` appends to a list while ``dce.call``
    builds, signs or seals each."""
    out: list[bytes] = []
    pdus: list[bytes] = []
    t = conn.transport
    t.send = lambda data, forceWriteAndx=0, forceRecv=0: out.append(data)
    end = time.perf_counter() + seconds
    try:
        for _ in range(calls):
            if time.perf_counter() > end:
                break
            k = len(out)
            conn.dce.call(3, conn.raw)
            pdus.append(b"".join(out[k:]))  # every fragment of the request, in order
    finally:
        del t.send
    return pdus


_OPEN: list[tuple[Conn, int, float]] = []  # what the forked capture workers read


def _capture_one(i: int) -> list[bytes]:
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))  # the server is idle meanwhile
    return capture(*_OPEN[i])


def capture_all(conns: list[Conn], calls: int, workers: int, budget: float) -> None:
    """Fill every connection's ``pdus`` with up to ``calls`` requests in about ``budget``
    seconds.  impacket's Python is the cost (80-900 us a request), so ``workers`` forked
    processes share the connections while the server is idle; each inherits the
    connections' impacket state and only ever calls ``send``, which the capture replaces
    (the sockets stay the parent's)."""
    import multiprocessing as mp

    workers = max(1, min(workers, len(conns)))
    _OPEN[:] = [(c, calls, budget * workers / len(conns)) for c in conns]
    try:
        if workers > 1:
            with mp.get_context("fork").Pool(workers) as pool:
                results = pool.map(_capture_one, range(len(conns)), chunksize=1)
        else:
            results = [capture(*job) for job in _OPEN]
    finally:
        _OPEN.clear()
    for c, pdus in zip(conns, results):
        c.pdus = pdus
        c.call_ids = [int.from_bytes(p[12:16], "little") for p in pdus]  # C706 12.6.3.1


class _Driver(asyncio.Protocol):
    """Sends a connection's captured requests one at a time, each when the last answer ended."""

    def __init__(self, conn: Conn, done: asyncio.Future[None]) -> None:
        self.conn = conn
        self.reader = AnswerReader(conn.size)
        self.done = done
        self.next = 0
        self.stop = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self) -> None:
        i = self.next
        if self.stop or self.transport is None:
            return
        if i >= len(self.conn.pdus):
            if not self.done.done():
                self.done.set_result(None)  # out of captured requests: the window ends
            return
        self.next = i + 1
        self.reader.expect(self.conn.call_ids[i])
        self.transport.write(self.conn.pdus[i])

    def data_received(self, data: bytes) -> None:
        try:
            if self.reader.feed(data):
                self.send()
        except ValueError:
            self.reader.wrong += 1
            self.lost()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stop:
            self.reader.wrong += 1  # the server closed on us: not an answer
            self.lost()

    def lost(self) -> None:
        self.stop = True
        if not self.done.done():
            self.done.set_result(None)


def cpu_of(pid: int) -> tuple[float, float]:
    """(seconds on CPU, seconds runnable but waiting for a CPU) of every thread of ``pid``,
    from /proc/PID/task/*/schedstat (ns); the wait shows another process on the server's CPU."""
    run = wait = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                fields = f.read().split()
            run, wait = run + int(fields[0]), wait + int(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return run / 1e9, wait / 1e9


@dataclass
class Run:
    """One timed window."""

    rate: float
    good: int
    wrong: int
    seconds: float
    server_cpu: float  # seconds
    server_wait: float  # seconds runnable, waiting for CPU 1
    gen_cpu: float  # seconds
    gen_wait: float  # seconds runnable, waiting for CPU 0
    cut: bool  # a connection ran out of captured requests


async def window(conns: list[Conn], seconds: float, pid: int) -> Run:
    """Replay the captured requests for ``seconds`` (after WARM); count answers."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    drivers: list[_Driver] = []
    for c in conns:
        _t, d = await loop.create_connection(functools.partial(_Driver, c, done),
                                             sock=c.transport.get_socket())
        drivers.append(d)

    def snap() -> tuple[float, tuple[float, float], tuple[float, float], int, int]:
        return (time.perf_counter(), cpu_of(pid), cpu_of(os.getpid()),
                sum(d.reader.good for d in drivers), sum(d.reader.wrong for d in drivers))

    start = snap()
    for d in drivers:
        d.send()
    try:
        await asyncio.wait_for(asyncio.shield(done), WARM)
        first = start  # ran out during the warm-up: count from the first request
    except TimeoutError:
        first = snap()
        try:
            await asyncio.wait_for(asyncio.shield(done), seconds)
        except TimeoutError:
            pass
    last = snap()
    for d in drivers:
        d.stop = True
        if d.transport is not None:
            d.transport.close()
    elapsed = last[0] - first[0]
    good = last[3] - first[3]
    return Run(good / elapsed, good, last[4] - first[4], elapsed, last[1][0] - first[1][0],
               last[1][1] - first[1][1], last[2][0] - first[2][0], last[2][1] - first[2][1], done.done())


def floors(frags: dict[str, list[tuple[int, int, int, int]]], n: int = 200) -> dict[str, float]:
    """CPU seconds of OpenSSL work one sealed answer needs, per auth (this thread's CPU time,
    so another process on CPU 0 does not count; the best of 5 x ``n`` answers), in process with
    one-shot ``hmac.digest`` and reused ``cryptography`` contexts over each fragment's body
    (frag_length - 24-byte response header - 8-byte sec_trailer - auth_length):
    NTLM: HMAC-MD5 over the body + RC4 of the body and of the 8-byte checksum (MS-NLMP 3.4.4.2);
    Kerberos AES256: HMAC-SHA1 and AES-CBC (the bulk of AES-CTS, RFC 3962 section 5) over
    confounder + body + token header (RFC 4121 4.2.4)."""
    out: dict[str, float] = {}
    for auth, fr in frags.items():
        bodies = [os.urandom(length - 24 - 8 - auth_len) for _p, _f, length, auth_len in fr]
        out[auth] = _timed(_aes_floor(bodies) if auth == "kerberos" else _rc4_floor(bodies), n)
    return out


def _rc4_floor(bodies: list[bytes]) -> Callable[[], None]:
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
    from cryptography.hazmat.primitives.ciphers import Cipher

    key = os.urandom(16)
    rc4 = Cipher(ARC4(key), mode=None).encryptor()

    def one() -> None:
        for b in bodies:
            hmac.digest(key, b, "md5")
            rc4.update(b)
            rc4.update(b[:8])
    return one


def _aes_floor(bodies: list[bytes]) -> Callable[[], None]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = os.urandom(32)
    aes = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    padded = [b + bytes(32 + -len(b) % 16) for b in bodies]  # + confounder + header, whole blocks

    def one() -> None:
        for p in padded:
            hmac.digest(key[:16], p, "sha1")
            aes.update(p)
    return one


def _timed(fn: Callable[[], None], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        best = min(best, (time.thread_time() - t0) / n)
    return best


def service_ticket(kdc: int) -> dict[str, Any]:
    """A TGT then a ticket for host/gc01 from the cluster's KDC, both by impacket."""
    from fakegc.client.kerberos import get_tgs, get_tgt

    tgt, cipher, _old, key = get_tgt(USER, PASSWORD, REALM, "127.0.0.1", kdc)
    tgs, cipher, _old, key = get_tgs("host/gc01.contoso.test", REALM, "127.0.0.1", kdc, tgt, cipher, key)
    return {"KDC_REP": tgs, "cipher": cipher, "sessionKey": key}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--auth", choices=("ntlm", "kerberos", "both"), default="both")
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("--max-calls", type=int, default=20000,
                    help="captured requests per connection and run, at most (default 20000)")
    ap.add_argument("--prep", type=float, default=4.0,
                    help="seconds of request capture per run, at most (default 4)")
    ap.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 1,
                    help="processes capturing requests before a window (default: one per CPU)")
    args = ap.parse_args()
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    from benchmarks.peers import fakegc_serve
    from benchmarks.stats import interleaved, load
    from fakegc.runner import new_event_loop

    auths = ["ntlm", "kerberos"] if args.auth == "both" else [args.auth]
    levels = {"PKT_CONNECT": RPC_C_AUTHN_LEVEL_CONNECT, "PKT_PRIVACY": RPC_C_AUTHN_LEVEL_PKT_PRIVACY}
    names = [(a, lv) for a in auths for lv in levels]
    runs: dict[tuple[str, str], list[Run]] = {n: [] for n in names}
    sealed: dict[str, list[tuple[int, int, int, int]]] = {}
    prep: list[float] = []
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    loop = new_event_loop()
    with fakegc_serve(1, CONFIG) as (pid, doc):
        port = int(doc["actors"]["gc01"]["nspi"])
        tgs = service_ticket(int(doc["kdc"]["tcp"])) if "kerberos" in auths else None
        etype = tgs["sessionKey"].enctype if tgs else None
        for _r, name in interleaved(names, args.rounds):
            auth, level = name
            last = runs[name][-1].rate * 1.2 if runs[name] else GUESS[level] * 1.5
            n = min(args.max_calls, int(last * (args.seconds + WARM) / args.connections) + 10)
            t0 = time.perf_counter()
            conns = [connect(port, auth, levels[level], tgs) for _ in range(args.connections)]
            capture_all(conns, n, args.workers, args.prep)
            prep.append(time.perf_counter() - t0)
            if level == "PKT_PRIVACY":
                sealed[auth] = conns[0].frags
            runs[name].append(loop.run_until_complete(window(conns, args.seconds, pid)))
            for c in conns:
                c.transport.get_socket().close()
    loop.close()
    _report(args, names, runs, sealed, etype, prep, load())


def _saturated(run: Run) -> bool:
    """The server was on CPU 1 at least 90 % of the window: the rate is the server's."""
    return run.server_cpu >= 0.9 * run.seconds


def _report(args: argparse.Namespace, names: list[tuple[str, str]], runs: dict[tuple[str, str], list[Run]],
            sealed: dict[str, list[tuple[int, int, int, int]]], etype: int | None, prep: list[float],
            load_line: str) -> None:
    from benchmarks.stats import ratio_spread, spread

    print(f"NspiQueryRows 50x8, fakegc serve as shipped (journal on) on CPU 1; generator on CPU 0: "
          f"impacket-captured requests replayed on {args.connections} connections x 1 in flight; "
          f"{args.seconds:g} s a run, median [range] of {args.rounds} interleaved rounds; {load_line}")
    label = {"ntlm": "NTLM", "kerberos": f"Kerberos etype {etype}"}
    print(f"  {'':<30}{'calls/s':>20} {'server CPU %':>14} {'waited %':>10} {'us/call':>14} "
          f"{'generator %':>14} {'waited %':>10} {'window s':>9}")
    for name in names:
        rs = runs[name]
        print(f"  {label[name[0]] + ' ' + name[1]:<30}{spread([r.rate for r in rs]):>20} "
              f"{spread([100 * r.server_cpu / r.seconds for r in rs]):>14} "
              f"{spread([100 * r.server_wait / r.seconds for r in rs]):>10} "
              f"{spread([1e6 * r.server_cpu / max(r.good, 1) for r in rs]):>14} "
              f"{spread([100 * r.gen_cpu / r.seconds for r in rs]):>14} "
              f"{spread([100 * r.gen_wait / r.seconds for r in rs]):>10} "
              f"{spread([r.seconds for r in rs], '.1f'):>9}")
    for auth in dict(names):
        priv, clear = runs[(auth, "PKT_PRIVACY")], runs[(auth, "PKT_CONNECT")]
        cost = ratio_spread([r.server_cpu / max(r.good, 1) for r in clear],
                            [r.server_cpu / max(r.good, 1) for r in priv])
        both = [(p, c) for p, c in zip(priv, clear) if _saturated(p) and _saturated(c)]
        print(f"  {label[auth]}: rate PRIVACY / CONNECT {ratio_spread([r.rate for r in priv], [r.rate for r in clear])} "
              f"(target >= 0.5); in the {len(both)} rounds with both saturated "
              f"{ratio_spread([p.rate for p, _ in both], [c.rate for _, c in both])}; "
              f"server CPU per call CONNECT / PRIVACY {cost}")
    floor = floors(sealed)
    for auth, fr in sealed.items():
        what = "AES-CBC + HMAC-SHA1" if auth == "kerberos" else "HMAC-MD5 + RC4"
        print(f"  OpenSSL floor of one sealed {label[auth]} answer ({sum(f[2] for f in fr)} B, {len(fr)} "
              f"fragments: {what} each), in process on CPU 0: {floor[auth] * 1e6:.0f} us")
    idle = [f"{label[a]} {lv}" for a, lv in names for r in runs[(a, lv)] if not _saturated(r)]
    if idle:
        print(f"  runs where the server was not saturated (under 90 % of CPU 1; their rates follow the other "
              f"processes on the box, see 'waited'): {len(idle)} ({', '.join(sorted(set(idle)))})")
    wrong = {f"{a} {lv}": sum(r.wrong for r in runs[(a, lv)]) for a, lv in names}
    cut = sum(r.cut for rs in runs.values() for r in rs)
    print(f"  answers counted: {sum(r.good for rs in runs.values() for r in rs)} (every fragment a response "
          f"to the call, size as the verified first answer); wrong: {sum(wrong.values())}; runs ended early "
          f"(a connection ran out of captured requests; rate = calls / window s): {cut}; "
          f"impacket bind + capture {spread(prep, '.1f')} s a run")
    if any(wrong.values()):
        sys.exit(f"<<< wrong answers (fault, other size, lost connection): {wrong}; these figures are not answers")


if __name__ == "__main__":
    main()

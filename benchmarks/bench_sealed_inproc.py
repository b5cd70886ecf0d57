"""The server's whole per-call path in process, sealed against clear, without the kernel (#19.6).

    .venv/bin/python benchmarks/bench_sealed_inproc.py [-n 3000] [-r 6] [--tree PATH]

A real ``RpcServer`` (NTLM, call journal off, as bench_sealing.py) answers impacket's bind,
NTLM legs and NspiBind at PKT_CONNECT and at PKT_PRIVACY over loopback.  impacket then seals
``-n`` NspiQueryRows 50x8 requests per connection ahead of time (its own send path, captured
instead of sent: sequence numbers and the RC4 stream run on as on the wire), and the server
connection's ``data_received`` is fed them directly with a transport that drops the answer.
What is timed is the server thread's CPU per call (``time.thread_time``): framing, request
verify + unseal, NSPI, encoding, fragmenting and protecting the 26,516-byte answer: all of
the server's own work and none of the kernel's.  Levels alternate in A-B-B-A rounds.

The sealed minus the clear figure is what sealing costs the process; bench_protect.py splits
it into protect_response, request verify and the OpenSSL floor.  ``--tree`` runs another
checkout's server code (e.g. a worktree of main) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _captured(port: int, level: int, n: int) -> tuple[Any, list[bytes]]:
    """An impacket connection bound at ``level`` and ``n`` sealed requests it would send next."""
    from impacket.dcerpc.v5 import nspi, transport

    from benchmarks.nspi_requests import answer_status, stubs

    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    dce = t.get_dce_rpc()
    dce.set_auth_level(level)
    dce.connect()
    dce.bind(nspi.MSRPC_UUID_NSPI)
    handle = nspi.hNspiBind(dce)["contextHandle"]
    request = stubs(handle.getData())["NspiQueryRows 50x8"]

    class Raw:  # a pre-encoded stub under impacket's call(): getData() and opnum only
        opnum = 3

        def getData(self) -> bytes:
            return request

    dce.call(3, Raw())
    if answer_status(dce.recv()) != 0:  # MS-OXNSPI section 6: the IDL's return value
        raise SystemExit("NspiQueryRows did not answer 0 over the wire")
    sent: list[bytes] = []
    wire = dce.get_rpc_transport()
    send = wire.send
    wire.send = lambda data, forceWriteAndx=0, forceRecv=0: sent.append(data)
    for _ in range(n):
        dce.call(3, Raw())
    wire.send = send
    return wire.get_socket(), sent


class _Drop:
    """A transport that counts and drops what the server writes."""

    writes = 0
    last = b""

    def write(self, data: bytes | bytearray) -> None:
        _Drop.writes += 1
        _Drop.last = bytes(data[:4])

    def is_closing(self) -> bool:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="requests per level")
    ap.add_argument("-r", "--rounds", type=int, default=6)
    ap.add_argument("--tree", help="import fakegc from this checkout instead")
    args = ap.parse_args()
    if args.tree:
        sys.path.insert(0, os.path.abspath(args.tree))
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    from benchmarks.stats import interleaved, load, spread
    from fakegc.directory import loader
    from fakegc.journal import Journal
    from fakegc.nspi import NSPI, StaticGc
    from fakegc.rpc.auth.ntlm import NtlmProvider
    from fakegc.rpc.auth.simple import SimpleCredentials
    from fakegc.rpc.server import RpcServer
    from fakegc.runner import new_event_loop

    loop = new_event_loop()
    directory = loader.load_default()
    server = RpcServer("gc01", [NSPI], actor=StaticGc(directory), journal=Journal(maxlen=1000),
                       providers=[NtlmProvider(SimpleCredentials(dict(directory.accounts())))],
                       journal_calls=False)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    levels = {"PKT_CONNECT": RPC_C_AUTHN_LEVEL_CONNECT, "PKT_PRIVACY": RPC_C_AUTHN_LEVEL_PKT_PRIVACY}
    conns: dict[str, tuple[Any, list[bytes], Any]] = {}
    for name, level in levels.items():
        before = set(server._connections)
        sock, requests = _captured(server.port, level, args.n)
        (conn,) = set(server._connections) - before
        conns[name] = (conn, requests, sock)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    for conn, _, _ in conns.values():
        conn.transport = _Drop()
    per = args.n // args.rounds
    figures: dict[str, list[float]] = {name: [] for name in levels}
    for r, name in interleaved(list(levels), args.rounds):
        conn, requests, _ = conns[name]
        chunk = requests[r * per:(r + 1) * per]
        t0 = time.thread_time()
        for pdu in chunk:
            conn.data_received(pdu)
        figures[name].append((time.thread_time() - t0) / len(chunk) * 1e6)
        if _Drop.last[:3] != b"\x05\x00\x02":  # C706 12.6.4.10: a response PDU, not a fault
            raise SystemExit(f"{name}: the server answered {_Drop.last.hex()}, not a response")
    for _, _, sock in conns.values():
        sock.close()
    import fakegc

    print(f"NspiQueryRows 50x8 through the server's data_received, no kernel: CPU us per call, "
          f"median [range] of {args.rounds} A-B-B-A rounds of {per} calls; {load()}")
    print(f"  server code: {os.path.dirname(os.path.dirname(fakegc.__file__))}")
    for name in levels:
        print(f"  {name:<12} {spread(figures[name], '.1f'):>20}")
    extra = sorted(figures["PKT_PRIVACY"])[len(figures["PKT_PRIVACY"]) // 2] - \
        sorted(figures["PKT_CONNECT"])[len(figures["PKT_CONNECT"]) // 2]
    print(f"  sealing costs the process {extra:.1f} us a call")


if __name__ == "__main__":
    main()

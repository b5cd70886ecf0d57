"""A small DCE/RPC load generator: N connections, W calls in flight each, fixed duration.

Used by the benchmark scripts against fakegc and against the peers (Samba's
endpoint mapper) so both face the same client.  Requests are pre-encoded; the
generator reads only PDU headers and, on a call's last fragment, the return value that
closes the stub (the IDL's status, MS-RPCE 2.2.2.3 / MS-OXNSPI section 6), so its own cost
stays low.  Only answers with the expected status count towards the rate; fault PDUs and
answers with another status are counted apart (``faults``, ``bad_status``) and the scripts
print them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import struct
import time
from typing import Any

from fakegc.runner import new_event_loop
from fakegc.testing.rawrpc import NDR20, RawRpc
from fakegc.wire import pdu as P


class _Client(asyncio.Protocol):
    def __init__(self, request: bytes, window: int, done: asyncio.Future[None], expect: int | None = 0) -> None:
        self.request = request
        self.window = window
        self.buf = bytearray()
        self.count = 0  # answers with the expected status
        self.faults = 0
        self.bad_status = 0
        self.expect = expect
        self.transport: asyncio.Transport | None = None
        self.bound = False
        self.done = done
        self.stop = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        buf = self.buf
        sent = 0
        while len(buf) >= 16:
            n = buf[8] | (buf[9] << 8)
            if len(buf) < n:
                break
            ptype = buf[2]
            last = buf[3] & P.PFC.LAST_FRAG
            auth = buf[10] | (buf[11] << 8)
            end = n - (auth + 8 + buf[n - auth - 6] if auth else 0)  # before auth pad + sec_trailer
            status = int.from_bytes(buf[end - 4:end], "little") if end >= 28 else -1
            del buf[:n]
            if not self.bound:
                self.bound = True
                sent += self.window
                continue
            if not last:
                continue  # a call completes with its last fragment
            if ptype == P.PTYPE.FAULT:
                self.faults += 1
            elif ptype != P.PTYPE.RESPONSE or (self.expect is not None and status != self.expect):
                self.bad_status += 1
            else:
                self.count += 1
            if not self.stop:
                sent += 1
        if sent and self.transport is not None:
            self.transport.write(self.request * sent)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def run(host: str, port: int, abstract: tuple[Any, ...], opnum: int, stub: bytes, connections: int,
              window: int, seconds: float, expect: int | None = 0) -> dict[str, float]:
    """Drive the load and return {'calls', 'seconds', 'rate', 'faults', 'bad_status'}.

    ``calls`` and ``rate`` count only answers whose closing status is ``expect`` (None:
    any response PDU); faults and other statuses seen in the timed window are counted apart.
    """
    return await run_group(host, port, abstract, opnum, stub, connections, window, seconds, 0, expect)


async def run_group(host: str, port: int, abstract: tuple[Any, ...], opnum: int, stub: bytes, connections: int,
                    window: int, seconds: float, group: int, expect: int | None = 0) -> dict[str, float]:
    """:func:`run` with every connection joining association group ``group``."""
    loop = asyncio.get_running_loop()
    request = RawRpc.request_pdu(7, 0, opnum, stub)
    bind = RawRpc.bind_pdu([(0, abstract, [NDR20])], assoc_group=group)
    clients = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        _t, proto = await loop.create_connection(functools.partial(_Client, request, window, done, expect), host, port)
        proto.transport.write(bind)  # type: ignore[union-attr]
        clients.append(proto)
    await asyncio.sleep(0.2)  # warm-up
    start_counts = sum(c.count for c in clients)
    start_bad = sum(c.faults + c.bad_status for c in clients)
    start_faults = sum(c.faults for c in clients)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    calls = sum(c.count for c in clients) - start_counts
    faults = sum(c.faults for c in clients) - start_faults
    bad = sum(c.faults + c.bad_status for c in clients) - start_bad - faults
    for c in clients:
        c.stop = True
        c.transport.close()  # type: ignore[union-attr]
    return {"calls": calls, "seconds": elapsed, "rate": calls / elapsed, "faults": faults, "bad_status": bad}


def ept_map_stub(iface: tuple[Any, ...], transfer: tuple[Any, ...] = NDR20) -> bytes:
    """An ept_map request stub (NULL object, the interface's tower, max_towers 4)."""
    from fakegc.rpc.epm import _floor

    tower = (struct.pack("<H", 5)
             + _floor(b"\x0d" + iface[0].bytes_le + struct.pack("<H", iface[1]), struct.pack("<H", iface[2]))
             + _floor(b"\x0d" + transfer[0].bytes_le + struct.pack("<H", transfer[1]), b"\x00\x00")
             + _floor(b"\x0b", b"\x00\x00") + _floor(b"\x07", b"\x00\x00")
             + _floor(b"\x09", b"\x00\x00\x00\x00"))
    return (struct.pack("<I", 0) + struct.pack("<III", 0x20000, len(tower), len(tower)) + tower
            + b"\x00" * (-len(tower) % 4) + b"\x00" * 20 + struct.pack("<I", 4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-w", "--window", type=int, default=16)
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    args = ap.parse_args()
    from fakegc.rpc.epm import EPM
    from fakegc.rpc.registry import Interface

    nspi = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0))
    loop = new_event_loop()
    res = loop.run_until_complete(run(args.host, args.port, EPM.syntax, 3, ept_map_stub(nspi.syntax),
                                      args.connections, args.window, args.seconds))
    print(res)


if __name__ == "__main__":
    main()

"""The RPC engine in the test's own loop: listening, cutting, virtual connections, groups.

The engine is asyncio; these tests run it in pytest-asyncio's loop and talk to it with
asyncio streams (no background thread, no sleeps).  Oracles: MS-RPCE 3.3.1.5.2 / C706
§12.6.4 (a bind_ack answers a bind; a bind naming an unknown association group is refused
with bind_nak, MS-RPCE 3.3.1.5.3), C706 §9.5 (fault status 0x1C00001A
nca_s_fault_context_mismatch for an unknown context handle) and the OS's TCP stack
(a closed listener refuses: ECONNREFUSED; a cut connection reads EOF).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fakegc.codes import RpcStatus
from fakegc.journal import Journal
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.auth.simple import SimpleCredentials
from fakegc.rpc.server import RpcServer
from fakegc.testing.echo import ECHO
from fakegc.testing.rawrpc import NDR20, RawRpc, Reply
from fakegc.wire import pdu as P

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")]


@pytest.fixture
async def server() -> AsyncIterator[RpcServer]:
    srv = RpcServer("gc01", [ECHO], journal=Journal(),
                    providers=[NtlmProvider(SimpleCredentials({"alice": "Passw0rd!"}))],
                    allow_anonymous=True)
    await srv.start()
    yield srv
    await srv.close()
    assert not srv.errors, srv.errors


class Conn:
    """An asyncio stream client speaking hand-built PDUs (RawRpc's builders)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def recv(self) -> Reply:
        head = await self.reader.readexactly(16)
        hdr = P.parse_header(head)
        raw = head + await self.reader.readexactly(hdr.frag_length - 16)
        return Reply(raw, hdr, raw[16:])

    async def bind(self, assoc_group: int = 0) -> Reply:
        self.writer.write(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])], assoc_group=assoc_group))
        return await self.recv()

    async def call(self, opnum: int, stub: bytes, call_id: int = 2) -> Reply:
        self.writer.write(RawRpc.request_pdu(call_id, 0, opnum, stub))
        return await self.recv()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def healthy(port: int) -> None:
    c = await Conn.open(port)
    assert (await c.bind()).ptype == P.PTYPE.BIND_ACK
    reply = await c.call(0, b"ping")
    assert reply.ptype == P.PTYPE.RESPONSE and reply.stub == b"ping"
    await c.close()


async def test_stop_and_resume_listening_keeps_the_port(server):
    port = server.port
    await server.stop_listening()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await server.resume_listening()
    assert server.port == port
    await healthy(port)


async def test_cut_connections_closes_only_open_ones(server):
    c = await Conn.open(server.port)
    assert (await c.bind()).ptype == P.PTYPE.BIND_ACK
    assert server.cut_connections("shutdown") == 1
    assert await c.reader.read() == b""
    await c.close()
    await healthy(server.port)


async def test_reset_associations_stales_groups_and_handles(server):
    a = await Conn.open(server.port)
    group = (await a.bind()).bind_ack().assoc_group
    handle = (await a.call(2, b"")).stub
    server.reset_associations()
    assert (await a.call(3, handle, call_id=3)).status == RpcStatus.nca_s_fault_context_mismatch
    b = await Conn.open(server.port)
    assert (await b.bind(assoc_group=group)).ptype == P.PTYPE.BIND_NAK
    await a.close()
    await b.close()


async def test_virtual_connection_without_tcp(server):
    """open_virtual serves a connection handed over by another front (RPC over HTTP)."""

    class Pipe(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.out = bytearray()
            self.closed = False

        def write(self, data: bytes) -> None:
            self.out += data

        def close(self) -> None:
            self.closed = True

        def abort(self) -> None:
            self.closed = True

        def is_closing(self) -> bool:
            return self.closed

        def get_extra_info(self, name, default=None):
            return ("virtual", 0) if name == "peername" else default

    pipe = Pipe()
    proto = server.open_virtual(pipe)
    proto.data_received(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])]))
    proto.data_received(RawRpc.request_pdu(2, 0, 0, b"via http"))
    proto.connection_lost(None)
    out = bytes(pipe.out)
    first_len = out[8] | out[9] << 8
    assert out[2] == P.PTYPE.BIND_ACK and out[first_len + 2] == P.PTYPE.RESPONSE
    assert out.endswith(b"via http")


async def test_the_journal_sees_the_bind_as_it_happens(server):
    bound = asyncio.ensure_future(server.journal.wait_for("bind_ack", timeout=5))
    c = await Conn.open(server.port)
    await c.bind()
    entry = await bound
    assert entry.actor == "gc01"
    await c.close()

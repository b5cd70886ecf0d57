"""Asyncio connection-oriented DCE/RPC server for ``ncacn_ip_tcp`` (C706 §12, MS-RPCE 3.3).

One :class:`RpcServer` listens on one port and serves the interfaces it was built
with.  This module keeps the connection and the transport: framing of PDUs off
the byte stream, the per-PDU-type dispatch, connection limits and the idle
timeout, the listener's lifecycle and journaling.  The protocol work lives in

* :mod:`fakegc.rpc.bind` — bind / alter_context negotiation (MS-RPCE 3.3.1.5.3),
  association groups (3.3.1.5.6), bind-time feature negotiation;
* :mod:`fakegc.rpc.auth.legs` — the authentication legs and per-PDU protection;
* :mod:`fakegc.rpc.call` — request reassembly, dispatch, responses and faults.

Over a limit only the offending connection is answered with an error or closed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import struct
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fakegc.codes import RpcStatus
from fakegc.errorlog import ErrorLog
from fakegc.journal import Journal
from fakegc.rpc.auth.base import SecurityProvider
from fakegc.rpc.auth.legs import auth3_leg
from fakegc.rpc.bind import Association, negotiate
from fakegc.rpc.call import Calls
from fakegc.rpc.faults import Action
from fakegc.rpc.limits import (
    FEATURE_KEEP_CONNECTION_ON_ORPHAN,
    FEATURE_SECURITY_CONTEXT_MULTIPLEXING,
    RpcLimits,
)
from fakegc.rpc.registry import AssociationGroup, CallContext, Interface
from fakegc.sources import SourceCap, default_cap
from fakegc.wire import drep
from fakegc.wire import pdu as P

__all__ = [
    "FEATURE_KEEP_CONNECTION_ON_ORPHAN",
    "FEATURE_SECURITY_CONTEXT_MULTIPLEXING",
    "RpcLimits",
    "RpcServer",
]


class _Connection(asyncio.Protocol):
    """One TCP (or virtual) connection: framing and dispatch by PDU type."""

    def __init__(self, server: RpcServer) -> None:
        self.server = server
        self.id = next(server._conn_ids)
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.assoc = Association(max_xmit=server.limits.max_frag)
        self.calls = Calls(self)
        self.closed = False
        self.peer: Any = None
        self.last_seen = 0.0
        self.generation = server._generation
        self.virtual = False
        self.release: Callable[[], None] | None = None

    @property
    def env(self) -> RpcServer:
        """The server this connection serves (the calls' environment)."""
        return self.server

    def record(self, kind: str, **fields: Any) -> None:
        """One journal entry for this connection (straight to the journal: a hot path)."""
        srv = self.server
        srv.journal.record(srv.name, kind, self.id, **fields)

    def internal_error(self, exc: BaseException) -> None:
        """Keep and journal an unexpected exception; the server keeps serving."""
        self.server._internal_error(self.id, exc)

    # -- asyncio plumbing ----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        srv = self.server
        self.last_seen = srv._loop_time()
        srv._connections.add(self)
        self.record("connect", peer=_peer(self.peer))
        if len(srv._connections) > srv.limits.max_connections:
            self.record("protocol_error", error="max_connections")
            self.abort()
            return
        if srv.source_cap is not None and not self.virtual:
            self.release = srv.source_cap.admit(self.peer)
            if self.release is None:  # issue #18: one source cannot take every slot
                self.record("protocol_error", error="per-source connection cap")
                self.abort()
                return
        if srv.on_connect is not None:
            action = srv.on_connect(self.id, self.peer)
            if action is not None and action.kind in ("refuse", "reset"):
                self.record("rule", action=action.kind, rule=action.rule)
                self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        srv = self.server
        srv._connections.discard(self)
        self.calls.drop_all()
        if self.release is not None:
            self.release()
            self.release = None
        group = self.assoc.group
        if group is not None:
            group.connections -= 1
            if group.connections <= 0 and srv._groups.get(group.id) is group:
                del srv._groups[group.id]
        self.record("disconnect", reason=repr(exc) if exc else "closed")

    def abort(self) -> None:
        """Reset the connection now (RST where the platform allows)."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def close(self) -> None:
        """Close after flushing what was written."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def write(self, data: bytes | bytearray, pdus: int = 1) -> None:
        """Send ``pdus`` PDUs' bytes unless the connection is closed."""
        if self.transport is not None and not self.closed:
            self.server.stats[3] += pdus
            self.transport.write(data)

    def _frame_error(self, buf: bytearray, frag_len: int) -> str | None:
        """Why the PDU header at the front of ``buf`` is refused (C706 §12.6.3.1), or None."""
        if buf[0] != 5 or buf[1] > 1 or frag_len < 16:
            return "bad header"
        if not drep.supported(buf):
            return "unsupported data representation"
        if frag_len > self.assoc.max_recv and self.assoc.bound and buf[2] == P.PTYPE.REQUEST:
            return f"fragment of {frag_len} bytes over the negotiated {self.assoc.max_recv}"
        return None

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        buf = self.buf
        buf += data
        while len(buf) >= 16 and not self.closed:
            frag_len = drep.frag_length(buf)
            error = self._frame_error(buf, frag_len)
            if error is not None:
                # A header we cannot trust gets call_id 0; otherwise the PDU's own.
                call_id = 0 if error == "bad header" else drep.call_id(buf)
                self.fatal(call_id, RpcStatus.nca_s_proto_error, error)
                return
            if len(buf) < frag_len:
                return
            raw = bytes(buf[:frag_len])
            del buf[:frag_len]
            self.last_seen = self.server._loop_time()  # complete PDUs only: a trickle idles
            self.server.stats[2] += 1
            # C706 §12.6.3.1 "receiver makes it right": big-endian PDUs are parsed in
            # little-endian form; the stub keeps the sender's order (see fakegc.wire.drep).
            pdu = drep.to_little_endian(raw) if drep.is_big_endian(raw) else raw
            try:
                self._dispatch(pdu, raw)
            except P.PduError as exc:
                self.fatal(_u32(pdu, 12), RpcStatus.nca_s_proto_error, str(exc))
            except Exception as exc:  # noqa: BLE001 - one connection never takes the server down
                self.internal_error(exc)
                self.fatal(_u32(pdu, 12), RpcStatus.nca_s_proto_error, f"internal: {exc!r}")

    # -- dispatch ------------------------------------------------------------
    def _dispatch(self, pdu: bytes, raw: bytes) -> None:
        ptype = pdu[2]
        if ptype == P.PTYPE.REQUEST:
            self.calls.on_request(pdu, raw)
        elif ptype in (P.PTYPE.BIND, P.PTYPE.ALTER_CONTEXT):
            reply = negotiate(pdu, ptype == P.PTYPE.ALTER_CONTEXT, self.assoc, self.server,
                              self.id, self.record)
            self.write(reply.pdu)
            if reply.close:
                self.close()
        elif ptype == P.PTYPE.AUTH3:
            auth3_leg(self.assoc.auth, pdu, self.record)
        elif ptype == P.PTYPE.ORPHANED:
            self.calls.orphaned(_u32(pdu, 12))
        elif ptype == P.PTYPE.CO_CANCEL:
            self.record("co_cancel", call_id=_u32(pdu, 12))
        elif ptype == P.PTYPE.SHUTDOWN:
            self.record("protocol_error", error="shutdown PDU from client ignored")
        else:
            self.fatal(_u32(pdu, 12), RpcStatus.nca_s_proto_error, f"unexpected PDU type {ptype}")

    def fatal(self, call_id: int, status: int, reason: str) -> None:
        """Answer a fault and close this connection only."""
        self.record("protocol_error", call_id=call_id, status=status, error=reason)
        self.write(P.pack_fault(call_id, 0, status, did_not_execute=True))
        self.close()


def _u32(data: bytes | bytearray, off: int) -> int:
    if len(data) < off + 4:
        return 0
    return int(struct.unpack_from("<I", data, off)[0])


def _peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class RpcServer:
    """An ncacn_ip_tcp endpoint serving a set of interfaces (see docs/ARCHITECTURE.md)."""

    def __init__(
        self,
        name: str,
        interfaces: Sequence[Interface],
        *,
        actor: Any = None,
        journal: Journal | None = None,
        providers: dict[int, SecurityProvider] | Iterable[SecurityProvider] | None = None,
        allow_anonymous: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RpcLimits | None = None,
        journal_calls: bool = True,
    ) -> None:
        self.name = name
        self.actor = actor
        self.journal = journal if journal is not None else Journal()
        self.host = host
        self.port = port
        self.limits = limits or RpcLimits()
        self.allow_anonymous = allow_anonymous
        if providers is None:
            self.providers: dict[int, SecurityProvider] = {}
        elif isinstance(providers, dict):
            self.providers = dict(providers)
        else:
            self.providers = {p.auth_type: p for p in providers}
        self.interfaces = list(interfaces)
        self._interfaces: dict[tuple[Any, int], Interface] = {}
        for iface in self.interfaces:
            self.add_interface(iface)
        self.injector: Callable[[CallContext], Action | None] | None = None
        self.on_connect: Callable[[int, Any], Action | None] | None = None
        self.admission: Callable[[int, P.BindPdu], int | None] | None = None
        self.errors = ErrorLog()  # counters + last summaries, no tracebacks
        self.source_cap: SourceCap | None = default_cap()
        self.unauth_buffered: dict[str, int] = {}
        self._journal_calls = journal_calls
        #: rpc_mgmt_inq_stats counters (C706 Q.2.3; RPC_STATS_VECTOR in the Windows RPC
        #: reference): calls received, calls initiated (a server that never calls out
        #: keeps 0), PDUs received, PDUs sent.
        self.stats = [0, 0, 0, 0]
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._groups: dict[int, AssociationGroup] = {}
        self._group_ids = random.Random(os.urandom(8))
        self._conn_ids = itertools.count(1)
        self._generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle_task: asyncio.Task[None] | None = None

    def add_interface(self, iface: Interface) -> None:
        """Serve one more interface on this endpoint."""
        self._interfaces[(iface.uuid, iface.version[0])] = iface
        if iface not in self.interfaces:
            self.interfaces.append(iface)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> RpcServer:
        """Listen (port 0 → an ephemeral port, published in :attr:`port`)."""
        self._loop = asyncio.get_running_loop()
        await self._listen()
        self._idle_task = self._loop.create_task(self._idle_sweeper())
        self._record("state", None, state="listening", port=self.port)
        return self

    async def _listen(self) -> None:
        assert self._loop is not None
        self._server = await self._loop.create_server(
            lambda: _Connection(self), self.host, self.port, reuse_address=True, backlog=1024)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop_listening(self) -> None:
        """Close the listener: new TCP connections are refused; existing ones stay."""
        if self._server is not None:
            self._server.close()
            self._server = None
            self._record("state", None, state="not_listening", port=self.port)

    async def resume_listening(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            await self._listen()
            self._record("state", None, state="listening", port=self.port)

    def open_virtual(self, transport: asyncio.BaseTransport) -> asyncio.Protocol:
        """Serve a connection that does not come from this server's listener.

        ``transport`` needs ``write``, ``close``, ``abort``, ``is_closing`` and
        ``get_extra_info`` (an RPC-over-HTTP virtual connection, a test pipe).  Feed
        the returned protocol with ``data_received(bytes)`` and call
        ``connection_lost(None)`` when the outer connection ends.
        """
        conn = _Connection(self)
        conn.virtual = True  # its outer connection was admitted by the proxy's listener
        conn.connection_made(transport)
        return conn

    @property
    def listening(self) -> bool:
        """Whether the listener is open."""
        return self._server is not None

    def cut_connections(self, reason: str = "") -> int:
        """Abort every open connection now; returns how many were cut."""
        conns = list(self._connections)
        for conn in conns:
            conn.abort()
        self._record("state", None, state="connections_cut", count=len(conns), reason=reason)
        return len(conns)

    def reset_associations(self) -> None:
        """Forget association groups and their context handles (a server restart)."""
        for group in self._groups.values():
            group.handles.clear()
        self._groups.clear()
        self._generation += 1
        self._record("state", None, state="associations_reset")

    async def close(self) -> None:
        """Stop listening and close every connection."""
        await self.stop_listening()
        for conn in list(self._connections):
            conn.abort()
        if self._idle_task is not None:
            self._idle_task.cancel()
            self._idle_task = None


    # -- what bind and calls read (fakegc.rpc.bind.BindEnv, fakegc.rpc.call.CallEnv) ----
    @property
    def journal_calls(self) -> bool:
        """Whether requests and responses are journaled."""
        return self._journal_calls

    def find_interface(self, uuid: uuidlib.UUID, major: int) -> Interface | None:
        """The interface served for (uuid, major version), if any."""
        return self._interfaces.get((uuid, major))

    def find_group(self, gid: int) -> AssociationGroup | None:
        """A live association group by id."""
        return self._groups.get(gid)

    def new_group(self) -> AssociationGroup:
        """A fresh association group with an unused random id (registered at commit)."""
        while True:
            gid = self._group_ids.randrange(0x1000, 0xFFFFFFFF)
            if gid not in self._groups:
                return AssociationGroup(gid)

    def register_group(self, group: AssociationGroup) -> None:
        """Make ``group`` joinable by later binds."""
        self._groups[group.id] = group

    # -- internals ---------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Open connections."""
        return len(self._connections)

    def _loop_time(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    async def _idle_sweeper(self) -> None:
        timeout = self.limits.idle_timeout
        period = max(0.05, min(5.0, timeout / 4))
        while True:
            await asyncio.sleep(period)
            now = self._loop_time()
            for conn in list(self._connections):
                if now - conn.last_seen > timeout:
                    self._record("protocol_error", conn.id, error="idle timeout")
                    conn.close()

    def _record(self, kind: str, conn: int | None, **fields: Any) -> None:
        self.journal.record(self.name, kind, conn, **fields)

    def _internal_error(self, conn: int, exc: BaseException) -> None:
        record = self.errors.append(exc)  # a summary: no traceback or frames are kept
        self._record("protocol_error", conn, error=f"internal error: {record.summary}")

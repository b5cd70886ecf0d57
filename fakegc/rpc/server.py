"""Asyncio connection-oriented DCE/RPC server for ``ncacn_ip_tcp`` (C706 §12, MS-RPCE 3.3).

One :class:`RpcServer` listens on one port and serves the interfaces it was built
with.  Per connection (:class:`_Connection`, an asyncio Protocol — no streams, no
per-call tasks on the fast path) it implements:

* bind / alter_context negotiation as Windows answers it (MS-RPCE 3.3.1.5.3,
  DESIGN.md §10): one result per context, NDR accepted, NDR64 provider-rejected
  (reason 2), unknown interface (reason 1), bind-time feature negotiation
  (negotiate_ack with the granted bits), a second feature context → bind_nak,
  frag sizes clamped and rounded, secondary address = the port, header signing
  and PFC_CONC_MPX echoed;
* association groups spanning connections (MS-RPCE 3.3.1.5.6); an unknown non-zero
  group id → bind_nak and disconnect;
* request reassembly and response fragmentation at the negotiated sizes, call_id
  matching, interleaved (multiplexed) calls, orphaned / co_cancel handling;
* authentication through :mod:`fakegc.rpc.auth` providers at connect, integrity
  and privacy, the verification trailer (MS-RPCE 2.2.2.13);
* limits (fragment size, reassembled size, connections, calls in flight, idle
  timeout): over a limit only that connection is answered with an error/closed;
* journaling of every connection event, bind, request, answer and fault.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakegc.codes import RpcStatus
from fakegc.errorlog import ErrorLog, summarize
from fakegc.journal import Journal
from fakegc.rpc.auth.base import (
    LEVEL_CONNECT,
    LEVEL_INTEGRITY,
    LEVEL_NONE,
    LEVEL_PKT,
    LEVEL_PRIVACY,
    AuthError,
    SecurityContext,
    SecurityProvider,
)
from fakegc.rpc.faults import Action
from fakegc.rpc.guard import is_decode_failure
from fakegc.rpc.registry import (
    NDR20,
    AssociationGroup,
    AuthInfo,
    CallContext,
    Interface,
    RpcFault,
)
from fakegc.rpc import verification
from fakegc.wire import pdu as P

__all__ = ["RpcServer", "RpcLimits", "FEATURE_SECURITY_CONTEXT_MULTIPLEXING",
           "FEATURE_KEEP_CONNECTION_ON_ORPHAN"]

FEATURE_SECURITY_CONTEXT_MULTIPLEXING = 0x01
FEATURE_KEEP_CONNECTION_ON_ORPHAN = 0x02
_FEATURE_PREFIX = P.pack_syntax(None)  # placeholder, real prefix check below
_FEATURE_UUID_PREFIX = "6cb71c2c-9812-4540-"
RPC_S_SERVER_TOO_BUSY = 0x000006BB


@dataclass(slots=True)
class RpcLimits:
    """Per-server limits; each over-limit event hits only the offending connection."""

    max_frag: int = 5840  # upper bound of the negotiated fragment size
    min_frag: int = 2048  # lower bound of the negotiated fragment size (Windows)
    max_request: int = 4 * 1024 * 1024  # reassembled request stub
    max_connections: int = 20_000
    max_calls_in_flight: int = 64  # per connection: reassembling + delayed + dropped
    idle_timeout: float = 900.0  # seconds without a PDU before the server closes
    features: int = FEATURE_KEEP_CONNECTION_ON_ORPHAN  # bind-time features we grant


@dataclass(slots=True, eq=False)
class _PresContext:
    interface: Interface
    abstract_raw: bytes
    transfer_raw: bytes


@dataclass(slots=True, eq=False)
class _AuthCtx:
    context: SecurityContext
    auth_type: int
    level: int
    context_id: int
    failed: bool = False
    verified_once: bool = False


@dataclass(slots=True, eq=False)
class _Pending:
    call_id: int
    ctx_id: int
    opnum: int
    first: bytes
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    auth_ctx: _AuthCtx | None = None


class _Connection(asyncio.Protocol):
    """One TCP connection: framing, negotiation, dispatch."""

    def __init__(self, server: RpcServer) -> None:
        self.server = server
        self.id = next(server._conn_ids)
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.group: AssociationGroup | None = None
        self.bound = False
        self.contexts: dict[int, _PresContext] = {}
        self.auth: dict[int, _AuthCtx] = {}
        self.main_auth: _AuthCtx | None = None
        self.max_xmit = server.limits.max_frag
        self.max_recv = 65535
        self.header_sign = False
        self.features = 0
        self.pending: dict[int, _Pending] = {}
        self.in_flight = 0
        self.closed = False
        self.peer: Any = None
        self.last_seen = 0.0
        self.generation = server._generation

    # -- asyncio plumbing ----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        srv = self.server
        self.last_seen = srv._loop_time()
        srv._connections.add(self)
        srv._record("connect", self.id, peer=_peer(self.peer))
        if len(srv._connections) > srv.limits.max_connections:
            srv._record("protocol_error", self.id, error="max_connections")
            self.abort()
            return
        if srv.on_connect is not None:
            action = srv.on_connect(self.id, self.peer)
            if action is not None and action.kind in ("refuse", "reset"):
                srv._record("rule", self.id, action=action.kind, rule=action.rule)
                self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        srv = self.server
        srv._connections.discard(self)
        if self.group is not None:
            self.group.connections -= 1
            if self.group.connections <= 0 and srv._groups.get(self.group.id) is self.group:
                del srv._groups[self.group.id]
        srv._record("disconnect", self.id, reason=repr(exc) if exc else "closed")

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

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_seen = self.server._loop_time()
        buf = self.buf
        buf += data
        while len(buf) >= 16 and not self.closed:
            frag_len = buf[8] | (buf[9] << 8)
            if buf[0] != 5 or buf[1] > 1 or frag_len < 16:
                self._fatal(0, RpcStatus.nca_s_proto_error, "bad header", bytes(buf[:16]))
                return
            if buf[4] & 0xF0 != 0x10:
                self._fatal(0, RpcStatus.nca_s_proto_error, "unsupported data representation")
                return
            if frag_len > self.max_recv and self.bound and buf[2] == P.PTYPE.REQUEST:
                self._fatal(_u32(buf, 12), RpcStatus.nca_s_proto_error,
                            f"fragment of {frag_len} bytes over the negotiated {self.max_recv}")
                return
            if len(buf) < frag_len:
                return
            pdu = bytes(buf[:frag_len])
            del buf[:frag_len]
            try:
                self._dispatch(pdu)
            except P.PduError as exc:
                self._fatal(_u32(pdu, 12), RpcStatus.nca_s_proto_error, str(exc))
            except Exception as exc:  # never let one connection take the server down
                self.server._internal_error(self.id, exc)
                self._fatal(_u32(pdu, 12), RpcStatus.nca_s_proto_error, f"internal: {exc!r}")

    # -- dispatch ------------------------------------------------------------
    def _dispatch(self, pdu: bytes) -> None:
        ptype = pdu[2]
        if ptype == P.PTYPE.REQUEST:
            self._on_request(pdu)
        elif ptype == P.PTYPE.BIND:
            self._on_bind(pdu, alter=False)
        elif ptype == P.PTYPE.ALTER_CONTEXT:
            self._on_bind(pdu, alter=True)
        elif ptype == P.PTYPE.AUTH3:
            self._on_auth3(pdu)
        elif ptype == P.PTYPE.ORPHANED:
            call_id = _u32(pdu, 12)
            if self.pending.pop(call_id, None) is not None:
                self.in_flight -= 1
            self.server._record("orphaned", self.id, call_id=call_id)
        elif ptype == P.PTYPE.CO_CANCEL:
            self.server._record("co_cancel", self.id, call_id=_u32(pdu, 12))
        elif ptype == P.PTYPE.SHUTDOWN:
            self.server._record("protocol_error", self.id, error="shutdown PDU from client ignored")
        else:
            self._fatal(_u32(pdu, 12), RpcStatus.nca_s_proto_error, f"unexpected PDU type {ptype}")

    def _fatal(self, call_id: int, status: int, reason: str, raw: bytes = b"") -> None:
        """Answer a fault and close this connection only."""
        self.server._record("protocol_error", self.id, call_id=call_id, status=status,
                            error=reason)
        self.write(P.pack_fault(call_id, 0, status, did_not_execute=True))
        self.close()

    def _split_auth(self, pdu: bytes) -> tuple[P.SecTrailer | None, bytes, int]:
        """(sec_trailer, auth_value, offset of the sec_trailer) of a PDU."""
        auth_len = pdu[10] | (pdu[11] << 8)
        if not auth_len:
            return None, b"", len(pdu)
        off = len(pdu) - auth_len - 8
        if off < 16:
            raise P.PduError("auth_length larger than the PDU")
        trailer = P.parse_sec_trailer(pdu, off)
        return trailer, pdu[off + 8:], off

    # -- bind / alter_context (MS-RPCE 3.3.1.5.3, DESIGN.md §10) ---------------
    def _on_bind(self, pdu: bytes, alter: bool) -> None:
        srv = self.server
        hdr = P.parse_header(pdu)
        call_id = hdr.call_id
        trailer, token, auth_off = self._split_auth(pdu)
        body = P.parse_bind(pdu[16:auth_off])
        kind = "alter_context" if alter else "bind"
        srv._record(kind, self.id, call_id=call_id, assoc_group=body.assoc_group_id,
                    contexts=[(c.ctx_id, str(c.abstract[0]), f"{c.abstract[1]}.{c.abstract[2]}",
                               [str(t[0]) for t in c.transfers]) for c in body.contexts],
                    max_xmit=body.max_xmit_frag, max_recv=body.max_recv_frag,
                    flags=hdr.flags, auth_type=trailer.auth_type if trailer else 0,
                    auth_level=trailer.auth_level if trailer else 0)
        if not alter and self.bound:
            return self._nak(call_id, P.BINDNAK_REASON.NOT_SPECIFIED, "second bind on a connection")
        if alter and not self.bound:
            return self._nak(call_id, P.BINDNAK_REASON.NOT_SPECIFIED, "alter_context before bind")
        if hdr.vers != 5 or hdr.vers_minor > 1:
            return self._nak(call_id, P.BINDNAK_REASON.PROTOCOL_VERSION_NOT_SUPPORTED, "version")

        # association group
        if not alter:
            gid = body.assoc_group_id
            if gid == 0:
                group = srv._new_group()
            else:
                group = srv._groups.get(gid)
                if group is None:
                    return self._nak(call_id, P.BINDNAK_REASON.NOT_SPECIFIED,
                                     f"unknown association group 0x{gid:08x}")
            if srv.admission is not None:
                refusal = srv.admission(self.id, body)
                if refusal is not None:
                    return self._nak(call_id, refusal, "refused by the scenario")
        else:
            group = self.group
            assert group is not None

        # presentation contexts, one result each, in order
        results: list[P.ResultItem] = []
        saw_feature = False
        new_contexts: dict[int, _PresContext] = {}
        for elem in body.contexts:
            feature_bits = None
            for t in elem.transfers:
                if str(t[0]).startswith(_FEATURE_UUID_PREFIX):
                    feature_bits = int.from_bytes(t[0].bytes_le[8:16], "little")
            if feature_bits is not None:
                if saw_feature or self.features:
                    if not alter:
                        return self._nak(call_id, P.BINDNAK_REASON.NOT_SPECIFIED,
                                         "second bind-time feature negotiation context")
                    results.append(P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                                                P.RESULT.REASON_NOT_SPECIFIED, None))
                    continue
                saw_feature = True
                granted = feature_bits & srv.limits.features
                results.append(P.ResultItem(P.RESULT.NEGOTIATE_ACK, granted, None))
                self.features = granted | 0x8000_0000  # remember "negotiated"
                continue
            iface = srv._interfaces.get((elem.abstract[0], elem.abstract[1]))
            if iface is None or elem.abstract[2] > iface.version[1]:
                results.append(P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                                            P.RESULT.ABSTRACT_SYNTAX_NOT_SUPPORTED, None))
                continue
            chosen = None
            for t, raw in zip(elem.transfers, elem.raw_transfers):
                if t == NDR20:
                    chosen = raw
                    break
            if chosen is None:
                results.append(P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                                            P.RESULT.TRANSFER_SYNTAXES_NOT_SUPPORTED, None))
                continue
            existing = self.contexts.get(elem.ctx_id)
            if existing is not None and existing.interface is not iface:
                results.append(P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                                            P.RESULT.REASON_NOT_SPECIFIED, None))
                continue
            new_contexts[elem.ctx_id] = _PresContext(iface, P.pack_syntax(elem.abstract), chosen)
            results.append(P.ResultItem(P.RESULT.ACCEPTANCE, 0, NDR20))

        # authentication leg
        out_token: bytes | None = None
        auth_ctx: _AuthCtx | None = None
        if trailer is not None:
            auth_ctx = self.auth.get(trailer.context_id)
            if auth_ctx is None:
                provider = srv.providers.get(trailer.auth_type)
                if provider is None:
                    return self._nak(call_id, P.BINDNAK_REASON.AUTHENTICATION_TYPE_NOT_RECOGNIZED,
                                     f"auth type {trailer.auth_type} not supported")
                if trailer.auth_level not in (LEVEL_CONNECT, LEVEL_PKT, LEVEL_INTEGRITY,
                                              LEVEL_PRIVACY):
                    return self._nak(call_id, P.BINDNAK_REASON.NOT_SPECIFIED,
                                     f"auth level {trailer.auth_level} not supported")
                auth_ctx = _AuthCtx(provider.new_context(), trailer.auth_type,
                                    trailer.auth_level, trailer.context_id)
            elif auth_ctx.auth_type != trailer.auth_type or auth_ctx.level != trailer.auth_level:
                return self._alter_fault(call_id, RpcStatus.nca_s_proto_error,
                                         "auth type/level changed on a security context")
            if not auth_ctx.context.complete:
                try:
                    step = auth_ctx.context.step(token)
                except AuthError as exc:
                    srv._record("auth_failed", self.id, call_id=call_id, reason=exc.reason,
                                auth_type=trailer.auth_type)
                    if alter:
                        return self._alter_fault(call_id, RpcStatus.ACCESS_DENIED, exc.reason)
                    return self._nak(call_id, P.BINDNAK_REASON.INVALID_CHECKSUM, exc.reason)
                out_token = step.token
                if step.complete:
                    self._auth_done(auth_ctx, call_id)
            self.auth[trailer.context_id] = auth_ctx
            if self.main_auth is None:
                self.main_auth = auth_ctx

        # commit
        if not alter:
            assert group is not None
            self.group = group
            group.connections += 1
            self.bound = True
            if srv._groups.get(group.id) is None:
                srv._groups[group.id] = group
            c_xmit, c_recv = body.max_xmit_frag, body.max_recv_frag
            size = min(c_xmit, c_recv, srv.limits.max_frag)
            size = max(size, srv.limits.min_frag)
            size -= size % 8
            self.max_xmit = self.max_recv = size
            if hdr.flags & P.PFC.SUPPORT_HEADER_SIGN:
                self.header_sign = True
        self.contexts.update(new_contexts)

        flags = P.PFC.FIRST_FRAG | P.PFC.LAST_FRAG
        if hdr.flags & P.PFC.CONC_MPX:
            flags |= P.PFC.CONC_MPX
        if self.header_sign and not alter:
            flags |= P.PFC.SUPPORT_HEADER_SIGN
        sec_addr = b"" if alter else str(srv.port).encode() + b"\x00"
        ack = P.pack_bind_ack(self.max_xmit, self.max_recv, group.id if group else 0,
                              sec_addr, results)
        ptype = P.PTYPE.ALTER_CONTEXT_RESP if alter else P.PTYPE.BIND_ACK
        auth_part = b""
        if trailer is not None and out_token is not None:
            pad = (-(16 + len(ack))) % 4
            auth_part = b"\x00" * pad + P.pack_sec_trailer(
                trailer.auth_type, trailer.auth_level, pad, trailer.context_id) + out_token
        frag_len = 16 + len(ack) + len(auth_part)
        self.write(P.pack_header(ptype, flags, frag_len, len(out_token or b"") if auth_part else 0,
                                 call_id) + ack + auth_part)
        srv._record("bind_ack" if not alter else "alter_context_resp", self.id, call_id=call_id,
                    assoc_group=group.id if group else 0, max_frag=self.max_xmit,
                    results=[(r.result, r.reason) for r in results],
                    header_sign=self.header_sign, auth_token=out_token is not None)

    def _auth_done(self, auth_ctx: _AuthCtx, call_id: int) -> None:
        ctx = auth_ctx.context
        self.server._record("auth", self.id, call_id=call_id, mech=ctx.mech, user=ctx.user,
                            domain=ctx.domain, level=auth_ctx.level, auth_type=auth_ctx.auth_type)

    def _nak(self, call_id: int, reason: int, why: str) -> None:
        self.server._record("bind_nak", self.id, call_id=call_id, reason=reason, error=why)
        body = P.pack_bind_nak(reason)
        self.write(P.pack_header(P.PTYPE.BIND_NAK, P.PFC.FIRST_FRAG | P.PFC.LAST_FRAG,
                                 16 + len(body), 0, call_id) + body)
        self.close()

    def _alter_fault(self, call_id: int, status: int, why: str) -> None:
        self.server._record("fault", self.id, call_id=call_id, status=status, error=why)
        self.write(P.pack_fault(call_id, 0, status, did_not_execute=True))

    def _on_auth3(self, pdu: bytes) -> None:
        trailer, token, _ = self._split_auth(pdu)
        call_id = _u32(pdu, 12)
        if trailer is None:
            self.server._record("protocol_error", self.id, call_id=call_id, error="auth3 without auth")
            return
        auth_ctx = self.auth.get(trailer.context_id)
        if auth_ctx is None or auth_ctx.context.complete:
            self.server._record("protocol_error", self.id, call_id=call_id,
                                error="auth3 for an unknown or complete context")
            return
        try:
            step = auth_ctx.context.step(token)
        except AuthError as exc:
            auth_ctx.failed = True
            self.server._record("auth_failed", self.id, call_id=call_id, reason=exc.reason,
                                auth_type=trailer.auth_type)
            return
        if step.complete:
            self._auth_done(auth_ctx, call_id)

    # -- requests ------------------------------------------------------------
    def _on_request(self, pdu: bytes) -> None:
        srv = self.server
        flags = pdu[3]
        call_id = _u32(pdu, 12)
        if not self.bound:
            return self._fatal(call_id, RpcStatus.nca_s_proto_error, "request before bind")
        req = P.parse_request(pdu, flags)
        trailer, signature, auth_off = self._split_auth(pdu)
        body = pdu[req.stub_offset:auth_off]
        auth_ctx: _AuthCtx | None = None
        if trailer is not None:
            auth_ctx = self.auth.get(trailer.context_id)
            if auth_ctx is None or auth_ctx.failed or not auth_ctx.context.complete:
                return self._fault(call_id, req.ctx_id, RpcStatus.ACCESS_DENIED,
                                   "request with an unknown or failed security context",
                                   close=True)
            if auth_ctx.level >= LEVEL_PKT:
                header = pdu[:req.stub_offset]
                sec = pdu[auth_off:auth_off + 8]
                try:
                    body = auth_ctx.context.verify(auth_ctx.level, header, body, sec, signature,
                                                   self.header_sign)
                except AuthError as exc:
                    srv._record("auth_failed", self.id, call_id=call_id, reason=exc.reason)
                    return self._fault(call_id, req.ctx_id, RpcStatus.ACCESS_DENIED,
                                       "signature check failed", close=True)
                auth_ctx.verified_once = True
            if trailer.pad_length:
                if trailer.pad_length > len(body):
                    raise P.PduError("auth pad longer than the stub")
                body = body[:len(body) - trailer.pad_length]
        elif self.main_auth is not None and self.main_auth.level >= LEVEL_PKT:
            return self._fault(call_id, req.ctx_id, RpcStatus.ACCESS_DENIED,
                               "unsigned request on a signed connection", close=True)
        elif self.main_auth is not None and (self.main_auth.failed
                                             or not self.main_auth.context.complete):
            return self._fault(call_id, req.ctx_id, RpcStatus.ACCESS_DENIED,
                               "authentication did not complete", close=True)

        first = flags & P.PFC.FIRST_FRAG
        last = flags & P.PFC.LAST_FRAG
        if first and last:
            if call_id in self.pending:
                return self._fatal(call_id, RpcStatus.nca_s_proto_error, "call_id reused")
            self._execute(call_id, req.ctx_id, req.opnum, body, auth_ctx, flags)
            return
        if first:
            if call_id in self.pending:
                return self._fatal(call_id, RpcStatus.nca_s_proto_error, "call_id reused")
            if req.alloc_hint > srv.limits.max_request:
                return self._fault(call_id, req.ctx_id, RpcStatus.nca_s_fault_remote_no_memory,
                                   f"alloc_hint {req.alloc_hint} over the limit")
            if self.in_flight >= srv.limits.max_calls_in_flight:
                return self._fault(call_id, req.ctx_id, RPC_S_SERVER_TOO_BUSY,
                                   "too many calls in flight")
            self.pending[call_id] = _Pending(call_id, req.ctx_id, req.opnum, b"", [body],
                                             len(body), auth_ctx)
            self.in_flight += 1
            return
        pend = self.pending.get(call_id)
        if pend is None:
            # A fragment of a call we faulted or never saw: drop it (C706 §12.6.3).
            srv._record("protocol_error", self.id, call_id=call_id,
                        error="continuation fragment without a first fragment")
            return
        pend.chunks.append(body)
        pend.size += len(body)
        if pend.size > srv.limits.max_request:
            del self.pending[call_id]
            self.in_flight -= 1
            return self._fault(call_id, pend.ctx_id, RpcStatus.nca_s_fault_remote_no_memory,
                               f"request over {srv.limits.max_request} bytes")
        if last:
            del self.pending[call_id]
            self.in_flight -= 1
            self._execute(call_id, pend.ctx_id, pend.opnum, b"".join(pend.chunks), auth_ctx, flags)

    def _fault(self, call_id: int, ctx_id: int, status: int, why: str, close: bool = False,
               did_not_execute: bool = True, op: str | None = None) -> None:
        self.server._record("fault", self.id, call_id=call_id, status=status, error=why, op=op)
        self.write(P.pack_fault(call_id, ctx_id, status, did_not_execute))
        if close:
            self.close()

    def _execute(self, call_id: int, ctx_id: int, opnum: int, stub: bytes,
                 auth_ctx: _AuthCtx | None, flags: int) -> None:
        srv = self.server
        pres = self.contexts.get(ctx_id)
        if pres is None:
            return self._fault(call_id, ctx_id, RpcStatus.nca_s_unk_if,
                               f"unknown presentation context {ctx_id}")
        iface = pres.interface
        op = iface.operations.get(opnum)
        main = auth_ctx or self.main_auth
        auth_info = None
        if main is not None and main.context.complete and not main.failed \
                and main.context.user is not None:
            ctx_obj = main.context
            auth_info = AuthInfo(main.auth_type, main.level, ctx_obj.user, ctx_obj.domain,
                                 ctx_obj.mech)
        if srv._journal_calls:
            srv._record("request", self.id, call_id=call_id, interface=iface.name, opnum=opnum,
                        op=op.name if op else None, ctx_id=ctx_id, size=len(stub),
                        auth_level=main.level if main else LEVEL_NONE,
                        user=auth_info.principal if auth_info else None)
        if op is None:
            return self._fault(call_id, ctx_id, RpcStatus.nca_s_op_rng_error,
                               f"{iface.name} has no opnum {opnum}")
        if auth_info is None and not srv.allow_anonymous and not getattr(iface, "anonymous_ok",
                                                                          False):
            return self._fault(call_id, ctx_id, RpcStatus.ACCESS_DENIED,
                               f"{iface.name} requires authentication", op=op.name)
        if main is not None and main.level >= LEVEL_INTEGRITY:
            try:
                stub, seen = verification.check_and_strip(stub, verification.Expected(
                    self.header_sign, pres.abstract_raw, pres.transfer_raw, P.PTYPE.REQUEST,
                    b"\x10\x00\x00\x00", call_id, ctx_id, opnum))
            except verification.VerificationError as exc:
                srv._record("auth_failed", self.id, call_id=call_id,
                            reason=f"verification trailer: {exc}")
                return self._fault(call_id, ctx_id, RpcStatus.ACCESS_DENIED,
                                   f"verification trailer: {exc}", op=op.name)
        assert self.group is not None
        ctx = CallContext(srv.actor, srv.name, iface, opnum, call_id, ctx_id, self.id,
                          self.group, auth_info, srv.journal, server=srv)
        if srv.injector is not None:
            action = srv.injector(ctx)
            if action is not None:
                return self._apply(action, ctx, op, stub, main)
        self._run(ctx, op, stub, main)

    def _apply(self, action: Action, ctx: CallContext, op: Any, stub: bytes,
               main: _AuthCtx | None) -> None:
        srv = self.server
        srv._record("rule", self.id, call_id=ctx.call_id, action=action.kind, value=action.value,
                    rule=action.rule, op=op.name)
        if action.delay > 0 and action.kind != "drop":
            self.in_flight += 1
            later = Action(action.kind, action.value, 0.0, action.rule)

            def resume() -> None:
                self.in_flight -= 1
                if not self.closed:
                    self._apply_now(later, ctx, op, stub, main)

            asyncio.get_running_loop().call_later(action.delay, resume)
            return
        self._apply_now(action, ctx, op, stub, main)

    def _apply_now(self, action: Action, ctx: CallContext, op: Any, stub: bytes,
                   main: _AuthCtx | None) -> None:
        kind = action.kind
        if kind == "fault":
            self._fault(ctx.call_id, ctx.ctx_id, action.value, f"injected by {action.rule}",
                        did_not_execute=False, op=op.name)
        elif kind in ("reset", "refuse"):
            self.abort()
        elif kind == "drop":
            self.in_flight += 1  # never answered: counts against the in-flight limit
        elif kind == "status":
            ctx.forced_status = action.value
            self._run(ctx, op, stub, main)
        else:  # "delay" after its wait
            self._run(ctx, op, stub, main)

    def _run(self, ctx: CallContext, op: Any, stub: bytes, main: _AuthCtx | None) -> None:
        srv = self.server
        try:
            out = op.call(ctx, stub)
        except RpcFault as fault:
            return self._fault(ctx.call_id, ctx.ctx_id, fault.status, str(fault),
                               did_not_execute=False, op=op.name)
        except Exception as exc:
            if is_decode_failure(exc):  # MS-RPCE 3.1.1.5.5: nca_s_fault_ndr
                srv._record("protocol_error", self.id, call_id=ctx.call_id, op=op.name,
                            error=f"stub decode: {summarize(exc, 120)}")
                return self._fault(ctx.call_id, ctx.ctx_id, RpcStatus.nca_s_fault_ndr,
                                   "malformed stub", did_not_execute=False, op=op.name)
            srv._internal_error(self.id, exc)
            return self._fault(ctx.call_id, ctx.ctx_id, RpcStatus.nca_s_fault_cant_perform,
                               f"internal error {exc!r}", did_not_execute=False, op=op.name)
        if srv._journal_calls:
            srv._record("response", self.id, call_id=ctx.call_id, interface=ctx.interface.name,
                        opnum=ctx.opnum, op=op.name, size=len(out), **ctx.notes)
        self._send_response(ctx.call_id, ctx.ctx_id, out, main)

    def _send_response(self, call_id: int, ctx_id: int, stub: bytes, main: _AuthCtx | None) -> None:
        """Fragment ``stub`` at the negotiated size, protecting each fragment."""
        signed = main is not None and main.level >= LEVEL_PKT and main.context.complete
        total = len(stub)
        if not signed:
            room = self.max_xmit - 24
            if total <= room:
                self.write(P.pack_header(P.PTYPE.RESPONSE, 3, 24 + total, 0, call_id)
                           + P.pack_response_header(total, ctx_id) + stub)
                return
            out = []
            off = 0
            while True:
                chunk = stub[off:off + room]
                flags = (P.PFC.FIRST_FRAG if off == 0 else 0)
                off += len(chunk)
                if off >= total:
                    flags |= P.PFC.LAST_FRAG
                out.append(P.pack_header(P.PTYPE.RESPONSE, flags, 24 + len(chunk), 0, call_id)
                           + P.pack_response_header(total - off + len(chunk), ctx_id) + chunk)
                if off >= total:
                    break
            self.write(b"".join(out))
            return
        assert main is not None
        sec = main.context
        sig_len = sec.signature_size(main.level)
        room = self.max_xmit - 24 - 8 - sig_len
        room -= room % 16
        off = 0
        out = []
        while True:
            chunk = stub[off:off + room]
            flags = P.PFC.FIRST_FRAG if off == 0 else 0
            alloc = total - off
            off += len(chunk)
            if off >= total:
                flags |= P.PFC.LAST_FRAG
            pad = (-len(chunk)) % 16
            body = chunk + b"\x00" * pad
            frag_len = 24 + len(body) + 8 + sig_len
            header = (P.pack_header(P.PTYPE.RESPONSE, flags, frag_len, sig_len, call_id)
                      + P.pack_response_header(alloc, ctx_id))
            trailer = P.pack_sec_trailer(main.auth_type, main.level, pad, main.context_id)
            body, sig = sec.protect(main.level, header, body, trailer, self.header_sign)
            out.append(header + body + trailer + sig)
            if off >= total:
                break
        self.write(b"".join(out))


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
        self.errors = ErrorLog()
        self._journal_calls = journal_calls
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

    # -- internals ---------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Open connections."""
        return len(self._connections)

    def _new_group(self) -> AssociationGroup:
        while True:
            gid = self._group_ids.randrange(0x1000, 0xFFFFFFFF)
            if gid not in self._groups:
                return AssociationGroup(gid)  # registered when the bind commits

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

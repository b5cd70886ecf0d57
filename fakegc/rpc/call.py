"""Request handling on one connection (C706 §12.6.4.9-10, MS-RPCE 3.3.1.5.2, 3.3.1.5.7).

:class:`Calls` takes request fragments, checks their security, reassembles them
per call_id within the limits, runs the operation (or the fault injector's
action), and answers with response fragments at the negotiated size or a fault
PDU.  It writes through the :class:`Link` of its connection and never owns a
socket.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fakegc.codes import RpcStatus
from fakegc.errorlog import summarize
from fakegc.journal import Journal
from fakegc.rpc import ndr64, verification
from fakegc.rpc.auth.base import LEVEL_INTEGRITY, LEVEL_NONE, LEVEL_PKT, AuthError
from fakegc.rpc.auth.legs import AuthCtx, protect_response, split_auth, unprotect_request
from fakegc.rpc.bind import Association
from fakegc.rpc.faults import Action
from fakegc.rpc.guard import DECODE_ERRORS, is_decode_failure
from fakegc.rpc.limits import RpcLimits
from fakegc.rpc.registry import AuthInfo, CallContext, Interface, Operation, RpcFault
from fakegc.wire import pdu as P

__all__ = ["CallEnv", "Calls", "Link"]

_LE_DREP = b"\x10\x00\x00\x00"  # HEADER2 carries the request's own drep (MS-RPCE 2.2.2.13.3)
_BE_DREP = b"\x00\x00\x00\x00"
_ONE_FRAG = struct.Struct("<BBBB4sHHIIHBB")  # common header + response header (C706 §12.6.4.10)


class CallEnv(Protocol):
    """The server side a call reads."""

    name: str
    actor: Any
    journal: Journal
    limits: RpcLimits
    allow_anonymous: bool
    unauth_buffered: dict[str, int]  # bytes unauthenticated calls hold, per source address
    injector: Callable[[CallContext], Action | None] | None
    stats: list[int]

    @property
    def journal_calls(self) -> bool: ...


class Link(Protocol):
    """The connection a :class:`Calls` writes to."""

    id: int
    closed: bool
    assoc: Association

    @property
    def env(self) -> CallEnv: ...
    def write(self, data: bytes | bytearray, pdus: int = 1) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def fatal(self, call_id: int, status: int, reason: str) -> None: ...
    def record(self, kind: str, **fields: Any) -> None: ...
    def internal_error(self, exc: BaseException) -> None: ...


@dataclass(slots=True, eq=False)
class _Pending:
    call_id: int
    ctx_id: int
    opnum: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    auth_ctx: AuthCtx | None = None
    big_endian: bool = False
    authed: bool = False  # counted against the authenticated budget


def _source(peer: Any) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def _u32(data: bytes, off: int) -> int:
    return int(struct.unpack_from("<I", data, off)[0]) if len(data) >= off + 4 else 0


class Calls:
    """The calls of one connection: reassembly, dispatch, responses and faults."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.pending: dict[int, _Pending] = {}
        self.in_flight = 0
        self.buffered = 0  # bytes held by every call being reassembled (issue #18)
        self.refused: dict[int, None] = {}  # call_ids refused at their first fragment (bounded)

    def orphaned(self, call_id: int) -> None:
        """rpc_orphaned (C706 §12.6.4.7): forget a call being reassembled."""
        pend = self.pending.pop(call_id, None)
        if pend is not None:
            self.in_flight -= 1
            self._release(pend, pend.size)
        self.link.record("orphaned", call_id=call_id)

    def drop_all(self) -> None:
        """The connection is gone: release what its calls held."""
        for pend in self.pending.values():
            self._release(pend, pend.size)
        self.pending.clear()

    # -- memory across all calls in flight (issue #18 item 1) -------------------------
    def _budget(self, pend: _Pending, n: int) -> str | None:
        """Account ``n`` more bytes for ``pend``; why not, when over a budget."""
        limits = self.link.env.limits
        cap = limits.max_buffered if pend.authed else limits.max_unauth_buffered
        if self.buffered + n > cap:
            return f"calls in flight would hold over {cap} bytes"
        if not pend.authed:
            per_source = self.link.env.unauth_buffered
            source = _source(getattr(self.link, "peer", None))
            if per_source.get(source, 0) + n > limits.max_unauth_per_source:
                return f"unauthenticated calls from {source} would hold over " \
                       f"{limits.max_unauth_per_source} bytes"
            per_source[source] = per_source.get(source, 0) + n
        self.buffered += n
        return None

    def _release(self, pend: _Pending, n: int) -> None:
        self.buffered -= n
        if not pend.authed and n:
            per_source = self.link.env.unauth_buffered
            source = _source(getattr(self.link, "peer", None))
            left = per_source.get(source, 0) - n
            if left > 0:
                per_source[source] = left
            else:
                per_source.pop(source, None)

    def _refuse(self, call_id: int) -> None:
        self.refused[call_id] = None
        if len(self.refused) > 256:
            del self.refused[next(iter(self.refused))]

    def _security_callback(self, ctx_id: int, auth_ctx: AuthCtx | None) -> str | None:
        """At a request's first fragment, as Windows' interface security callback runs:
        why the caller may not call this interface, or None.  Windows filters unauthenticated
        calls before the callback unless RPC_IF_ALLOW_CALLBACKS_WITH_NO_AUTH is set, and a
        refused call gets RPC_S_ACCESS_DENIED (rpcdce.h RPC_IF_CALLBACK_FN)."""
        link = self.link
        pres = link.assoc.contexts.get(ctx_id)
        if pres is None or link.env.allow_anonymous or getattr(pres.interface, "anonymous_ok",
                                                                False):
            return None
        if self._auth_info(auth_ctx or link.assoc.main_auth) is None:
            return f"{pres.interface.name} requires authentication"
        return None

    def fault(self, call_id: int, ctx_id: int, status: int, why: str, close: bool = False,
              did_not_execute: bool = True, op: str | None = None) -> None:
        """Answer ``call_id`` with a fault PDU (C706 §12.6.4.7, MS-RPCE 2.2.2.9)."""
        self.link.record("fault", call_id=call_id, status=status, error=why, op=op)
        self.link.write(P.pack_fault(call_id, ctx_id, status, did_not_execute))
        if close:
            self.link.close()

    # -- one request fragment ------------------------------------------------
    def _security(self, pdu: bytes, raw: bytes, req: P.RequestPdu,
                  call_id: int) -> tuple[bytes, AuthCtx | None] | None:
        """The stub of a fragment after its auth checks, or None when answered with a fault.

        ``raw`` is the PDU as received (big-endian PDUs are signed as sent).
        """
        assoc = self.link.assoc
        trailer, signature, auth_off = split_auth(pdu)
        if trailer is None:
            main = assoc.main_auth
            if main is not None and main.level >= LEVEL_PKT:
                self.fault(call_id, req.ctx_id, RpcStatus.rpc_s_access_denied,
                           "unsigned request on a signed connection", close=True)
                return None
            if main is not None and (main.failed or not main.context.complete):
                self.fault(call_id, req.ctx_id, RpcStatus.rpc_s_access_denied,
                           "authentication did not complete", close=True)
                return None
            return pdu[req.stub_offset:auth_off], None
        auth_ctx = assoc.auth.get(trailer.context_id)
        if auth_ctx is None or auth_ctx.failed or not auth_ctx.context.complete:
            self.fault(call_id, req.ctx_id, RpcStatus.rpc_s_access_denied,
                       "request with an unknown or failed security context", close=True)
            return None
        try:
            body = unprotect_request(auth_ctx, raw, req.stub_offset, auth_off, trailer,
                                     signature, assoc.header_sign)
        except AuthError as exc:
            self.link.record("auth_failed", call_id=call_id, reason=exc.reason)
            self.fault(call_id, req.ctx_id, RpcStatus.rpc_s_access_denied, "signature check failed",
                       close=True)
            return None
        return body, auth_ctx

    def on_request(self, pdu: bytes, raw: bytes | None = None) -> None:
        """One request fragment (C706 §12.6.4.9); reassembles per call_id.

        ``pdu`` is little-endian in its header fields; ``raw`` the PDU as received
        when that differs (a big-endian sender, :mod:`fakegc.wire.drep`).
        """
        raw = pdu if raw is None else raw
        big_endian = raw[4] & 0xF0 == 0
        link = self.link
        flags = pdu[3]
        call_id = _u32(pdu, 12)
        if not link.assoc.bound:
            return link.fatal(call_id, RpcStatus.nca_s_proto_error, "request before bind")
        req = P.parse_request(pdu, flags)
        checked = self._security(pdu, raw, req, call_id)
        if checked is None:
            return None
        body, auth_ctx = checked
        first = flags & P.PFC.FIRST_FRAG
        last = flags & P.PFC.LAST_FRAG
        if first:
            if call_id in self.pending:
                return link.fatal(call_id, RpcStatus.nca_s_proto_error, "call_id reused")
            if last:
                return self.execute(call_id, req.ctx_id, req.opnum, body, auth_ctx, big_endian)
            return self._first(call_id, req, body, auth_ctx, big_endian)
        return self._more(call_id, body, auth_ctx, bool(last))

    def _first(self, call_id: int, req: P.RequestPdu, body: bytes,
               auth_ctx: AuthCtx | None, big_endian: bool) -> None:
        limits = self.link.env.limits
        denied = self._security_callback(req.ctx_id, auth_ctx)
        if denied is not None:  # refused before anything is buffered for it
            self._refuse(call_id)
            return self.fault(call_id, req.ctx_id, RpcStatus.rpc_s_access_denied, denied)
        if req.alloc_hint > limits.max_request:
            self._refuse(call_id)
            return self.fault(call_id, req.ctx_id, RpcStatus.nca_s_fault_remote_no_memory,
                              f"alloc_hint {req.alloc_hint} over the limit")
        if self.in_flight >= limits.max_calls_in_flight:
            self._refuse(call_id)
            return self.fault(call_id, req.ctx_id, RpcStatus.rpc_s_server_too_busy,
                              "too many calls in flight")
        pend = _Pending(call_id, req.ctx_id, req.opnum, [body], len(body), auth_ctx, big_endian,
                        self._auth_info(auth_ctx or self.link.assoc.main_auth) is not None)
        over = self._budget(pend, len(body))
        if over is not None:
            self._refuse(call_id)
            return self.fault(call_id, req.ctx_id, RpcStatus.nca_s_fault_remote_no_memory, over)
        self.pending[call_id] = pend
        self.in_flight += 1

    def _more(self, call_id: int, body: bytes, auth_ctx: AuthCtx | None, last: bool) -> None:
        pend = self.pending.get(call_id)
        if pend is None and call_id in self.refused:
            if last:  # the rest of a refused call: dropped unjournaled (a flood costs nothing)
                del self.refused[call_id]
            return
        if pend is None:
            # A fragment of a call we faulted or never saw: drop it (C706 §12.6.3).
            self.link.record("protocol_error", call_id=call_id,
                             error="continuation fragment without a first fragment")
            return
        max_request = self.link.env.limits.max_request
        over = (f"request over {max_request} bytes" if pend.size + len(body) > max_request
                else self._budget(pend, len(body)))
        if over is not None:
            del self.pending[call_id]
            self.in_flight -= 1
            self._release(pend, pend.size)
            self._refuse(call_id)
            return self.fault(call_id, pend.ctx_id, RpcStatus.nca_s_fault_remote_no_memory, over)
        pend.chunks.append(body)
        pend.size += len(body)
        if last:
            del self.pending[call_id]
            self.in_flight -= 1
            self._release(pend, pend.size)
            self.execute(call_id, pend.ctx_id, pend.opnum, b"".join(pend.chunks), auth_ctx,
                         pend.big_endian)

    # -- a complete call -------------------------------------------------------
    def _auth_info(self, main: AuthCtx | None) -> AuthInfo | None:
        if main is None or not main.context.complete or main.failed \
                or main.context.user is None:
            return None
        sec = main.context
        return AuthInfo(main.auth_type, main.level, sec.user, sec.domain, sec.mech)

    def execute(self, call_id: int, ctx_id: int, opnum: int, stub: bytes,
                auth_ctx: AuthCtx | None, big_endian: bool = False) -> None:
        """Dispatch a reassembled call to its operation (MS-RPCE 3.3.1.5.7)."""
        link = self.link
        env = link.env
        env.stats[0] += 1  # calls received (RPC_STATS_VECTOR), answered or faulted
        assoc = link.assoc
        pres = assoc.contexts.get(ctx_id)
        if pres is None:
            return self.fault(call_id, ctx_id, RpcStatus.nca_s_unk_if,
                              f"unknown presentation context {ctx_id}")
        iface = pres.interface
        op = iface.operations.get(opnum)
        main = auth_ctx or assoc.main_auth
        auth_info = self._auth_info(main)
        if env.journal_calls:  # a dict straight to the journal: the hot path (issue #19)
            env.journal.record_fields(env.name, "request", link.id, {
                "call_id": call_id, "interface": iface.name, "opnum": opnum,
                "op": op.name if op else None, "ctx_id": ctx_id, "size": len(stub),
                "auth_level": main.level if main else LEVEL_NONE,
                "user": auth_info.principal if auth_info else None})
        if op is None:
            return self.fault(call_id, ctx_id, RpcStatus.nca_s_op_rng_error,
                              f"{iface.name} has no opnum {opnum}")
        refusal = self._refusal(iface, auth_info is None, big_endian)
        if refusal is not None:
            return self.fault(call_id, ctx_id, refusal[0], refusal[1], op=op.name)
        if main is not None and main.level >= LEVEL_INTEGRITY:
            header = verification.Expected(
                assoc.header_sign, pres.abstract_raw, pres.transfer_raw, P.PTYPE.REQUEST,
                _BE_DREP if big_endian else _LE_DREP, call_id, ctx_id, opnum)
            stripped = self._strip_trailer(stub, header, op.name)
            if stripped is None:
                return None
            stub = stripped
        assert assoc.group is not None
        ctx = CallContext(env.actor, env.name, iface, opnum, call_id, ctx_id, link.id,
                          assoc.group, auth_info, env.journal, server=env, ndr64=pres.ndr64,
                          big_endian=big_endian)
        if env.injector is not None:
            action = env.injector(ctx)
            if action is not None:
                return self._apply(action, ctx, op, stub, main)
        self._run(ctx, op, stub, main)

    def _refusal(self, iface: Interface, anonymous: bool,
                 big_endian: bool) -> tuple[int, str] | None:
        """(status, why) when the call may not run, before any decoding."""
        if big_endian and not iface.big_endian:
            # Not decodable here: refused at once with the call's own id (never a hang).
            return RpcStatus.rpc_x_bad_stub_data, f"{iface.name} does not decode big-endian NDR"
        if anonymous and not self.link.env.allow_anonymous \
                and not iface.anonymous_ok:
            return RpcStatus.rpc_s_access_denied, f"{iface.name} requires authentication"
        return None

    def _strip_trailer(self, stub: bytes, want: verification.Expected,
                       op_name: str) -> bytes | None:
        """The stub without its verification trailer (MS-RPCE 2.2.2.13), or None if faulted."""
        try:
            stub, _seen = verification.check_and_strip(stub, want)
        except verification.VerificationError as exc:
            self.link.record("auth_failed", call_id=want.call_id,
                             reason=f"verification trailer: {exc}")
            self.fault(want.call_id, want.ctx_id, RpcStatus.rpc_s_access_denied,
                       f"verification trailer: {exc}", op=op_name)
            return None
        return stub

    def _apply(self, action: Action, ctx: CallContext, op: Operation, stub: bytes,
               main: AuthCtx | None) -> None:
        """A fault-injection rule's action, after its delay (scenario faults)."""
        self.link.record("rule", call_id=ctx.call_id, action=action.kind, value=action.value,
                         rule=action.rule, op=op.name)
        if action.delay > 0 and action.kind != "drop":
            self.in_flight += 1
            later = Action(action.kind, action.value, 0.0, action.rule)

            def resume() -> None:
                self.in_flight -= 1
                if not self.link.closed:
                    self._apply_now(later, ctx, op, stub, main)

            asyncio.get_running_loop().call_later(action.delay, resume)
            return
        self._apply_now(action, ctx, op, stub, main)

    def _apply_now(self, action: Action, ctx: CallContext, op: Operation, stub: bytes,
                   main: AuthCtx | None) -> None:
        kind = action.kind
        if kind == "fault":
            self.fault(ctx.call_id, ctx.ctx_id, action.value, f"injected by {action.rule}",
                       did_not_execute=False, op=op.name)
        elif kind in ("reset", "refuse"):
            self.link.abort()
        elif kind == "drop":
            self.in_flight += 1  # never answered: counts against the in-flight limit
        elif kind == "status":
            ctx.forced_status = action.value
            self._run(ctx, op, stub, main)
        else:  # "delay" after its wait
            self._run(ctx, op, stub, main)

    def _run(self, ctx: CallContext, op: Operation, stub: bytes, main: AuthCtx | None) -> None:
        link = self.link
        try:
            out = op.call(ctx, stub)
        except RpcFault as fault:
            return self.fault(ctx.call_id, ctx.ctx_id, fault.status, str(fault),
                              did_not_execute=False, op=op.name)
        except Exception as exc:  # noqa: BLE001 - an operation bug is a fault, not a crash
            if is_decode_failure(exc):  # MS-RPCE 3.1.1.5.5: nca_s_fault_ndr (rpc_x_bad_stub_data)
                link.record("protocol_error", call_id=ctx.call_id, op=op.name,
                            error=f"stub decode: {summarize(exc, 120)}")
                return self.fault(ctx.call_id, ctx.ctx_id, RpcStatus.rpc_x_bad_stub_data,
                                  "malformed stub", did_not_execute=False, op=op.name)
            link.internal_error(exc)
            return self.fault(ctx.call_id, ctx.ctx_id, RpcStatus.rpc_fault_cant_perform,
                              f"internal error {exc!r}", did_not_execute=False, op=op.name)
        if ctx.ndr64 and ctx.interface.ndr64_transcode:
            try:
                out = ndr64.response(op, out)
            except DECODE_ERRORS as exc:
                link.internal_error(exc)
                return self.fault(ctx.call_id, ctx.ctx_id, RpcStatus.rpc_x_bad_stub_data,
                                  f"no NDR64 encoding: {exc!r}", did_not_execute=False, op=op.name)
        env = link.env
        if env.journal_calls:
            fields = {"call_id": ctx.call_id, "interface": ctx.interface.name,
                      "opnum": ctx.opnum, "op": op.name, "size": len(out)}
            if ctx.notes:
                fields.update(ctx.notes)
            env.journal.record_fields(env.name, "response", link.id, fields)
        self.send_response(ctx.call_id, ctx.ctx_id, out, main)

    def send_response(self, call_id: int, ctx_id: int, stub: bytes,
                      main: AuthCtx | None) -> None:
        """Fragment ``stub`` at the negotiated size, protecting each fragment."""
        assoc = self.link.assoc
        if main is not None and main.level >= LEVEL_PKT and main.context.complete:
            room = assoc.max_xmit - 24 - 8 - main.context.signature_size(main.level)
            self.link.write(protect_response(main, stub, call_id, ctx_id, assoc.max_xmit,
                                             assoc.header_sign),
                            _frags(len(stub), max(room - room % 16, 16)))
            return
        self.link.write(plain_response(stub, call_id, ctx_id, assoc.max_xmit),
                        _frags(len(stub), max(assoc.max_xmit - 24, 8)))


def _frags(size: int, room: int) -> int:
    return max(1, -(-size // max(room, 1)))


def plain_response(stub: bytes, call_id: int, ctx_id: int, max_xmit: int) -> bytes:
    """Unprotected response fragments of ``stub`` (C706 §12.6.4.10)."""
    total = len(stub)
    room = max(max_xmit - 24, 8)
    if total <= room:  # one fragment: header and response header in one pack (hot path)
        return _ONE_FRAG.pack(5, 0, P.PTYPE.RESPONSE, 3, _LE_DREP, 24 + total, 0, call_id,
                              total, ctx_id, 0, 0) + stub
    out = []
    off = 0
    while True:
        chunk = stub[off:off + room]
        flags = P.PFC.FIRST_FRAG if off == 0 else 0
        off += len(chunk)
        if off >= total:
            flags |= P.PFC.LAST_FRAG
        out.append(P.pack_header(P.PTYPE.RESPONSE, flags, 24 + len(chunk), 0, call_id)
                   + P.pack_response_header(total - off + len(chunk), ctx_id) + chunk)
        if off >= total:
            break
    return b"".join(out)

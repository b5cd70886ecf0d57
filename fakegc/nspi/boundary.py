"""The NSPI boundary between the RPC engine and the pure handlers.

On the way in: the context handle becomes the :class:`NspiSession` (an unknown one
faults with nca_s_fault_context_mismatch, MS-RPCE 3.3.1.5.8), NspiUnbind closes it,
and the MIds a request carries are translated from this GC's wire MIds to the
directory's.  On the way out: NspiBind's session gets its handle, and the result's
MIds go back to wire MIds before the codec encodes it.  MIds are server-specific
(MS-OXNSPI 3.1.1.2): each GC numbers the same objects from its own base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, cast

from fakegc.codes import RpcStatus
from fakegc.directory.model import Directory
from fakegc.nspi import codec
from fakegc.nspi import messages as M
from fakegc.nspi.codec64 import ENCODERS64
from fakegc.nspi.host import NspiHost, NspiSession
from fakegc.nspi.table import Stat
from fakegc.rpc.registry import AuthInfo, CallContext, Pipeline, RpcFault

__all__ = ["INVALID_MID", "Handler", "NspiCall", "from_wire", "pipeline", "to_wire"]

INVALID_MID = 0xFFFFFFFF


@dataclass(slots=True)
class NspiCall:
    """A decoded request with what its handler is given."""

    request: Any
    session: NspiSession | None
    gc: NspiHost
    caller: AuthInfo | None


def to_wire(session: NspiSession, d: Directory, mid: int) -> int:
    """A directory MId as this GC names it (objects only; positions and containers as they are)."""
    return mid + session.mid_offset if mid in d.objects else mid


def from_wire(session: NspiSession, d: Directory, mid: int) -> int:
    """A client's MId back to the directory's; an MId of another GC's space → INVALID_MID."""
    if mid < 0x10:
        return mid
    local = mid - session.mid_offset
    if local in d.objects:
        return local
    if any(c.mid == mid for c in d.containers):
        return mid
    return INVALID_MID


def _translate(obj: Any, convert: Callable[[int], int]) -> None:
    """Apply ``convert`` to the MId fields ``obj`` declares (its class's ``MIDS``)."""
    for name in obj.MIDS:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, Stat):
            value.CurrentRec = convert(value.CurrentRec)
        elif isinstance(value, list):
            setattr(obj, name, [convert(m) for m in value])
        else:
            setattr(obj, name, convert(value))


def _host(ctx: CallContext) -> NspiHost:
    host = ctx.actor
    if host is None or not hasattr(host, "directory"):
        raise RpcFault(RpcStatus.rpc_fault_cant_perform, "no directory behind this server")
    return cast(NspiHost, host)


def _note_nonconformant(ctx: CallContext, request: Any) -> None:
    """Journal a request that carried bytes after its last IDL parameter.

    A MIDL-generated server reads the parameters the IDL declares and ignores what
    follows; a client that sends another layout (impacket's unique ``pStat`` in
    NspiGetProps and NspiGetSpecialTable, docs/PROTOCOL.md "NSPI wire layout") is
    read that way too, fields shifted, and the journal says so.
    """
    if ctx.journal is not None:
        ctx.journal.record(ctx.actor_name, "nonconformant_request", conn=ctx.conn,
                           call_id=ctx.call_id, interface=ctx.interface.name, opnum=ctx.opnum,
                           op=type(request).__name__, trailing=request.trailing,
                           read_as="MS-OXNSPI IDL; trailing bytes ignored")


def enter(ctx: CallContext, request: Any) -> NspiCall:
    """Session from the context handle, request MIds in directory terms."""
    if request.trailing:
        _note_nonconformant(ctx, request)
    gc = _host(ctx)
    if isinstance(request, M.NspiBind):
        return NspiCall(request, None, gc, ctx.auth)
    session = ctx.handles.get(request.handle)
    if not isinstance(session, NspiSession):
        raise RpcFault(RpcStatus.nca_s_fault_context_mismatch, "not an NSPI context handle")
    if isinstance(request, M.NspiUnbind):
        ctx.handles.close(request.handle)
    d = gc.directory
    _translate(request, lambda m: from_wire(session, d, m))
    return NspiCall(request, session, gc, ctx.auth)


#: a pure handler: (request, session — or the caller for NspiBind —, gc) -> result
Handler = Callable[[Any, Any, NspiHost], Any]


def pipeline(opnum: int, handler: Handler,
             result_cls: type) -> Pipeline[Any, NspiCall, Any]:
    """The registry pipeline of one NSPI opnum around a pure ``handler``."""
    decode = codec.DECODERS[opnum]
    encoder = codec.ENCODERS[opnum]
    encoder64 = ENCODERS64[opnum]
    needs_stat = any(f.name == "stat" for f in fields(result_cls))

    def handle(call: NspiCall) -> Any:
        who = call.caller if isinstance(call.request, M.NspiBind) else call.session
        return handler(call.request, who, call.gc)

    def refuse(call: NspiCall, status: int) -> Any:
        result = result_cls(status, call.request.stat) if needs_stat else result_cls(status)
        if isinstance(result, M.GetSpecialTableResult):
            result.version = call.gc.directory.version
        return result

    def encode(ctx: CallContext, call: NspiCall, result: Any) -> bytes:
        session = call.session
        if isinstance(result, M.BindResult):
            if result.session is not None:
                result.handle = ctx.handles.new(result.session)
        elif session is not None:
            d = call.gc.directory
            _translate(result, lambda m: to_wire(session, d, m))
        return (encoder64 if ctx.ndr64 else encoder)(call.request, result, session, call.gc)

    return Pipeline(decode, enter, handle, refuse, encode, codec.decoder_in(opnum))

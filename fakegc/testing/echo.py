"""A tiny test interface for exercising the RPC engine (fragmentation, handles, faults).

opnum 0 echoes its stub, 1 answers N bytes (u32 N), 2 opens a context handle,
3 reads one (fault 0x1C00001A if unknown), 4 always faults 0x1234.
"""

from __future__ import annotations

import struct

from fakegc.rpc.registry import CallContext, Interface, RpcFault

__all__ = ["ECHO"]

ECHO = Interface("echo", "3d1c2e4a-7b15-4c8e-9a35-2f6e0c9b5d71", (1, 0))


@ECHO.operation(0, "Echo")
def _echo(ctx: CallContext, stub: bytes) -> bytes:
    return stub


@ECHO.operation(1, "Blob")
def _blob(ctx: CallContext, stub: bytes) -> bytes:
    n = struct.unpack_from("<I", stub, 0)[0]
    return bytes(i & 0xFF for i in range(n))


@ECHO.operation(2, "Open")
def _open(ctx: CallContext, stub: bytes) -> bytes:
    return ctx.handles.new({"user": ctx.auth.user if ctx.auth else None})


@ECHO.operation(3, "Read")
def _read(ctx: CallContext, stub: bytes) -> bytes:
    obj = ctx.handles.get(stub[:20])
    return (obj["user"] or "").encode() + b"\x00"


@ECHO.operation(4, "Fail")
def _fail(ctx: CallContext, stub: bytes) -> bytes:
    raise RpcFault(0x1234)



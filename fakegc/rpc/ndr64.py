"""NDR64 answers through impacket's IDL classes (MS-RPCE 2.2.5, 3.3.1.5.6).

Operations of an interface declared ``ndr64=True`` read NDR64 requests themselves
(``ctx.ndr64``, see :class:`fakegc.wire.ndrread.NdrReader`) and build their
answer in NDR 2.0; :func:`response` re-encodes that answer in NDR64 with the
operation's impacket response class, which is the reference codec the issue
names (impacket's own client marshals every NDR64 request this way:
``changeTransferSyntax`` after building in NDR 2.0).
"""

from __future__ import annotations

from impacket.uuid import uuidtup_to_bin

from fakegc.codes import RpcStatus
from fakegc.rpc.registry import Operation, RpcFault

__all__ = ["NDR64_SYNTAX", "response"]

NDR64_SYNTAX = uuidtup_to_bin(("71710533-BEBA-4937-8319-B5DBEF9CCC36", "1.0"))


def response(op: Operation, stub: bytes) -> bytes:
    """``stub`` (an NDR 2.0 response of ``op``) re-encoded in NDR64."""
    cls = op.response
    if cls is None:
        raise RpcFault(RpcStatus.rpc_x_bad_stub_data, f"{op.name} has no NDR64 encoding")
    decoded = cls()
    decoded.fromString(stub)
    decoded.changeTransferSyntax(NDR64_SYNTAX)
    return bytes(decoded.getData())

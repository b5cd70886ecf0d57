"""The remote management interface (C706 appendix Q, MS-RPCE 2.2.1.3 / 3.1.1.5.4).

Served on every RPC port so impacket's ``rpcmap.py`` lists what a port serves:
``inq_if_ids`` (0), ``inq_stats`` (1), ``is_server_listening`` (2),
``stop_server_listening`` (3, always refused) and ``inq_princ_name`` (4).
"""

from __future__ import annotations

import struct

from fakegc.rpc.registry import CallContext, Interface

__all__ = ["MGMT"]

MGMT = Interface("mgmt", "afa8bd80-7d8a-11c9-bef4-08002b102989", (1, 0), spec="C706 appendix Q",
                 anonymous_ok=True)
ERROR_ACCESS_DENIED = 5


@MGMT.operation(0, "inq_if_ids", spec="C706 Q.2.2")
def inq_if_ids(ctx: CallContext, stub: bytes) -> bytes:
    """The interfaces this port serves (rpc_if_id_vector_t)."""
    ifaces = list(getattr(ctx.server, "interfaces", [ctx.interface]))
    n = len(ifaces)
    out = [struct.pack("<III", 0x20000, n, n)]
    out += [struct.pack("<I", 0x20004 + 4 * i) for i in range(n)]
    out += [i.uuid.bytes_le + struct.pack("<HH", i.version[0], i.version[1]) for i in ifaces]
    out.append(struct.pack("<I", 0))
    return b"".join(out)


@MGMT.operation(1, "inq_stats", spec="C706 Q.2.3")
def inq_stats(ctx: CallContext, stub: bytes) -> bytes:
    """Four counters: calls in, calls out, packets in, packets out."""
    count = min(struct.unpack_from("<I", stub, 0)[0], 4)
    journal = ctx.journal
    calls = journal.count("request", actor=ctx.actor_name) if journal is not None else 0
    values = [calls, calls, calls, calls][:count]
    return struct.pack("<II", count, count) + b"".join(struct.pack("<I", v) for v in values) \
        + struct.pack("<I", 0)


@MGMT.operation(2, "is_server_listening", spec="C706 Q.2.4")
def is_server_listening(ctx: CallContext, stub: bytes) -> bytes:
    """status = 0 and boolean32 TRUE."""
    return struct.pack("<II", 0, 1)


@MGMT.operation(3, "stop_server_listening", spec="C706 Q.2.5")
def stop_server_listening(ctx: CallContext, stub: bytes) -> bytes:
    """Refused: a remote client may not stop the server."""
    return struct.pack("<I", ERROR_ACCESS_DENIED)


@MGMT.operation(4, "inq_princ_name", spec="C706 Q.2.6")
def inq_princ_name(ctx: CallContext, stub: bytes) -> bytes:
    """The server principal name for an authentication protocol."""
    _proto, size = struct.unpack_from("<II", stub, 0)
    name = getattr(ctx.actor, "principal_name", None) or f"{ctx.actor_name}$"
    raw = name.encode()[: max(size - 1, 0)] + b"\x00" if size else b""
    return (struct.pack("<III", size, 0, len(raw)) + raw + b"\x00" * (-len(raw) % 4)
            + struct.pack("<I", 0))

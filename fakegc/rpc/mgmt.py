"""The remote management interface (C706 appendix Q, MS-RPCE 2.2.1.3 / 3.1.1.5.4).

Served on every RPC port so impacket's ``rpcmap.py`` lists what a port serves:
``inq_if_ids`` (0), ``inq_stats`` (1), ``is_server_listening`` (2),
``stop_server_listening`` (3, always refused) and ``inq_princ_name`` (4).
Requests are read in NDR or NDR64, either byte order; NDR64 answers are
re-encoded by :mod:`fakegc.rpc.ndr64`.
"""

from __future__ import annotations

import struct

from impacket.dcerpc.v5 import mgmt as _mgmt

from fakegc.codes import RpcStatus
from fakegc.rpc.auth.base import (
    RPC_C_AUTHN_GSS_KERBEROS,
    RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_WINNT,
)
from fakegc.rpc.registry import CallContext, Interface
from fakegc.wire.ndrread import NdrReader

__all__ = ["MGMT", "principal_name"]

MGMT = Interface("mgmt", "afa8bd80-7d8a-11c9-bef4-08002b102989", (1, 0), spec="C706 appendix Q",
                 ndr64=True, big_endian=True, anonymous_ok=True)
ERROR_ACCESS_DENIED = RpcStatus.rpc_s_access_denied


def _reader(ctx: CallContext, stub: bytes) -> NdrReader:
    return NdrReader(stub, ndr64=ctx.ndr64, big_endian=ctx.big_endian)


@MGMT.operation(0, "inq_if_ids", request=_mgmt.inq_if_ids, response=_mgmt.inq_if_idsResponse,
                spec="C706 Q.2.2")
def inq_if_ids(ctx: CallContext, stub: bytes) -> bytes:
    """The interfaces this port serves (rpc_if_id_vector_t)."""
    ifaces = list(getattr(ctx.server, "interfaces", [ctx.interface]))
    n = len(ifaces)
    out = [struct.pack("<III", 0x20000, n, n)]
    out += [struct.pack("<I", 0x20004 + 4 * i) for i in range(n)]
    out += [i.uuid.bytes_le + struct.pack("<HH", i.version[0], i.version[1]) for i in ifaces]
    out.append(struct.pack("<I", 0))
    return b"".join(out)


@MGMT.operation(1, "inq_stats", request=_mgmt.inq_stats, response=_mgmt.inq_statsResponse,
                spec="C706 Q.2.3")
def inq_stats(ctx: CallContext, stub: bytes) -> bytes:
    """rpc_c_stats_calls_in, calls_out, pkts_in, pkts_out (C706 Q.2.3), in that order.

    Calls received, calls the server initiated (none: 0), PDUs received and sent,
    as RPC_STATS_VECTOR defines them; ``count`` asks for at most that many.
    """
    count = min(_reader(ctx, stub).u32(), 4)
    stats = list(getattr(ctx.server, "stats", [0, 0, 0, 0]))[:count]
    return struct.pack("<II", count, count) + b"".join(struct.pack("<I", v) for v in stats) \
        + struct.pack("<I", 0)


@MGMT.operation(2, "is_server_listening", request=_mgmt.is_server_listening,
                response=_mgmt.is_server_listeningResponse, spec="C706 Q.2.4")
def is_server_listening(ctx: CallContext, stub: bytes) -> bytes:
    """status = 0 and boolean32 TRUE while the listener is open."""
    listening = bool(getattr(ctx.server, "listening", True))
    return struct.pack("<II", 0, int(listening))


@MGMT.operation(3, "stop_server_listening", request=_mgmt.stop_server_listening,
                response=_mgmt.stop_server_listeningResponse, spec="C706 Q.2.5")
def stop_server_listening(ctx: CallContext, stub: bytes) -> bytes:
    """Refused: a remote client may not stop the server (impacket test_mgmt expects
    rpc_s_access_denied)."""
    return struct.pack("<I", ERROR_ACCESS_DENIED)


def principal_name(ctx: CallContext, authn_proto: int) -> str | None:
    """The server principal name for one authentication service, None if not offered.

    Kerberos and Negotiate: the service principal the KDC issues tickets for
    (``actor.principal_name``); NTLM (WinNT): the account in DOMAIN\\NAME$ form.
    Only services the server has a provider for are answered (C706 Q.2.6:
    rpc_s_unknown_authn_service otherwise).
    """
    providers = getattr(ctx.server, "providers", None)
    if providers is None or authn_proto not in providers:
        return None
    spn = getattr(ctx.actor, "principal_name", None) or f"host/{ctx.actor_name}"
    if authn_proto in (RPC_C_AUTHN_GSS_KERBEROS, RPC_C_AUTHN_GSS_NEGOTIATE):
        return str(spn)
    if authn_proto == RPC_C_AUTHN_WINNT:
        creds = getattr(providers[authn_proto], "creds", None)
        domain = getattr(creds, "netbios_domain", None) or "WORKGROUP"
        host = str(getattr(ctx.actor, "name", None) or ctx.actor_name)
        return f"{domain}\\{host.upper()}$"
    return str(spn)


@MGMT.operation(4, "inq_princ_name", request=_mgmt.inq_princ_name,
                response=_mgmt.inq_princ_nameResponse, spec="C706 Q.2.6")
def inq_princ_name(ctx: CallContext, stub: bytes) -> bytes:
    """The server principal name for ``authn_proto`` (a [size_is, length_is] string)."""
    r = _reader(ctx, stub)
    proto = r.u32()
    size = r.u32()
    name = principal_name(ctx, proto)
    status = 0 if name is not None else RpcStatus.rpc_s_unknown_authn_service
    ctx.notes["authn_proto"] = proto
    ctx.notes["status"] = status
    raw = (name or "").encode()[: max(size - 1, 0)] + b"\x00" if size else b""
    if name is None:
        raw = b"\x00" if size else b""
    return (struct.pack("<III", size, 0, len(raw)) + raw + b"\x00" * (-len(raw) % 4)
            + struct.pack("<I", status))

"""The Exchange referral service, MS-OXABREF ("RFR"), opnums 0 and 1.

RfrGetNewDSA answers the FQDN of a responsive NSPI server chosen by the scenario
(never a GC that is down); RfrGetFQDNFromServerDN maps a server's legacy DN to its
FQDN, enforcing 10 <= cbMailboxServerDN <= 1024.  Unauthenticated callers get
LogonFailed (PROTOCOL.md §11).  Answers are encoded from the IDL (PROTOCOL.md §9):
impacket's RfrGetNewDSAResponse lacks the return value and is no encoder.
"""

from __future__ import annotations

from typing import cast

from impacket.dcerpc.v5 import oxabref

from fakegc.codes import NspiStatus, RpcStatus
from fakegc.referral.host import ReferralHost, ReferralRefused
from fakegc.rpc.registry import CallContext, Interface, RpcFault
from fakegc.wire.ndr import NdrWriter
from fakegc.wire.ndr64 import Ndr64Writer
from fakegc.wire.ndrread import NdrReader

__all__ = ["EC_RPC_FORMAT", "RFR", "referral"]

# anonymous binds are accepted; the operation refuses them with LogonFailed
RFR = Interface("rfr", "1544f5e0-613c-11d1-93df-00c04fd7bd09", (1, 0), spec="MS-OXABREF",
                ndr64=True, ndr64_transcode=False, big_endian=True, anonymous_ok=True)

EC_RPC_FORMAT = 0x000004B6  # ecRpcFormat: a malformed argument
MIN_DN, MAX_DN = 10, 1024


def _host(ctx: CallContext) -> ReferralHost:
    if ctx.actor is None or not hasattr(ctx.actor, "referral_target"):
        raise RpcFault(RpcStatus.rpc_fault_cant_perform, "no referral host behind this server")
    return cast(ReferralHost, ctx.actor)


def _reader(ctx: CallContext, stub: bytes) -> NdrReader:
    """The request stub in the negotiated syntax and the sender's byte order (C706 §14.1)."""
    return NdrReader(stub, ndr64=ctx.ndr64, big_endian=ctx.big_endian)


def _read_string(r: NdrReader) -> str:
    """A [string] char array: max count, offset, actual count, then the bytes (C706 §14.3.4)."""
    r.count()
    r.count()
    return r.raw(r.count()).decode("latin-1").rstrip("\x00")


def _writer(ctx: CallContext) -> NdrWriter:
    """NDR 2.0 or NDR64 (MS-RPCE 2.2.5) as the presentation context negotiated."""
    return Ndr64Writer() if ctx.ndr64 else NdrWriter()


def _cv_string(w: NdrWriter, text: str) -> None:
    w.cv_string8(text.encode("ascii", "replace") + b"\x00")


def referral(host: object, user_dn: str, authenticated: bool) -> tuple[int, str | None]:
    """Pure RfrGetNewDSA: (status, FQDN)."""
    if not authenticated:
        return NspiStatus.LogonFailed, None
    try:
        target = host.referral_target(user_dn)  # type: ignore[attr-defined]
    except ReferralRefused as refused:
        return refused.status, None
    if not target:
        return NspiStatus.NotFound, None
    return 0, target.lower()


@RFR.operation(0, "RfrGetNewDSA", request=oxabref.RfrGetNewDSA, response=oxabref.RfrGetNewDSAResponse,
               spec="MS-OXABREF 3.1.4.1")
def _op_get_new_dsa(ctx: CallContext, stub: bytes) -> bytes:
    """FQDN of a responsive GC (the scenario's candidate, after a ticket check); LogonFailed when refused."""
    r = _reader(ctx, stub)
    r.u32()  # ulFlags
    user_dn = _read_string(r)  # [in, string] pUserDN: a reference pointer, no id on the wire
    wants_unused = r.pointer() != 0  # [in, out, unique] ppszUnused
    if wants_unused and r.pointer():
        _read_string(r)
    # [in, out, unique] ppszServer: a NULL sent comes back NULL (PROTOCOL.md §13.2)
    wants_server = r.pointer() != 0
    if ctx.forced_status is not None:
        status, server = ctx.forced_status, None
    else:
        status, server = referral(_host(ctx), user_dn, ctx.auth is not None)
    ctx.notes["status"] = status
    ctx.notes["server"] = server
    ctx.notes["user_dn"] = user_dn
    w = _writer(ctx)
    # ppszUnused: [in,out,unique] char**: we never fill it
    if wants_unused:
        w.top_pointer(lambda w: w.pointer(None))
    else:
        w.pointer(None)
    # ppszServer: outer referent, inner referent, conformant-varying string with its NUL
    if not wants_server:
        w.pointer(None)
    elif server is not None:
        w.top_pointer(lambda w: w.top_pointer(lambda w: _cv_string(w, server)))
    else:
        w.top_pointer(lambda w: w.pointer(None))
    w.u32(status)
    return w.getvalue()


@RFR.operation(1, "RfrGetFQDNFromServerDN", request=oxabref.RfrGetFQDNFromServerDN,
               response=oxabref.RfrGetFQDNFromServerDNResponse, spec="MS-OXABREF 3.1.4.2")
def _op_get_fqdn(ctx: CallContext, stub: bytes) -> bytes:
    """FQDN of the Exchange server with this legacy DN (10 <= cbMailboxServerDN <= 1024)."""
    r = _reader(ctx, stub)
    r.u32()  # ulFlags
    cb = r.u32()
    dn = _read_string(r)
    fqdn = None
    if ctx.forced_status is not None:
        status = ctx.forced_status
    elif ctx.auth is None:
        status = NspiStatus.LogonFailed
    elif not MIN_DN <= cb <= MAX_DN:
        status = EC_RPC_FORMAT
    else:
        fqdn = _host(ctx).fqdn_for_server_dn(dn)
        status = 0 if fqdn else NspiStatus.NotFound
    ctx.notes["status"] = status
    ctx.notes["dn"] = dn
    w = _writer(ctx)
    if fqdn is not None:
        w.top_pointer(lambda w: _cv_string(w, fqdn))
    else:
        w.pointer(None)
    w.u32(status)
    return w.getvalue()

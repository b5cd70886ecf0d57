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

__all__ = ["EC_RPC_FORMAT", "RFR", "referral"]

# anonymous binds are accepted; the operation refuses them with LogonFailed
RFR = Interface("rfr", "1544f5e0-613c-11d1-93df-00c04fd7bd09", (1, 0), spec="MS-OXABREF",
                anonymous_ok=True)

EC_RPC_FORMAT = 0x000004B6  # ecRpcFormat: a malformed argument
MIN_DN, MAX_DN = 10, 1024


def _host(ctx: CallContext) -> ReferralHost:
    if ctx.actor is None or not hasattr(ctx.actor, "referral_target"):
        raise RpcFault(RpcStatus.rpc_fault_cant_perform, "no referral host behind this server")
    return cast(ReferralHost, ctx.actor)


def _string(value: object) -> str:
    data = value["Data"] if hasattr(value, "fields") else value  # type: ignore[index]
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    return str(data).rstrip("\x00")


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
    req = oxabref.RfrGetNewDSA(stub)
    user_dn = _string(req["pUserDN"])
    wants_unused = req.fields["ppszUnused"].fields.get("ReferentID", 0) != 0
    if ctx.forced_status is not None:
        status, server = ctx.forced_status, None
    else:
        status, server = referral(_host(ctx), user_dn, ctx.auth is not None)
    ctx.notes["status"] = status
    ctx.notes["server"] = server
    ctx.notes["user_dn"] = user_dn
    w = NdrWriter()
    # ppszUnused: [in,out,unique] char**: we never fill it
    if wants_unused:
        w.top_pointer(lambda w: w.u32(0))
    else:
        w.u32(0)
    # ppszServer: outer referent, inner referent, conformant-varying string with its NUL
    if server is not None:
        w.top_pointer(lambda w: w.top_pointer(lambda w: _cv_string(w, server)))
    else:
        w.top_pointer(lambda w: w.u32(0))
    w.u32(status)
    return w.getvalue()


@RFR.operation(1, "RfrGetFQDNFromServerDN", request=oxabref.RfrGetFQDNFromServerDN,
               response=oxabref.RfrGetFQDNFromServerDNResponse, spec="MS-OXABREF 3.1.4.2")
def _op_get_fqdn(ctx: CallContext, stub: bytes) -> bytes:
    """FQDN of the Exchange server with this legacy DN (10 <= cbMailboxServerDN <= 1024)."""
    req = oxabref.RfrGetFQDNFromServerDN(stub)
    cb = req["cbMailboxServerDN"]
    dn = _string(req["szMailboxServerDN"])
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
    w = NdrWriter()
    if fqdn is not None:
        w.top_pointer(lambda w: _cv_string(w, fqdn))
    else:
        w.u32(0)
    w.u32(status)
    return w.getvalue()

"""Bind and alter_context negotiation as a function (MS-RPCE 3.3.1.5.3, C706 §12.6.4.3).

Shaped like Samba's ``dcesrv_bind`` (librpc/rpc/dcesrv_core.c): first the checks
on the PDU and the association (:func:`_check_bind`), then
``dcesrv_negotiate_contexts`` (:func:`negotiate_contexts`), which handles the
bind-time feature negotiation context and calls ``dcesrv_check_or_create_context``
(:func:`check_or_create_context`) for each other context, then the auth leg
(:func:`fakegc.rpc.auth.legs.bind_leg`), then the commit and the bind_ack.

:func:`negotiate` does no I/O: it reads the PDU, the connection's
:class:`Association` and the server side (:class:`BindEnv`), journals through a
``record`` callable, commits into the association only when it acks, and
returns the reply PDU and whether the connection must close.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from fakegc.rpc.auth.base import SecurityProvider
from fakegc.rpc.auth.legs import AuthCtx, LegRefused, Record, bind_leg, split_auth
from fakegc.rpc.limits import RpcLimits
from fakegc.rpc.registry import NDR20, NDR64, AssociationGroup, Interface
from fakegc.wire import pdu as P

__all__ = [
    "Association",
    "BindEnv",
    "BindReply",
    "PresContext",
    "check_or_create_context",
    "negotiate",
    "negotiate_contexts",
]

Syntax = tuple[uuidlib.UUID, int, int]
_FEATURE_UUID_PREFIX = "6cb71c2c-9812-4540-"
_NEGOTIATED = 0x8000_0000  # remembered in Association.features once negotiated


@dataclass(slots=True, eq=False)
class PresContext:
    """An accepted presentation context: the interface and its raw syntaxes."""

    interface: Interface
    abstract_raw: bytes
    transfer_raw: bytes
    ndr64: bool = False


@dataclass(slots=True, eq=False)
class Association:
    """What one connection has negotiated (the state bind reads and commits)."""

    max_xmit: int
    max_recv: int = 65535
    bound: bool = False
    group: AssociationGroup | None = None
    contexts: dict[int, PresContext] = field(default_factory=dict)
    auth: dict[int, AuthCtx] = field(default_factory=dict)
    main_auth: AuthCtx | None = None
    header_sign: bool = False
    features: int = 0


class BindEnv(Protocol):
    """The server side a bind reads: interfaces, providers, groups, limits."""

    @property
    def port(self) -> int: ...
    @property
    def limits(self) -> RpcLimits: ...
    @property
    def providers(self) -> Mapping[int, SecurityProvider]: ...
    @property
    def admission(self) -> Callable[[int, P.BindPdu], int | None] | None: ...

    def find_interface(self, uuid: uuidlib.UUID, major: int) -> Interface | None: ...
    def find_group(self, gid: int) -> AssociationGroup | None: ...
    def new_group(self) -> AssociationGroup: ...
    def register_group(self, group: AssociationGroup) -> None: ...


@dataclass(slots=True)
class BindReply:
    """What to send (bind_ack / alter_context_resp / bind_nak / fault) and whether to close."""

    pdu: bytes
    close: bool = False


class _Nak(Exception):
    def __init__(self, reason: int, why: str) -> None:
        super().__init__(why)
        self.reason = reason
        self.why = why


class _Fault(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


@dataclass(slots=True)
class _Negotiated:
    results: list[P.ResultItem]
    contexts: dict[int, PresContext]
    features: int


def _feature_bits(elem: P.ContextElem) -> int | None:
    """The bitmask of a bind-time feature negotiation context (MS-RPCE 2.2.2.14), else None.

    Only a context whose *first* transfer syntax is the feature syntax counts, and
    only that first syntax's bits (Samba raw_protocol.py
    test_no_auth_bind_time_only_first / *_ignore_additional).
    """
    first = elem.transfers[0]
    if str(first[0]).startswith(_FEATURE_UUID_PREFIX):
        return int.from_bytes(first[0].bytes_le[8:16], "little")
    return None


def _served(elem: P.ContextElem, env: BindEnv) -> Interface | None:
    iface = env.find_interface(elem.abstract[0], elem.abstract[1])
    if iface is None or elem.abstract[2] > iface.version[1]:
        return None
    return iface


def preferred_syntaxes(body: P.BindPdu, env: BindEnv) -> dict[tuple[uuidlib.UUID, int], Syntax]:
    """The one transfer syntax accepted per abstract syntax in this PDU (MS-RPCE 3.3.1.5.6).

    "The server SHOULD accept, at most, one of the transfer syntaxes": the server's
    preferred syntax if any context proposes it, else the first proposed one it
    supports.  Our preference is NDR64 on interfaces that serve it, as the RPC
    runtime of a 64-bit Windows Server prefers the 64-bit syntax ("Transfer
    Syntax and NDR64", Windows RPC documentation), and NDR 2.0 elsewhere.
    """
    chosen: dict[tuple[uuidlib.UUID, int], Syntax] = {}
    for elem in body.contexts:
        iface = _served(elem, env)
        if iface is None or _feature_bits(elem) is not None:
            continue
        key = (elem.abstract[0], elem.abstract[1])
        if iface.ndr64 and NDR64 in elem.transfers:
            chosen[key] = NDR64
        elif key not in chosen and NDR20 in elem.transfers:
            chosen[key] = NDR20
    return chosen


def check_or_create_context(elem: P.ContextElem, assoc: Association, env: BindEnv,
                            chosen: dict[tuple[uuidlib.UUID, int], Syntax] | None = None,
                            ) -> tuple[P.ResultItem, PresContext | None]:
    """One presentation context's result (Samba ``dcesrv_check_or_create_context``).

    Unknown interface or a higher minor version → provider rejection reason 1;
    none of its transfer syntaxes is the one chosen for its interface → reason 2
    (MS-RPCE 3.3.1.5.6); a context id re-bound to another interface → reason 0.
    """
    iface = _served(elem, env)
    if iface is None:
        return P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                            P.RESULT.ABSTRACT_SYNTAX_NOT_SUPPORTED, None), None
    want = (chosen or {}).get((elem.abstract[0], elem.abstract[1]), NDR20)
    raw = next((r for t, r in zip(elem.transfers, elem.raw_transfers) if t == want), None)
    if raw is None:
        return P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                            P.RESULT.TRANSFER_SYNTAXES_NOT_SUPPORTED, None), None
    existing = assoc.contexts.get(elem.ctx_id)
    if existing is not None and existing.interface is not iface:
        return P.ResultItem(P.RESULT.PROVIDER_REJECTION, P.RESULT.REASON_NOT_SPECIFIED,
                            None), None
    pres = PresContext(iface, P.pack_syntax(elem.abstract), raw, want == NDR64)
    return P.ResultItem(P.RESULT.ACCEPTANCE, 0, want), pres


def negotiate_contexts(body: P.BindPdu, assoc: Association, env: BindEnv,
                       alter: bool) -> _Negotiated:
    """One result per offered context, in order (Samba ``dcesrv_negotiate_contexts``).

    The first bind-time feature negotiation context gets negotiate_ack with the
    granted bits; a second one on a bind is a bind_nak, on an alter_context a
    provider rejection (MS-RPCE 3.3.1.5.3; Samba raw_protocol.py
    test_no_auth_bind_time_twice).  For the others see
    :func:`check_or_create_context` and :func:`preferred_syntaxes`.
    """
    out = _Negotiated([], {}, assoc.features)
    saw_feature = False
    chosen = preferred_syntaxes(body, env)
    for elem in body.contexts:
        bits = _feature_bits(elem)
        if bits is not None:
            if saw_feature or assoc.features:
                if not alter:
                    raise _Nak(P.BINDNAK_REASON.NOT_SPECIFIED,
                               "second bind-time feature negotiation context")
                out.results.append(P.ResultItem(P.RESULT.PROVIDER_REJECTION,
                                                P.RESULT.REASON_NOT_SPECIFIED, None))
                continue
            saw_feature = True
            granted = bits & env.limits.features
            out.results.append(P.ResultItem(P.RESULT.NEGOTIATE_ACK, granted, None))
            out.features = granted | _NEGOTIATED
            continue
        result, pres = check_or_create_context(elem, assoc, env, chosen)
        out.results.append(result)
        if pres is not None:
            out.contexts[elem.ctx_id] = pres
    return out


def _check_bind(hdr: P.CommonHeader, body: P.BindPdu, assoc: Association, env: BindEnv,
                alter: bool, conn_id: int) -> AssociationGroup:
    """State and version checks, then the association group (MS-RPCE 3.3.1.5.6)."""
    if not alter and assoc.bound:
        raise _Nak(P.BINDNAK_REASON.NOT_SPECIFIED, "second bind on a connection")
    if alter and not assoc.bound:
        raise _Nak(P.BINDNAK_REASON.NOT_SPECIFIED, "alter_context before bind")
    if hdr.vers != 5 or hdr.vers_minor > 1:
        raise _Nak(P.BINDNAK_REASON.PROTOCOL_VERSION_NOT_SUPPORTED, "version")
    if alter:
        assert assoc.group is not None
        return assoc.group
    gid = body.assoc_group_id
    group = env.new_group() if gid == 0 else env.find_group(gid)
    if group is None:
        raise _Nak(P.BINDNAK_REASON.NOT_SPECIFIED, f"unknown association group 0x{gid:08x}")
    if env.admission is not None:
        refusal = env.admission(conn_id, body)
        if refusal is not None:
            raise _Nak(refusal, "refused by the scenario")
    return group


def _commit_bind(hdr: P.CommonHeader, body: P.BindPdu, assoc: Association, env: BindEnv,
                 group: AssociationGroup) -> None:
    """First bind: join the group, clamp and round the fragment sizes (MS-RPCE 3.3.1.5.3)."""
    assoc.group = group
    group.connections += 1
    assoc.bound = True
    if env.find_group(group.id) is None:
        env.register_group(group)
    size = min(body.max_xmit_frag, body.max_recv_frag, env.limits.max_frag)
    size = max(size, env.limits.min_frag)
    size -= size % 8
    assoc.max_xmit = assoc.max_recv = size
    if hdr.flags & P.PFC.SUPPORT_HEADER_SIGN:
        assoc.header_sign = True


def _record_bind(record: Record, kind: str, hdr: P.CommonHeader, body: P.BindPdu,
                 trailer: P.SecTrailer | None) -> None:
    record(kind, call_id=hdr.call_id, assoc_group=body.assoc_group_id,
           contexts=[(c.ctx_id, str(c.abstract[0]), f"{c.abstract[1]}.{c.abstract[2]}",
                      [str(t[0]) for t in c.transfers]) for c in body.contexts],
           max_xmit=body.max_xmit_frag, max_recv=body.max_recv_frag,
           flags=hdr.flags, auth_type=trailer.auth_type if trailer else 0,
           auth_level=trailer.auth_level if trailer else 0)


def _nak(call_id: int, reason: int, why: str, record: Record) -> BindReply:
    record("bind_nak", call_id=call_id, reason=reason, error=why)
    body = P.pack_bind_nak(reason)
    return BindReply(P.pack_header(P.PTYPE.BIND_NAK, P.PFC.FIRST_FRAG | P.PFC.LAST_FRAG,
                                   16 + len(body), 0, call_id) + body, close=True)


def _alter_fault(call_id: int, status: int, why: str, record: Record) -> BindReply:
    record("fault", call_id=call_id, status=status, error=why)
    return BindReply(P.pack_fault(call_id, 0, status, did_not_execute=True))


def _ack(hdr: P.CommonHeader, assoc: Association, env: BindEnv, alter: bool,
         results: list[P.ResultItem], trailer: P.SecTrailer | None,
         out_token: bytes | None) -> bytes:
    """The bind_ack / alter_context_resp PDU (C706 §12.6.4.4, MS-RPCE 2.2.2.4)."""
    group = assoc.group
    flags = P.PFC.FIRST_FRAG | P.PFC.LAST_FRAG
    if hdr.flags & P.PFC.CONC_MPX:
        flags |= P.PFC.CONC_MPX
    if assoc.header_sign and not alter:
        flags |= P.PFC.SUPPORT_HEADER_SIGN
    sec_addr = b"" if alter else str(env.port).encode() + b"\x00"
    ack = P.pack_bind_ack(assoc.max_xmit, assoc.max_recv, group.id if group else 0,
                          sec_addr, results)
    ptype = P.PTYPE.ALTER_CONTEXT_RESP if alter else P.PTYPE.BIND_ACK
    auth_part = b""
    auth_len = 0
    if trailer is not None and out_token is not None:
        pad = (-(16 + len(ack))) % 4
        auth_part = b"\x00" * pad + P.pack_sec_trailer(
            trailer.auth_type, trailer.auth_level, pad, trailer.context_id) + out_token
        auth_len = len(out_token)
    frag_len = 16 + len(ack) + len(auth_part)
    return P.pack_header(ptype, flags, frag_len, auth_len, hdr.call_id) + ack + auth_part


def negotiate(pdu: bytes, alter: bool, assoc: Association, env: BindEnv, conn_id: int,
              record: Record) -> BindReply:
    """Answer one bind or alter_context PDU (Samba ``dcesrv_bind`` / ``dcesrv_alter``)."""
    hdr = P.parse_header(pdu)
    call_id = hdr.call_id
    trailer, token, auth_off = split_auth(pdu)
    body = P.parse_bind(pdu[16:auth_off])
    _record_bind(record, "alter_context" if alter else "bind", hdr, body, trailer)
    try:
        group = _check_bind(hdr, body, assoc, env, alter, conn_id)
        neg = negotiate_contexts(body, assoc, env, alter)
    except _Nak as nak:
        return _nak(call_id, nak.reason, nak.why, record)
    out_token: bytes | None = None
    if trailer is not None:
        try:
            auth_ctx, out_token = bind_leg(assoc.auth, env.providers, trailer, token, alter,
                                           call_id, record)
        except LegRefused as refused:
            if refused.nak is not None:
                return _nak(call_id, refused.nak, refused.why, record)
            assert refused.status is not None
            return _alter_fault(call_id, refused.status, refused.why, record)
        assoc.auth[trailer.context_id] = auth_ctx
        if assoc.main_auth is None:
            assoc.main_auth = auth_ctx
    if not alter:
        _commit_bind(hdr, body, assoc, env, group)
    assoc.contexts.update(neg.contexts)
    assoc.features = neg.features
    reply = _ack(hdr, assoc, env, alter, neg.results, trailer, out_token)
    record("bind_ack" if not alter else "alter_context_resp", call_id=call_id,
           assoc_group=group.id, max_frag=assoc.max_xmit,
           results=[(r.result, r.reason) for r in neg.results],
           header_sign=assoc.header_sign, auth_token=out_token is not None)
    return BindReply(reply)

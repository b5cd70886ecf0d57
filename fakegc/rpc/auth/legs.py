"""The authentication legs of a connection (MS-RPCE 3.3.1.5.2, 2.2.2.11-2.2.2.13).

A security context is created by the first bind / alter_context carrying a
sec_trailer for a new ``auth_context_id``, stepped by later alter_context or
auth3 legs, and then checks (integrity) or unseals (privacy) every request and
protects every response fragment.  Nothing here touches a socket: callers pass
the PDU bytes and get tokens, stubs or :class:`LegRefused` back.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fakegc.codes import RpcStatus
from fakegc.rpc.auth.base import (
    LEVEL_CONNECT,
    LEVEL_INTEGRITY,
    LEVEL_PKT,
    LEVEL_PRIVACY,
    AuthError,
    SecurityContext,
    SecurityProvider,
    protect_by_copy,
)
from fakegc.wire import pdu as P

__all__ = [
    "AuthCtx",
    "LegRefused",
    "Record",
    "auth3_leg",
    "bind_leg",
    "protect_response",
    "split_auth",
    "unprotect_request",
]

#: ``record(kind, **fields)``: one journal entry for this connection.
Record = Callable[..., None]

_LEVELS = (LEVEL_CONNECT, LEVEL_PKT, LEVEL_INTEGRITY, LEVEL_PRIVACY)


@dataclass(slots=True, eq=False)
class AuthCtx:
    """One security context of a connection, keyed by its auth_context_id."""

    context: SecurityContext
    auth_type: int
    level: int
    context_id: int
    failed: bool = False
    verified_once: bool = False


class LegRefused(Exception):
    """An auth leg the bind must refuse: a bind_nak ``reason`` or an alter fault ``status``."""

    def __init__(self, why: str, *, nak: int | None = None, status: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.nak = nak
        self.status = status


def split_auth(pdu: bytes) -> tuple[P.SecTrailer | None, bytes, int]:
    """(sec_trailer, auth_value, offset of the sec_trailer) of a PDU (MS-RPCE 2.2.2.11)."""
    auth_len = pdu[10] | (pdu[11] << 8)
    if not auth_len:
        return None, b"", len(pdu)
    off = len(pdu) - auth_len - 8
    if off < 16:
        raise P.PduError("auth_length larger than the PDU")
    trailer = P.parse_sec_trailer(pdu, off)
    return trailer, pdu[off + 8:], off


def _new_ctx(providers: Mapping[int, SecurityProvider], trailer: P.SecTrailer) -> AuthCtx:
    provider = providers.get(trailer.auth_type)
    if provider is None:
        raise LegRefused(f"auth type {trailer.auth_type} not supported",
                         nak=P.BINDNAK_REASON.AUTHENTICATION_TYPE_NOT_RECOGNIZED)
    if trailer.auth_level not in _LEVELS:
        raise LegRefused(f"auth level {trailer.auth_level} not supported",
                         nak=P.BINDNAK_REASON.NOT_SPECIFIED)
    return AuthCtx(provider.new_context(), trailer.auth_type, trailer.auth_level,
                   trailer.context_id)


def auth_done(auth_ctx: AuthCtx, call_id: int, record: Record) -> None:
    """Journal a completed security context."""
    ctx = auth_ctx.context
    record("auth", call_id=call_id, mech=ctx.mech, user=ctx.user, domain=ctx.domain,
           level=auth_ctx.level, auth_type=auth_ctx.auth_type)


def bind_leg(auth: Mapping[int, AuthCtx], providers: Mapping[int, SecurityProvider],
             trailer: P.SecTrailer, token: bytes, alter: bool, call_id: int,
             record: Record) -> tuple[AuthCtx, bytes | None]:
    """The auth leg of a bind / alter_context: (context, token to answer or None).

    A new context id creates a context from its provider (unknown type →
    bind_nak reason 9); a known one must keep its type and level (else a
    proto_error fault).  A failed step is a bind_nak reason 5 on bind and an
    access-denied fault on alter_context, as Windows answers.
    """
    auth_ctx = auth.get(trailer.context_id)
    if auth_ctx is None:
        auth_ctx = _new_ctx(providers, trailer)
    elif auth_ctx.auth_type != trailer.auth_type or auth_ctx.level != trailer.auth_level:
        raise LegRefused("auth type/level changed on a security context",
                         status=RpcStatus.nca_s_proto_error)
    if auth_ctx.context.complete:
        return auth_ctx, None
    try:
        step = auth_ctx.context.step(token)
    except AuthError as exc:
        record("auth_failed", call_id=call_id, reason=exc.reason, auth_type=trailer.auth_type)
        if alter:
            raise LegRefused(exc.reason, status=RpcStatus.rpc_s_access_denied) from None
        raise LegRefused(exc.reason, nak=P.BINDNAK_REASON.INVALID_CHECKSUM) from None
    if step.complete:
        auth_done(auth_ctx, call_id, record)
    return auth_ctx, step.token


def auth3_leg(auth: Mapping[int, AuthCtx], pdu: bytes, record: Record) -> None:
    """The third leg (rpc_auth3, MS-RPCE 2.2.2.10): no answer is ever sent."""
    trailer, token, _ = split_auth(pdu)
    call_id = int.from_bytes(pdu[12:16], "little") if len(pdu) >= 16 else 0
    if trailer is None:
        record("protocol_error", call_id=call_id, error="auth3 without auth")
        return
    auth_ctx = auth.get(trailer.context_id)
    if auth_ctx is None or auth_ctx.context.complete:
        record("protocol_error", call_id=call_id, error="auth3 for an unknown or complete context")
        return
    try:
        step = auth_ctx.context.step(token)
    except AuthError as exc:
        auth_ctx.failed = True
        record("auth_failed", call_id=call_id, reason=exc.reason, auth_type=trailer.auth_type)
        return
    if step.complete:
        auth_done(auth_ctx, call_id, record)


def unprotect_request(auth_ctx: AuthCtx, pdu: bytes, stub_offset: int, auth_off: int,
                      trailer: P.SecTrailer, signature: bytes, header_sign: bool) -> bytes:
    """The request stub after signature check / unsealing and auth padding removal.

    Raises :class:`AuthError` when the signature does not verify.
    """
    body = pdu[stub_offset:auth_off]
    if auth_ctx.level >= LEVEL_PKT:
        header = pdu[:stub_offset]
        sec = pdu[auth_off:auth_off + 8]
        body = auth_ctx.context.verify(auth_ctx.level, header, body, sec, signature, header_sign)
        auth_ctx.verified_once = True
    if trailer.pad_length:
        if trailer.pad_length > len(body):
            raise P.PduError("auth pad longer than the stub")
        body = body[:len(body) - trailer.pad_length]
    return body


# common header (C706 §12.6.3.1) + response header (§12.6.4.10): one pack per fragment
_RESPONSE_HEADER = struct.Struct("<BBBB4sHHIIHBB")
_LE_DREP = b"\x10\x00\x00\x00"

#: ``protect_into(level, out, start, body, trailer, plain, header_sign)``: see
#: :meth:`fakegc.rpc.auth.ntlm.NtlmContext.protect_into`.
ProtectInto = Callable[[int, memoryview, int, int, int, bytes | memoryview, bool], None]


def _via_protect(sec: SecurityContext) -> ProtectInto:
    """``protect_into`` for a context that only has ``protect``: the parts are copied out of
    the answer buffer, protected, and the results copied back."""
    return functools.partial(protect_by_copy, sec)


def protect_response(main: AuthCtx, stub: bytes, call_id: int, ctx_id: int, max_xmit: int,
                     header_sign: bool) -> bytearray:
    """Response fragments of ``stub`` signed or sealed under ``main`` (MS-RPCE 3.3.1.5.2.2).

    Each fragment's stub is padded to 16 bytes and carries its own sec_trailer.  The whole
    answer is one buffer sized up front: headers and trailers are packed into it, each body
    is read from ``stub`` through a memoryview and written once, sealed or signed in place
    by the context's ``protect_into`` (NTLM's, Kerberos'; others through :func:`_via_protect`).
    """
    sec = main.context
    level = main.level
    sig_len = sec.signature_size(level)
    room = max_xmit - 24 - 8 - sig_len
    room = max(room - room % 16, 16)  # a tiny configured max_frag must never loop forever
    total = len(stub)
    last = max(0, -(-total // room) - 1)  # index of the last fragment
    last_len = total - last * room
    pad = (-last_len) % 16
    full = 24 + room + 8 + sig_len
    buf = bytearray(full * last + 24 + last_len + pad + 8 + sig_len)
    out = memoryview(buf)
    src = memoryview(stub)
    protect_into: ProtectInto | None = getattr(sec, "protect_into", None)
    if protect_into is None:
        protect_into = _via_protect(sec)
    trailer = P.pack_sec_trailer(main.auth_type, level, 0, main.context_id)
    pack = _RESPONSE_HEADER.pack_into
    response = P.PTYPE.RESPONSE
    pos = 0
    for i in range(last):  # every fragment but the last: full, unpadded
        off = i * room
        pack(buf, pos, 5, 0, response, 0 if i else P.PFC.FIRST_FRAG, _LE_DREP, full, sig_len,
             call_id, total - off, ctx_id, 0, 0)
        end = pos + 24 + room
        out[end:end + 8] = trailer
        protect_into(level, out, pos, pos + 24, end, src[off:off + room], header_sign)
        pos += full
    off = last * room
    plain: bytes | memoryview = src[off:]
    if pad:
        plain = bytes(plain) + bytes(pad)
        trailer = P.pack_sec_trailer(main.auth_type, level, pad, main.context_id)
    end = pos + 24 + last_len + pad
    pack(buf, pos, 5, 0, response, P.PFC.LAST_FRAG | (0 if last else P.PFC.FIRST_FRAG), _LE_DREP,
         len(buf) - pos, sig_len, call_id, last_len, ctx_id, 0, 0)
    out[end:end + 8] = trailer
    protect_into(level, out, pos, pos + 24, end, plain, header_sign)
    return buf

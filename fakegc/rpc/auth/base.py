"""Security providers for connection-oriented RPC (MS-RPCE 2.2.2.11, 3.3.1.5.2).

The engine owns framing; a provider owns the token exchange and per-PDU
protection.  One :class:`SecurityContext` exists per (connection, auth_context_id).

PDU protection contract (the engine calls these; all byte strings are final):

* ``header``  — the PDU's bytes before the stub: the 16-byte common header plus the
  request/response header (8 bytes, or 24 with an object UUID), with
  ``frag_length`` and ``auth_length`` already final.
* ``body``    — stub data plus auth padding (what is sealed at privacy level).
* ``trailer`` — the 8-byte sec_trailer.

NTLM signs ``header + body + trailer`` (always); Kerberos/GSS signs ``body`` only,
or ``header`` and ``trailer`` too as sign-only buffers when header signing was
negotiated (``header_sign``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "LEVEL_CALL",
    "LEVEL_CONNECT",
    "LEVEL_INTEGRITY",
    "LEVEL_NONE",
    "LEVEL_PKT",
    "LEVEL_PRIVACY",
    "RPC_C_AUTHN_GSS_KERBEROS",
    "RPC_C_AUTHN_GSS_NEGOTIATE",
    "RPC_C_AUTHN_NONE",
    "RPC_C_AUTHN_WINNT",
    "AuthError",
    "Credentials",
    "SecurityContext",
    "SecurityProvider",
    "StepResult",
    "protect_by_copy",
]

RPC_C_AUTHN_NONE = 0
RPC_C_AUTHN_GSS_NEGOTIATE = 9
RPC_C_AUTHN_WINNT = 10
RPC_C_AUTHN_GSS_KERBEROS = 16

LEVEL_NONE = 1
LEVEL_CONNECT = 2
LEVEL_CALL = 3
LEVEL_PKT = 4
LEVEL_INTEGRITY = 5
LEVEL_PRIVACY = 6


class AuthError(Exception):
    """Authentication failed or a PDU failed verification.

    ``status`` is the fault / bind_nak status to answer with (default 5, access
    denied); ``reason`` is a short text for the journal.
    """

    def __init__(self, reason: str, status: int = 5) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(slots=True)
class StepResult:
    """Outcome of one leg of the token exchange.

    ``token``: bytes to send back (None: nothing to send; an AUTH3 leg sends none).
    ``complete``: the context is established after this leg.
    """

    token: bytes | None
    complete: bool


class SecurityContext(Protocol):
    """Server side of one security context."""

    auth_type: int
    complete: bool
    user: str | None
    domain: str | None
    mech: str

    def step(self, token: bytes) -> StepResult:
        """Consume a client token (from bind, alter_context or auth3)."""
        ...

    def signature_size(self, level: int = 6) -> int:
        """auth_length of a PDU this context signs (level 5) or seals (level 6)."""
        ...

    def verify(self, level: int, header: bytes, body: bytes, trailer: bytes,
               signature: bytes, header_sign: bool) -> bytes:
        """Check (and at privacy, unseal) an incoming PDU; return the plain body.

        Raises :class:`AuthError` on a bad signature.
        """
        ...

    def protect(self, level: int, header: bytes, body: bytes, trailer: bytes,
                header_sign: bool) -> tuple[bytes, bytes]:
        """Sign (and at privacy, seal) an outgoing PDU: returns (body, signature)."""
        ...


def protect_by_copy(ctx: SecurityContext, level: int, out: memoryview, start: int, body: int,
                    trailer: int, plain: bytes | memoryview, header_sign: bool) -> None:
    """``protect_into`` through ``ctx.protect``: a fragment laid out in ``out`` (header at
    ``start``, body at ``body``, sec_trailer at ``trailer``) is copied out, protected, and the
    body and signature copied back (fakegc.rpc.auth.legs.protect_response)."""
    sealed, sig = ctx.protect(level, bytes(out[start:body]), bytes(plain),
                              bytes(out[trailer:trailer + 8]), header_sign)
    out[body:trailer] = sealed
    out[trailer + 8:trailer + 8 + len(sig)] = sig


class Credentials(Protocol):
    """Where providers look up secrets (built by the cluster from the directory/KDC)."""

    realm: str
    netbios_domain: str

    def nt_hash(self, user: str) -> bytes | None:
        """NT hash (MD4 of UTF-16LE password) of ``user`` (sAMAccountName), or None."""
        ...

    def service_keys(self, principal: str) -> dict[int, bytes]:
        """Long-term keys {etype: key} of a service principal like ``exchangeAB/gc01.contoso.test``."""
        ...


class SecurityProvider(Protocol):
    """Factory of server-side contexts for one auth type."""

    auth_type: int

    def new_context(self) -> SecurityContext:
        """A fresh context for a new (connection, auth_context_id)."""
        ...

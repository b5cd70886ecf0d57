"""Per-server limits of the DCE/RPC engine and the bind-time features it grants.

Bind-time feature negotiation bits: MS-RPCE 2.2.2.14 / 3.3.1.5.3.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FEATURE_KEEP_CONNECTION_ON_ORPHAN",
    "FEATURE_SECURITY_CONTEXT_MULTIPLEXING",
    "RpcLimits",
]

FEATURE_SECURITY_CONTEXT_MULTIPLEXING = 0x01
FEATURE_KEEP_CONNECTION_ON_ORPHAN = 0x02


@dataclass(slots=True)
class RpcLimits:
    """Per-server limits; each over-limit event hits only the offending connection."""

    max_frag: int = 5840  # upper bound of the negotiated fragment size
    min_frag: int = 2048  # lower bound of the negotiated fragment size (Windows)
    max_request: int = 4 * 1024 * 1024  # reassembled request stub
    max_connections: int = 20_000
    max_calls_in_flight: int = 64  # per connection: reassembling + delayed + dropped
    idle_timeout: float = 900.0  # seconds without a complete PDU before the server closes
    max_buffered: int = 8 * 1024 * 1024  # per connection: every call being reassembled
    max_unauth_buffered: int = 1024 * 1024  # the same, before a security context completes
    max_unauth_per_source: int = 16 * 1024 * 1024  # unauthenticated, per source address
    features: int = FEATURE_KEEP_CONNECTION_ON_ORPHAN  # bind-time features we grant

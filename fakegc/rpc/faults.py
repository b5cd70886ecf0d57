"""The closed set of injectable faults at the RPC layer (docs/ARCHITECTURE.md, Faults).

A fault injector (``RpcServer.injector``) is a cheap synchronous function of the
:class:`~fakegc.rpc.registry.CallContext` returning an :class:`Action` or None;
``RpcServer.on_connect`` gets ``(conn, peer)`` and may return ``refuse``/``reset``.
The scenario engine builds both from its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Action", "ActionKind"]

ActionKind = Literal["fault", "status", "reset", "drop", "delay", "refuse"]


@dataclass(frozen=True, slots=True)
class Action:
    """What to do with a call (or a new connection).

    * ``fault``  — answer a fault PDU with status ``value``.
    * ``status`` — let the operation answer with interface return code ``value``
      (sets ``CallContext.forced_status``; NSPI/RFR encode their own error reply).
    * ``reset``  — abort the TCP connection (the client sees 1726 / a reset).
    * ``drop``   — never answer this call (the connection stays open).
    * ``delay``  — wait ``delay`` seconds, then serve normally.
    * ``refuse`` — (connections only) close at once without reading.

    ``delay`` is also honoured before any other kind.
    """

    kind: ActionKind
    value: int = 0
    delay: float = 0.0
    rule: str = ""

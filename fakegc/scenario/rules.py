"""Fault rules: the closed set of injectable faults and how they match (docs/ARCHITECTURE.md, Faults).

A :class:`FaultRule` matches actor / interface / opnum (or operation name) /
principal / count with a seeded probability, and does one of:

* ``rpc_fault``   — a fault PDU with status ``value`` (e.g. 0x1C00001A)
* ``nspi_status`` — the operation answers with NSPI/RFR return code ``value``
* ``reset``       — the TCP connection is reset (the client sees 1726)
* ``refuse``      — new connections to the actor are closed at once (1722-like)
* ``delay``       — the call is served after ``delay`` seconds
* ``drop``        — the call is never answered
* ``krb_error``   — the KDC answers KRB-ERROR ``value`` (compiled to a KDC rule)

RPC kinds compile into one injector per server (:func:`injector_for`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from fakegc.firing import Firing
from fakegc.rpc.faults import Action
from fakegc.rpc.registry import CallContext
from fakegc.scenario.events import RULE_KINDS

__all__ = ["KINDS", "FaultRule", "injector_for", "on_connect_for"]

KINDS = RULE_KINDS
_ACTION = {"rpc_fault": "fault", "nspi_status": "status", "reset": "reset", "delay": "delay",
           "drop": "drop", "refuse": "refuse"}


@dataclass(kw_only=True)
class FaultRule(Firing):
    """One fault rule (see module docstring)."""

    kind: str
    actor: str = "*"
    interface: str = "*"
    opnum: int | None = None
    op: str | None = None
    principal: str = "*"
    service: str = "*"
    msg: str = "*"
    value: int = 0
    delay: float = 0.0
    name: str = ""
    id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        self.reseed()

    def to_dict(self) -> dict[str, Any]:
        """JSON view for the control plane."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def matches_call(self, actor: str, ctx: CallContext) -> bool:
        """Does this (RPC-kind) rule apply to the call?"""
        if self.kind in ("krb_error", "refuse"):
            return False
        if not fnmatch.fnmatch(actor, self.actor):
            return False
        if not fnmatch.fnmatch(ctx.interface.name, self.interface):
            return False
        if self.opnum is not None and ctx.opnum != self.opnum:
            return False
        op = ctx.interface.operations.get(ctx.opnum)
        if self.op is not None and (op is None or op.name != self.op):
            return False
        principal = (ctx.auth.principal if ctx.auth else None) or ""
        if self.principal != "*" and not fnmatch.fnmatch(principal.lower(), self.principal.lower()):
            return False
        return self.count()

    def action(self) -> Action:
        """The engine-level action."""
        kind = _ACTION[self.kind]
        return Action(kind, int(self.value), float(self.delay), self.name or f"rule-{self.id}")  # type: ignore[arg-type]


def injector_for(actor: str, rules: list[FaultRule]) -> Any:
    """An RpcServer.injector evaluating ``rules`` (a live list) for ``actor``."""

    def injector(ctx: CallContext) -> Action | None:
        for rule in rules:
            if rule.matches_call(actor, ctx):
                return rule.action()
        return None

    return injector


def on_connect_for(actor: str, rules: list[FaultRule]) -> Any:
    """An RpcServer.on_connect applying ``refuse`` rules for ``actor``."""

    def on_connect(conn: int, peer: Any) -> Action | None:
        for rule in rules:
            if rule.kind == "refuse" and fnmatch.fnmatch(actor, rule.actor) and rule.count():
                return rule.action()
        return None

    return on_connect

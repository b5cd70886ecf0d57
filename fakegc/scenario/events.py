"""The scenario vocabulary as data: events with their parameters, fault-rule kinds and fields.

Kept free of imports so ``fakegc ctl`` can check a command line before it sends anything
without loading the cluster stack.  :mod:`fakegc.scenario.cluster` (``Cluster.fire``'s
handlers) and :mod:`fakegc.scenario.rules` (``FaultRule``) are the implementations; a test
checks they agree with these tables.
"""

from __future__ import annotations

__all__ = ["EVENTS", "EVENT_PARAMS", "FREE_FORM", "RULE_FIELDS", "RULE_KINDS"]

# event -> {parameter: type}; every parameter is optional (``gc`` defaults to the
# referral's current GC)
EVENT_PARAMS: dict[str, dict[str, type]] = {
    "shutdown_begin": {"gc": str, "code": int},
    "gc_down": {"gc": str, "deregister": bool},
    "new_gc_ready": {"gc": str},
    "gc_restart": {"gc": str, "keep_guid": bool},
    "kdc_skew": {"seconds": float},
    "pin_referral": {"gc": str},
    "custom": {},
}
EVENTS = tuple(EVENT_PARAMS)
FREE_FORM = frozenset({"custom"})  # events taking any parameters (journaled as given)

RULE_KINDS = ("rpc_fault", "nspi_status", "reset", "refuse", "delay", "drop", "krb_error")
# FaultRule field -> type; ``kind`` is required
RULE_FIELDS: dict[str, type] = {
    "kind": str, "actor": str, "interface": str, "opnum": int, "op": str, "principal": str,
    "service": str, "msg": str, "value": int, "delay": float, "name": str, "after": int,
    "times": int, "probability": float, "seed": int,
}

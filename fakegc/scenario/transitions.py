"""The scenario events as the cluster's state transitions (PROTOCOL.md §2).

:class:`ClusterEvents` is mixed into :class:`fakegc.scenario.cluster.Cluster`: ``fire``
checks the name against :data:`fakegc.scenario.events.EVENTS`, journals it and runs
``_on_<event>``; each handler changes the actors, the KDC's rules and the cluster state
as the event table of ``cluster.py``'s docstring says.
"""

from __future__ import annotations

import uuid as uuidlib
from enum import Enum
from typing import Any

from fakegc.journal import Journal
from fakegc.kdc.server import Kdc
from fakegc.scenario.actors import GcActor, GcState
from fakegc.scenario.config import ClusterConfig
from fakegc.scenario.events import EVENTS

__all__ = ["ClusterEvents", "ClusterState"]


class ClusterState(str, Enum):
    """The scenario states of PROTOCOL.md §2."""

    HEALTHY = "HEALTHY"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    DOWN = "DOWN"
    NEW_GC = "NEW_GC"


class ClusterEvents:
    """The event handlers of a cluster (see the module docstring)."""

    config: ClusterConfig
    journal: Journal
    kdc: Kdc
    gcs: dict[str, GcActor]
    state: ClusterState
    current_gc: str
    pinned_gc: str | None
    lab: Any  # the lab network (fakegc.lab.network.LabNetwork) in lab mode, else None

    def gc(self, name: str | None = None) -> GcActor:
        """The GC ``name`` (default: the referral's current one); provided by the cluster."""
        raise NotImplementedError

    def _set_state(self, state: ClusterState) -> None:
        if state is not self.state:
            self.journal.record("scenario", "state", previous=self.state.value, state=state.value,
                                gc=self.current_gc)
            self.state = state

    async def fire(self, event: str, **args: Any) -> dict[str, Any]:
        """Apply one event (module docstring); returns a summary."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r} (one of {', '.join(EVENTS)})")
        self.journal.record("scenario", "event", event=event, **{k: v for k, v in args.items()})
        handler = getattr(self, f"_on_{event}")
        try:
            result: dict[str, Any] = await handler(**args)
        except (KeyError, ValueError, TypeError) as exc:  # journaled: the event did not apply
            self.journal.record("scenario", "event_refused", event=event,
                                error=str(exc.args[0] if exc.args else exc))
            raise
        return result

    async def _on_shutdown_begin(self, gc: str | None = None, code: int | None = None) -> dict[str, Any]:
        actor = self.gc(gc)
        actor.state = GcState.SHUTTING_DOWN
        actor.accepting_binds = False
        cut = sum(server.cut_connections("shutdown_begin") for server in actor.servers())
        if actor.kdc_rule is None:
            actor.kdc_rule = self.kdc.add_rule(
                action="error", code=code if code is not None else self.config.principal_unknown_code,
                msg="TGS", service=actor.principal_name, name=f"{actor.name} shutting down")
        self._set_state(ClusterState.SHUTTING_DOWN)
        return {"gc": actor.name, "connections_cut": cut}

    async def _on_gc_down(self, gc: str | None = None, deregister: bool | None = None) -> dict[str, Any]:
        actor = self.gc(gc)
        if self.lab is not None:
            self.lab.gc_down(actor.name, deregister)
        if actor.state is GcState.UP:
            await self._on_shutdown_begin(actor.name)
        actor.state = GcState.DOWN
        for server in actor.servers():
            await server.stop_listening()
            server.cut_connections("gc_down")
        self._set_state(ClusterState.DOWN)
        return {"gc": actor.name}

    async def _on_new_gc_ready(self, gc: str | None = None) -> dict[str, Any]:
        if gc is None:
            gc = next((n for n, a in self.gcs.items() if n != self.current_gc and a.state is GcState.UP),
                      None)
            if gc is None:
                raise ValueError("no other GC is up to become the new GC")
        actor = self.gc(gc)
        if actor.state is not GcState.UP:
            raise ValueError(f"{gc} is {actor.state.value}; restart it before referring to it")
        self.current_gc = actor.name
        self._set_state(ClusterState.NEW_GC)
        return {"gc": actor.name}

    async def _on_gc_restart(self, gc: str | None = None, keep_guid: bool = False) -> dict[str, Any]:
        actor = self.gc(gc)
        for server in actor.servers():
            server.cut_connections("gc_restart")
            server.reset_associations()
            await server.resume_listening()
        if not keep_guid:
            actor.server_guid = uuidlib.uuid4()
        actor.state = GcState.UP
        actor.accepting_binds = True
        if self.lab is not None:
            self.lab.gc_up(actor.name)
        if actor.kdc_rule is not None:
            self.kdc.remove_rule(actor.kdc_rule)
            actor.kdc_rule = None
        if all(a.state is GcState.UP for a in self.gcs.values()) and self.state is not ClusterState.NEW_GC:
            self._set_state(ClusterState.HEALTHY)
        return {"gc": actor.name, "server_guid": str(actor.server_guid)}

    async def _on_kdc_skew(self, seconds: float = 600.0) -> dict[str, Any]:
        self.kdc.clock_offset = float(seconds)
        return {"clock_offset": self.kdc.clock_offset}

    async def _on_pin_referral(self, gc: str | None = None) -> dict[str, Any]:
        if gc is not None:
            self.gc(gc)
        self.pinned_gc = gc
        return {"pinned": gc}

    async def _on_custom(self, **args: Any) -> dict[str, Any]:
        return dict(args)

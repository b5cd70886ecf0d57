"""Running a scenario's timeline against a cluster.

Steps fire at a time offset (``at``), after N matching journal entries
(``after = {kind = "request", op = "NspiQueryRows", count = 3}``), or on demand
(:meth:`ScenarioRunner.fire_next` / the control plane).  Every firing is journaled
by the cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fakegc.journal import Entry
from fakegc.scenario.config import ScenarioTarget
from fakegc.scenario.model import Scenario, Step

__all__ = ["ScenarioRunner"]


class ScenarioRunner:
    """Drives one scenario on one cluster."""

    def __init__(self, cluster: ScenarioTarget, scenario: Scenario, time_scale: float = 1.0) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.time_scale = time_scale  # tests run timelines faster (0.01 = 100x)
        self.fired: list[Step] = []
        self._cursor = 0
        self._unsubscribe: list[Any] = []

    async def install(self) -> None:
        """Install the scenario's fault rules and count-based triggers."""
        self.scenario.check_actors(self.cluster.gcs)
        for rule in self.scenario.fault_rules():
            self.cluster.add_rule(rule)
        self.cluster.journal.record("scenario", "event", event="scenario_start",
                                    scenario=self.scenario.name)
        loop = asyncio.get_running_loop()
        for step in self.scenario.steps:
            if step.after is not None:
                self._watch(step, loop)

    def _watch(self, step: Step, loop: asyncio.AbstractEventLoop) -> None:
        assert step.after is not None
        criteria = {k: v for k, v in step.after.items() if k not in ("kind", "count")}
        kind = step.after["kind"]
        target = int(step.after.get("count", 1))
        seen = 0

        def listener(entry: Entry) -> None:
            nonlocal seen
            if entry.kind != kind or not entry.matches(**criteria) or step in self.fired:
                return
            seen += 1
            if seen == target:
                loop.call_soon_threadsafe(lambda: loop.create_task(self._fire(step)))

        self._unsubscribe.append(self.cluster.journal.subscribe(listener))

    async def _fire(self, step: Step) -> dict[str, Any]:
        if step in self.fired:
            return {}
        self.fired.append(step)
        return await self.cluster.fire(step.event, **step.args)

    async def run_timeline(self) -> None:
        """Fire the ``at`` steps at their offsets (relative to now)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        timed = sorted((s for s in self.scenario.steps if s.at is not None), key=lambda s: s.at or 0)
        try:
            for step in timed:
                delay = start + (step.at or 0.0) * self.time_scale - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._fire(step)
            self.cluster.journal.record("scenario", "event", event="timeline_done",
                                        scenario=self.scenario.name)
        except asyncio.CancelledError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop watching the journal (count-triggered steps no longer fire)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    async def fire_next(self) -> dict[str, Any] | None:
        """Fire the next step not yet fired, in file order (for on-demand and step-through)."""
        for step in self.scenario.steps:
            if step not in self.fired:
                return await self._fire(step)
        return None

"""When a scripted rule fires: after N matches, at most M times, with a seeded probability.

Shared by the KDC's rules (:class:`fakegc.kdc.server.KdcRule`) and the scenario's fault
rules (:class:`fakegc.scenario.rules.FaultRule`) so both count the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Firing"]


@dataclass(kw_only=True)
class Firing:
    """Counting state of a rule: ``after`` matches pass, then at most ``times`` fire."""

    after: int = 0
    times: int | None = None
    probability: float = 1.0
    seed: int = 0
    seen: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def reseed(self) -> None:
        """Restart the probability stream from ``seed`` (runs repeat)."""
        self._rng = random.Random(self.seed)

    def count(self) -> bool:
        """Count one matching event; True when the rule applies to it."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability < 1.0 and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        """No further firing is possible."""
        return self.times is not None and self.fired >= self.times

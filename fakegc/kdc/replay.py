"""The KDC's replay cache of authenticators (RFC 4120 §3.2.3, §10).

An authenticator seen once within the clock-skew window is refused the second time
(KRB_AP_ERR_REPEAT).  Entries are kept in insertion order, which is time order while the
KDC's clock moves forward, so expiry pops from the old end: insert and expiry cost O(1)
amortised, whatever the cache holds.  Memory is bounded by ``max_entries``: past it the
oldest entry goes first (an authenticator that old is close to leaving the window anyway).
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["ReplayCache"]


class ReplayCache:
    """Seen authenticators, each remembered for ``lifetime`` seconds."""

    __slots__ = ("_seen", "lifetime", "max_entries")

    def __init__(self, lifetime: float, max_entries: int = 1_000_000) -> None:
        self.lifetime = lifetime
        self.max_entries = max_entries
        self._seen: dict[Hashable, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    def seen(self, key: Hashable, now: float) -> bool:
        """True when ``key`` is a replay; otherwise remember it (at time ``now``) and say False."""
        seen = self._seen
        self._expire(now)
        if key in seen:
            return True
        seen[key] = now
        if len(seen) > self.max_entries:
            del seen[next(iter(seen))]
        return False

    def _expire(self, now: float) -> None:
        """Forget entries older than the lifetime, oldest first, stopping at the first live one."""
        seen = self._seen
        lifetime = self.lifetime
        while seen:
            key = next(iter(seen))
            if now - seen[key] < lifetime:
                return
            del seen[key]

"""Connections per source address across every listener of the process (issue #18 item 3).

RPC endpoints, the KDC's TCP port and the RPC proxy share one :class:`SourceCap`, so one
source cannot take every descriptor: RLIMIT_NOFILE is raised to its hard limit at start,
``reserve`` descriptors stay free for the control plane, listeners and files, and one
source holds at most a quarter of the rest.  It lives at the package top level because
every transport uses it; it depends on nothing else in the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["RESERVE_FDS", "SourceCap", "default_cap", "raise_nofile"]

RESERVE_FDS = 256  # descriptors kept free for the control plane, listeners, journal files


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit in force."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return int(min(soft, hard))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return int(hard)
    except (ValueError, OSError):
        return int(soft)


def _source(peer: Any) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


class SourceCap:
    """Connections per source address across every listener of the process.

    The descriptor budget is RLIMIT_NOFILE (raised to the hard limit at start) minus
    ``reserve`` descriptors, which no TCP peer can take: the control plane (not counted
    here), listeners and files always have room.  One source holds at most
    ``per_source`` connections (default: a quarter of the budget), so another client
    always gets in while one source holds all it can.
    """

    def __init__(self, per_source: int | None = None, total: int | None = None,
                 reserve: int = RESERVE_FDS) -> None:
        budget = total if total is not None else max(64, raise_nofile() - reserve)
        self.total = budget
        self.per_source = per_source if per_source is not None else max(16, budget // 4)
        self.open = 0
        self.by_source: dict[str, int] = {}
        self.refused = 0

    def admit(self, peer: Any) -> Callable[[], None] | None:
        """Count a new connection from ``peer``; its release function, or None when refused."""
        source = _source(peer)
        held = self.by_source.get(source, 0)
        if held >= self.per_source or self.open >= self.total:
            self.refused += 1
            return None
        self.by_source[source] = held + 1
        self.open += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.open -= 1
            left = self.by_source.get(source, 1) - 1
            if left > 0:
                self.by_source[source] = left
            else:
                self.by_source.pop(source, None)

        return release


_DEFAULT: list[SourceCap] = []


def default_cap() -> SourceCap:
    """The process-wide :class:`SourceCap` every listener shares unless given its own."""
    if not _DEFAULT:
        _DEFAULT.append(SourceCap())
    return _DEFAULT[0]

"""Shared reporting for the benchmarks: interleaved rounds, median and range, load average.

Every comparison runs its contenders in A-B-B-A order (round r reverses round r-1), so a
drift in machine load during the run hits both sides alike; figures are printed as the
median and the [min-max] range over the rounds, next to the load average they ran under.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def interleaved(contenders: Sequence[T], rounds: int) -> list[tuple[int, T]]:
    """(round, contender) in A-B-B-A order: even rounds forward, odd rounds reversed."""
    out: list[tuple[int, T]] = []
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        out.extend((r, c) for c in order)
    return out


def med(values: Sequence[float]) -> float:
    """The median (nan for no values)."""
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: str = ".0f") -> str:
    """'median [min-max]'."""
    if not values:
        return "n/a"
    return f"{med(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def ratio_spread(ours: Sequence[float], theirs: Sequence[float]) -> str:
    """Per-round ratios ours/theirs as 'median [min-max]' (rounds paired by index)."""
    ratios = [a / b for a, b in zip(ours, theirs) if b]
    return spread(ratios, ".2f") + "x" if ratios else "n/a"


def load() -> str:
    """The 1/5/15-minute load average, as printed next to every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"

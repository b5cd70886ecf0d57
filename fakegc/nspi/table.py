"""Table positioning with STAT (MS-NSPI 3.1.4.1.3 "Positioning in a table").

A STAT names a table (ContainerID, SortType, SortLocale) and a position in it
(CurrentRec + Delta, approximated by NumPos).  ``CurrentRec`` is a MId or one of
MID_BEGINNING_OF_TABLE (0), MID_CURRENT (1), MID_END_OF_TABLE (2).  A bookmark
the table does not hold reads as row 0 (PROTOCOL.md §11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakegc.directory.model import Container, Directory

__all__ = [
    "MID_BEGINNING_OF_TABLE",
    "MID_CURRENT",
    "MID_END_OF_TABLE",
    "Stat",
    "position_stat",
    "resolve_position",
]

MID_BEGINNING_OF_TABLE = 0
MID_CURRENT = 1
MID_END_OF_TABLE = 2


@dataclass(slots=True)
class Stat:
    """MS-NSPI 2.3.7 STAT."""

    SortType: int = 0
    ContainerID: int = 0
    CurrentRec: int = 0
    Delta: int = 0
    NumPos: int = 0
    TotalRecs: int = 0
    CodePage: int = 1252
    TemplateLocale: int = 0x409
    SortLocale: int = 0x409

    @classmethod
    def from_impacket(cls, s: Any) -> Stat:
        """From an impacket ``STAT`` structure."""
        get = s.__getitem__
        delta = get("Delta")
        if delta >= 0x80000000:
            delta -= 1 << 32
        return cls(get("SortType"), get("ContainerID"), get("CurrentRec"), delta, get("NumPos"),
                   get("TotalRecs"), get("CodePage"), get("TemplateLocale"), get("SortLocale"))

    def values(self) -> tuple[int, ...]:
        """The nine fields in wire order."""
        return (self.SortType, self.ContainerID, self.CurrentRec, self.Delta, self.NumPos,
                self.TotalRecs, self.CodePage, self.TemplateLocale, self.SortLocale)


def resolve_position(d: Directory, c: Container, stat: Stat) -> int:
    """Row index that CurrentRec (+ Delta) designates, clamped to 0..len(table)."""
    rows = d.table(c, stat.SortLocale)
    cur = stat.CurrentRec
    if cur == MID_BEGINNING_OF_TABLE:
        base = 0
    elif cur == MID_END_OF_TABLE:
        base = len(rows)
    elif cur == MID_CURRENT:
        base = min(stat.NumPos, len(rows))
    else:
        found = d.position(c, cur, stat.SortLocale)
        base = found if found is not None else 0
    return max(0, min(len(rows), base + stat.Delta))


def position_stat(d: Directory, c: Container, stat: Stat, pos: int) -> Stat:
    """``stat`` moved to row ``pos``: CurrentRec, NumPos, TotalRecs set, Delta 0."""
    rows = d.table(c, stat.SortLocale)
    stat.CurrentRec = rows[pos] if pos < len(rows) else MID_END_OF_TABLE
    stat.NumPos = pos
    stat.TotalRecs = len(rows)
    stat.Delta = 0
    return stat

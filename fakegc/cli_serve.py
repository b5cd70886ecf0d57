"""What ``fakegc serve`` shows while it runs: live lines, the journal followed, load progress.

* live lines (on by default with ``--scenario``; ``--quiet`` silences): one per scenario step
  fired, per cluster state change and per fault-rule hit;
* ``--follow``: every journal entry, one readable line each (``Entry.__str__``);
* a progress bar (rich) while a large directory file loads.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from fakegc.journal import Entry, Journal

__all__ = ["LARGE_DIRECTORY", "attach", "live_line", "loading"]

LARGE_DIRECTORY = 2 << 20  # bytes: smaller files load before a bar would be drawn
_QUIET_EVENTS = {"scenario_start"}


def live_line(entry: Entry, t0: float) -> str | None:
    """The live line for an entry, or None when it is not one the operator follows."""
    at = f"[{entry.t - t0:7.3f}s]"
    f = entry.fields
    if entry.kind == "event" and entry.actor == "scenario":
        event = f.get("event")
        if event in _QUIET_EVENTS:
            return f"{at} scenario {f.get('scenario')} started"
        if event == "timeline_done":
            return f"{at} scenario {f.get('scenario')}: timeline done"
        args = " ".join(f"{k}={v}" for k, v in f.items() if k != "event")
        return f"{at} fired {event}{' ' + args if args else ''}"
    if entry.kind == "event_refused":
        return f"{at} refused {f.get('event')}: {f.get('error')}"
    if entry.kind == "state" and entry.actor == "scenario" and not f.get("reset"):
        was = f"{f['previous']} -> " if "previous" in f else ""
        return f"{at} state {was}{f.get('state')} (referral {f.get('gc')})"
    if entry.kind == "rule" and f.get("action") not in ("added", "removed"):
        details = " ".join(f"{k}={v}" for k, v in f.items() if k != "action" and v is not None)
        return f"{at} rule hit on {entry.actor}: {f.get('action')} {details}".rstrip()
    return None


def attach(journal: Journal, *, follow: bool, stream: IO[str] | None = None) -> Callable[[], None]:
    """Print live lines (or, with ``follow``, every entry) as entries are recorded;
    returns the unsubscribe function."""
    out = stream or sys.stdout
    t0 = journal.t0

    def listener(entry: Entry) -> None:
        line = str(entry) if follow else live_line(entry, t0)
        if line is not None:
            print(line, file=out, flush=True)

    return journal.subscribe(listener)


@contextlib.contextmanager
def loading(path: Path | None, stream: IO[str] | None = None) -> Iterator[None]:
    """A progress bar while a large directory file loads (nothing for small ones)."""
    try:
        size = path.stat().st_size if path is not None else 0
    except OSError:
        size = 0
    if size < LARGE_DIRECTORY:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    out = stream or sys.stderr
    console = Console(file=out)
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          TimeElapsedColumn()]
    started = time.monotonic()
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task(f"loading {path} ({size / 1e6:.0f} MB)", total=None)
        yield
    print(f"loaded {path} in {time.monotonic() - started:.1f}s", file=out, flush=True)

"""The journal: every request, answer, fault, connection event and state change.

It is the test's eyes (docs/ARCHITECTURE.md, Journal).  Every actor (RPC servers, the KDC, the
scenario engine, the emulated client) appends :class:`Entry` records to one shared
:class:`Journal`.  It is bounded (oldest entries fall off), cheap to append to from
the hot path, queryable from Python, and can mirror itself to a JSON Lines file.

Kinds used across the package (one name per concept):

``connect`` ``disconnect`` ``bind`` ``bind_ack`` ``bind_nak`` ``alter_context``
``auth`` ``auth_failed`` ``request`` ``response`` ``fault`` ``protocol_error``
``krb_request`` ``krb_reply`` ``krb_error`` ``state`` ``event`` ``event_refused`` ``rule``
``client``.

It lives at the package top level (not under ``scenario/``) because every layer
writes to it; it depends on nothing else in the package.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

_monotonic = time.monotonic
_wall = time.time

__all__ = ["Entry", "Follower", "Journal", "JournalAssertionError"]


@dataclass(slots=True)
class Entry:
    """One journal record.

    ``t`` is a monotonic timestamp (seconds), ``wall`` the wall clock, ``seq`` a
    strictly increasing sequence number, ``actor`` who recorded it (``gc01``,
    ``ex01``, ``kdc``, ``scenario``, ``client:svc-1`` …), ``conn`` the connection
    number when there is one, and ``fields`` the kind-specific details.
    """

    seq: int
    t: float
    wall: float
    actor: str
    kind: str
    conn: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """Field lookup that also answers the fixed attributes by name."""
        if key in ("seq", "t", "wall", "actor", "kind", "conn"):
            return getattr(self, key)
        return self.fields.get(key, default)

    def matches(self, **criteria: Any) -> bool:
        """True when every criterion equals the entry's value.

        A criterion whose value is callable is used as a predicate instead.
        """
        for key, want in criteria.items():
            have = self.get(key, _MISSING)
            if callable(want):
                try:
                    ok = have is not _MISSING and bool(want(have))
                except Exception:  # noqa: BLE001 - a predicate that cannot judge this value: no match
                    ok = False
                if not ok:
                    return False
            elif have != want:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (bytes shown as hex)."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "t": round(self.t, 6),
            "wall": round(self.wall, 6),
            "actor": self.actor,
            "kind": self.kind,
        }
        if self.conn is not None:
            out["conn"] = self.conn
        for key, value in self.fields.items():
            out[key] = _jsonable(value)
        return out

    def __str__(self) -> str:
        details = " ".join(f"{k}={_short(v)}" for k, v in self.fields.items())
        conn = f" conn={self.conn}" if self.conn is not None else ""
        return f"#{self.seq} {self.t:.4f} {self.actor} {self.kind}{conn} {details}".rstrip()


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0xFFFF:
        return f"0x{value:08X}"
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


class JournalAssertionError(AssertionError):
    """Raised by :meth:`Journal.expect` with the near misses in its message."""


class Journal:
    """A bounded, thread-safe, queryable log of :class:`Entry` records.

    ``maxlen`` bounds memory (oldest entries are dropped and counted in
    :attr:`dropped`); ``jsonl`` mirrors each entry to a file as JSON Lines (a path, or an
    open text file).  ``enabled_kinds`` (``None`` = all) lets a benchmark skip per-call
    records.

    The mirror can never stop service: a write that fails (a full disk: ENOSPC, EIO, …)
    is counted in :attr:`write_errors` with :attr:`last_write_error`, never raised into
    the server that recorded the entry, and :meth:`health_problems` reports it until a
    write succeeds again.  A mirror file over ``rotate_bytes`` is renamed to ``.1``
    (``.1`` to ``.2`` …, keeping ``keep`` old files) and a new one started.
    """

    def __init__(
        self,
        maxlen: int = 200_000,
        jsonl: str | IO[str] | None = None,
        enabled_kinds: Iterable[str] | None = None,
        rotate_bytes: int = 64 << 20,
        keep: int = 3,
    ) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Entry], None]] = []
        self.path = jsonl if isinstance(jsonl, str) else None
        self._file: IO[str] | None = (open(jsonl, "a", encoding="utf-8")  # noqa: SIM115 (long-lived)
                                      if isinstance(jsonl, str) else jsonl)
        self.rotate_bytes = rotate_bytes
        self.keep = keep
        self._size = os.path.getsize(jsonl) if isinstance(jsonl, str) else 0
        self.write_errors = 0
        self.last_write_error: str | None = None
        self.mirror_ok = True
        self.rotations = 0
        self.enabled_kinds: frozenset[str] | None = (
            frozenset(enabled_kinds) if enabled_kinds is not None else None
        )
        self.maxlen = maxlen
        self.dropped = 0
        self.t0 = time.monotonic()

    # -- writing -----------------------------------------------------------
    def wants(self, kind: str) -> bool:
        """Cheap check for hot paths: will a record of this kind be kept?"""
        return self.enabled_kinds is None or kind in self.enabled_kinds

    def record(self, actor: str, kind: str, conn: int | None = None, **fields: Any) -> Entry | None:
        """Append one entry and notify listeners; returns it (None if filtered)."""
        return self.record_fields(actor, kind, conn, fields)

    def record_fields(self, actor: str, kind: str, conn: int | None,
                      fields: dict[str, Any]) -> Entry | None:
        """:meth:`record` with the fields as a dict the entry keeps (hot paths: no keyword
        packing; the caller must not change the dict afterwards)."""
        kinds = self.enabled_kinds
        if kinds is not None and kind not in kinds:
            return None
        entry = Entry(next(self._seq), _monotonic(), _wall(), actor, kind, conn, fields)
        # deque.append is atomic; the lock guards only the counter and the file, and the
        # listener list is replaced, never changed in place (hot path: ~0.6 us an entry)
        entries = self._entries
        if len(entries) == self.maxlen:
            with self._lock:
                self.dropped += 1
        entries.append(entry)
        if self._file is not None:
            self._mirror(json.dumps(entry.to_dict()) + "\n")
        if self._listeners:
            for listener in self._listeners:
                listener(entry)
        return entry

    def _mirror(self, line: str) -> None:
        """Append one line to the mirror; failures are counted, never raised."""
        with self._lock:
            fh = self._file
            if fh is None:
                return
            try:
                fh.write(line)
                fh.flush()
            except (OSError, ValueError) as exc:  # ENOSPC, EIO, a closed file
                self.write_errors += 1
                self.last_write_error = f"{type(exc).__name__}: {exc}"[:200]
                self.mirror_ok = False
                return
            self.mirror_ok = True
            self._size += len(line)
            if self.path is not None and self._size >= self.rotate_bytes:
                self._rotate()

    def _rotate(self) -> None:
        """Rename ``path`` to ``path.1`` (shifting older ones, keeping ``keep``); start anew."""
        assert self.path is not None and self._file is not None
        try:
            self._file.close()
            for n in range(self.keep - 1, 0, -1):
                older = f"{self.path}.{n}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n + 1}")
            if self.keep > 0:
                os.replace(self.path, f"{self.path}.1")
            else:
                os.unlink(self.path)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (long-lived)
            self._size = 0
            self.rotations += 1
        except OSError as exc:
            self.write_errors += 1
            self.last_write_error = f"rotate: {type(exc).__name__}: {exc}"[:200]
            self.mirror_ok = False
            try:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (long-lived)
            except OSError:
                self._file = None

    def health_problems(self) -> list[str]:
        """Why the journal is degraded (empty when healthy): a mirror that cannot write."""
        if self.mirror_ok:
            return []
        return [f"journal mirror: {self.write_errors} write error(s), last: {self.last_write_error}"]

    def subscribe(self, listener: Callable[[Entry], None]) -> Callable[[], None]:
        """Call ``listener(entry)`` for each new entry; returns an unsubscribe function."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

        def unsubscribe() -> None:
            with self._lock:
                remaining = list(self._listeners)
                if listener in remaining:
                    remaining.remove(listener)
                self._listeners = remaining

        return unsubscribe

    def clear(self) -> None:
        """Forget every entry (listeners stay)."""
        with self._lock:
            self._entries.clear()
            self.dropped = 0

    def close(self) -> None:
        """Close the JSON Lines mirror, if any."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except (OSError, ValueError) as exc:  # buffered lines that cannot be written
                    self.write_errors += 1
                    self.last_write_error = f"close: {type(exc).__name__}: {exc}"[:200]
                self._file = None

    # -- reading -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        with self._lock:
            snapshot = list(self._entries)
        return iter(snapshot)

    def entries(self, kind: str | None = None, actor: str | None = None,
                since: float | Entry | None = None, **fields: Any) -> list[Entry]:
        """Entries matching ``kind``/``actor``/fields, after ``since``.

        ``since`` is an :class:`Entry` (strictly after it) or a sequence number.
        """
        after = since.seq if isinstance(since, Entry) else (since or 0)
        return [e for e in self if e.seq > after and (kind is None or e.kind == kind)
                and (actor is None or e.actor == actor) and e.matches(**fields)]

    def last(self, kind: str | None = None, **fields: Any) -> Entry | None:
        """The newest matching entry, or None."""
        found = self.entries(kind, **fields)
        return found[-1] if found else None

    def count(self, kind: str | None = None, **fields: Any) -> int:
        """How many entries match."""
        return len(self.entries(kind, **fields))

    def expect(self, kind: str, *, count: int | None = None, after: Entry | int | None = None,
               within: float | None = None, **fields: Any) -> list[Entry]:
        """Assert that matching entries exist; return them.

        ``count`` demands an exact number (``count=0``: must not have happened);
        ``after`` restricts to entries after that one; ``within`` (seconds) further
        restricts to entries no later than ``within`` after ``after``.  On failure
        the message lists the closest entries of the same kind (the near misses)
        and which criteria each failed.
        """
        base = after if isinstance(after, Entry) else None
        found = self.entries(kind, since=after, **fields)
        if within is not None and base is not None:
            found = [e for e in found if e.t - base.t <= within]
        ok = (count is None and found) or (count is not None and len(found) == count)
        if ok:
            return found
        want = ", ".join(f"{k}={_short(v)}" for k, v in fields.items())
        if count is None:
            head = f"no {kind!r} entry with {want or 'any fields'}"
        else:
            head = f"expected {count} {kind!r} entries with {want or 'any fields'}, found {len(found)}"
        if within is not None:
            head += f" within {within}s after #{base.seq if base else '?'}"
        lines = [head]
        if count is not None and found:
            lines.append("matching entries:")
            lines += [f"  {e}" for e in found[:10]]
        else:
            lines.append(self._near_misses(kind, after, fields))
        raise JournalAssertionError("\n".join(lines))

    def _near_misses(self, kind: str, after: Entry | int | None, fields: dict[str, Any]) -> str:
        candidates = self.entries(kind, since=after)
        if not candidates:
            kinds = sorted({e.kind for e in self})
            return f"no {kind!r} entries at all; kinds present: {', '.join(kinds) or 'none'}"

        def misses(entry: Entry) -> list[str]:
            out = []
            for key, want in fields.items():
                have = entry.get(key, _MISSING)
                if callable(want):
                    try:
                        good = have is not _MISSING and bool(want(have))
                    except Exception:  # noqa: BLE001 - a predicate that cannot judge this value: no match
                        good = False
                else:
                    good = have == want
                if not good:
                    out.append(f"{key}: wanted {_short(want)}, got {_short(have)}")
            return out

        ranked = sorted(candidates, key=lambda e: len(misses(e)))[:5]
        lines = ["near misses:"]
        for entry in ranked:
            lines.append(f"  {entry}")
            lines += [f"      {m}" for m in misses(entry)]
        return "\n".join(lines)

    # -- awaiting (asyncio; _wait_for / Follower below) -------------------------
    async def wait_for(self, kind: str, *, timeout: float, after: Entry | int | None = None,
                       actor: str | None = None, **fields: Any) -> Entry:
        """Await the first matching entry (already kept or yet to come, after ``after``);
        after ``timeout`` seconds raise :class:`JournalAssertionError` with the near misses."""
        return await _wait_for(self, kind, timeout=timeout, after=after, actor=actor,
                                            **fields)

    def follow(self, kind: str | None = None, *, since: Entry | int | None = None,
               actor: str | None = None, **fields: Any) -> Follower:
        """``async for entry in journal.follow(kind=...)``: matching entries in recording order
        as they arrive (``since=0`` first replays those kept); recorded on any thread."""
        return _follow(self, kind, since=since, actor=actor, **fields)

    def dump(self, limit: int = 50) -> str:
        """The newest ``limit`` entries, one per line (for failure messages)."""
        rows = list(self)[-limit:]
        return "\n".join(str(e) for e in rows)

    def to_jsonl(self) -> str:
        """Every entry as JSON Lines."""
        return "".join(json.dumps(e.to_dict()) + "\n" for e in self)


# -- awaiting the journal (asyncio) ---------------------------------------------------------
# Entries may be recorded on any thread: the cluster's own loop (``Cluster`` in the test's
# loop), a ClusterThread's background loop, or a blocking client.  A waiter subscribes a
# listener (the copy-on-write listener list, so ``record`` pays nothing while nobody waits)
# that hands each matching entry to the waiting loop with ``loop.call_soon_threadsafe``;
# entries reach a follower in the order the listener saw them, the order they were recorded.
def _matcher(kind: str | None, actor: str | None, fields: dict[str, Any]) -> Any:
    def match(entry: Entry) -> bool:
        return ((kind is None or entry.kind == kind) and (actor is None or entry.actor == actor)
                and entry.matches(**fields))
    return match


async def _wait_for(journal: Journal, kind: str, *, timeout: float, after: Entry | int | None = None,
                   actor: str | None = None, **fields: Any) -> Entry:
    """The first entry of ``kind`` matching ``fields`` after ``after`` (already recorded or
    recorded within ``timeout`` seconds); on timeout a :class:`JournalAssertionError` lists
    the nearest misses as :meth:`Journal.expect` does."""
    loop = asyncio.get_running_loop()
    found: asyncio.Future[Entry] = loop.create_future()
    match = _matcher(kind, actor, fields)
    since = after.seq if isinstance(after, Entry) else (after or 0)

    def settle(entry: Entry) -> None:
        if not found.done():
            found.set_result(entry)

    def listener(entry: Entry) -> None:
        if entry.seq > since and match(entry):
            loop.call_soon_threadsafe(settle, entry)

    unsubscribe = journal.subscribe(listener)  # before the scan: nothing falls in between
    try:
        present = journal.entries(kind, actor=actor, since=since, **fields)
        if present:
            return present[0]
        try:
            return await asyncio.wait_for(found, timeout)
        except TimeoutError:
            pass
    finally:
        unsubscribe()
    criteria = dict(fields, **({"actor": actor} if actor is not None else {}))
    try:
        journal.expect(kind, after=after, **criteria)
    except JournalAssertionError as miss:
        raise JournalAssertionError(f"timed out after {timeout}s: {miss}") from None
    # recorded between the timeout and this check: still an answer
    return journal.entries(kind, since=since, **criteria)[0]


class Follower:
    """The async iterator :meth:`Journal.follow` returns; subscribed from its creation, so
    nothing recorded between ``follow()`` and the first ``anext`` is missed.  ``aclose()``
    (or leaving an ``async for`` by ``break`` and closing) unsubscribes."""

    def __init__(self, journal: Journal, kind: str | None, since: Entry | int | None,
                 actor: str | None, fields: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        match = _matcher(kind, actor, fields)
        put = self._queue.put_nowait

        def listener(entry: Entry) -> None:
            if match(entry):
                loop.call_soon_threadsafe(put, entry)

        self._unsubscribe = journal.subscribe(listener)
        self._replay: list[Entry] = []
        self._replayed = 0
        if since is not None:
            start = since.seq if isinstance(since, Entry) else since
            self._replay = journal.entries(kind, actor=actor, since=start, **fields)
            self._replayed = self._replay[-1].seq if self._replay else 0
        self._replay.reverse()

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> Entry:
        if self._replay:
            return self._replay.pop()
        while True:
            entry = await self._queue.get()
            if entry.seq > self._replayed:  # the replay may already have given it
                return entry

    async def aclose(self) -> None:
        """Stop following (unsubscribe)."""
        self._unsubscribe()

    def __del__(self) -> None:
        self._unsubscribe()


def _follow(journal: Journal, kind: str | None = None, *, since: Entry | int | None = None,
           actor: str | None = None, **fields: Any) -> Follower:
    """Matching entries as they are recorded, in order; with ``since`` (an entry or a
    sequence number, 0 for the start) the matching entries already kept come first."""
    return Follower(journal, kind, since, actor, fields)

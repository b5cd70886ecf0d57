"""Awaiting the journal: :meth:`Journal.wait_for` and :meth:`Journal.follow` (asyncio).

Entries may be recorded on any thread: the cluster's own loop (``Cluster`` in the test's
loop), a :class:`~fakegc.scenario.cluster.ClusterThread`'s background loop, or a blocking
client.  A waiter subscribes a listener (the journal's copy-on-write listener list, so
``record`` pays nothing while nobody waits) that hands each matching entry to the waiting
loop with ``loop.call_soon_threadsafe``; entries reach a follower in the order the
listener saw them, which is the order they were recorded.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakegc.journal import Entry, Journal

__all__ = ["Follower", "follow", "wait_for"]


def _matcher(kind: str | None, actor: str | None, fields: dict[str, Any]) -> Any:
    def match(entry: Entry) -> bool:
        return ((kind is None or entry.kind == kind) and (actor is None or entry.actor == actor)
                and entry.matches(**fields))
    return match


async def wait_for(journal: Journal, kind: str, *, timeout: float, after: Entry | int | None = None,
                   actor: str | None = None, **fields: Any) -> Entry:
    """The first entry of ``kind`` matching ``fields`` after ``after`` (already recorded or
    recorded within ``timeout`` seconds); on timeout a :class:`JournalAssertionError` lists
    the nearest misses as :meth:`Journal.expect` does."""
    from fakegc.journal import Entry, JournalAssertionError

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
        from fakegc.journal import Entry

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


def follow(journal: Journal, kind: str | None = None, *, since: Entry | int | None = None,
           actor: str | None = None, **fields: Any) -> Follower:
    """Matching entries as they are recorded, in order; with ``since`` (an entry or a
    sequence number, 0 for the start) the matching entries already kept come first."""
    return Follower(journal, kind, since, actor, fields)

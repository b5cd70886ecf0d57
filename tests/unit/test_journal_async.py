"""Awaiting the journal: wait_for and follow, in the test's loop and across threads.

Oracle for the cross-thread hand-off: asyncio's documented contract that
``loop.call_soon_threadsafe`` callbacks run in the order they were scheduled
(Python docs, "Scheduling callbacks"), so one recording thread's entries arrive in order.
"""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from fakegc.journal import Journal, JournalAssertionError

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")]


async def test_wait_for_an_entry_recorded_later_in_the_same_loop():
    j = Journal()
    loop = asyncio.get_running_loop()
    loop.call_soon(functools.partial(j.record, "gc01", "response", 1, op="NspiBind", status=0x80040111))
    loop.call_soon(functools.partial(j.record, "gc02", "response", 2, op="NspiBind", status=0))
    entry = await j.wait_for("response", op="NspiBind", status=0, timeout=2)
    assert entry.actor == "gc02" and entry.seq == 2
    assert not j._listeners  # the waiter unsubscribed


async def test_wait_for_sees_entries_already_kept_unless_after_excludes_them():
    j = Journal()
    old = j.record("scenario", "state", state="DOWN")
    assert await j.wait_for("state", state="DOWN", timeout=0) is old
    asyncio.get_running_loop().call_soon(functools.partial(j.record, "scenario", "state", state="DOWN"))
    newer = await j.wait_for("state", state="DOWN", after=old, timeout=2)
    assert newer.seq > old.seq


async def test_wait_for_times_out_with_the_near_misses():
    j = Journal()
    j.record("kdc", "krb_error", msg="TGS", code=6, service="exchangeAB/gc01.contoso.test")
    with pytest.raises(JournalAssertionError) as err:
        await j.wait_for("krb_error", code=7, service="exchangeAB/gc01.contoso.test", timeout=0.05)
    message = str(err.value)
    assert message.startswith("timed out after 0.05s: no 'krb_error' entry")
    assert "near misses" in message and "code: wanted 7, got 6" in message
    assert not j._listeners


async def test_wait_for_an_entry_recorded_on_another_thread():
    j = Journal()
    started = threading.Event()

    def producer() -> None:
        started.wait()
        for n in range(500):
            j.record("client:t", "tick", n=n)

    thread = threading.Thread(target=producer)
    thread.start()
    waiting = asyncio.ensure_future(j.wait_for("tick", n=499, timeout=10))
    started.set()
    entry = await waiting
    await asyncio.to_thread(thread.join)
    assert entry.get("n") == 499 and entry.actor == "client:t"


async def test_follow_yields_every_entry_in_recording_order_under_load():
    j = Journal(maxlen=100_000)
    total = 20_000
    follower = j.follow("tick")  # subscribed from here on

    def producer(actor: str) -> None:
        for n in range(total):
            j.record(actor, "tick", n=n)
            if n % 1000 == 0:
                j.record(actor, "noise", n=n)  # filtered out by kind

    threads = [threading.Thread(target=producer, args=(a,)) for a in ("a", "b")]
    for t in threads:
        t.start()
    got = []
    async for entry in follower:
        got.append(entry)
        if len(got) == 2 * total:
            break
    await follower.aclose()
    for t in threads:
        await asyncio.to_thread(t.join)
    assert {e.kind for e in got} == {"tick"}
    for actor in ("a", "b"):  # each recording thread's entries arrive complete and in order
        mine = [e for e in got if e.actor == actor]
        assert [e.get("n") for e in mine] == list(range(total))
        assert [e.seq for e in mine] == sorted(e.seq for e in mine)
    assert not j._listeners  # aclose unsubscribed


async def test_follow_since_replays_then_streams_without_duplicates():
    j = Journal()
    for n in range(3):
        j.record("x", "tick", n=n)
    follower = j.follow("tick", since=0)
    seen = [(await anext(follower)).get("n") for _ in range(3)]
    j.record("x", "tick", n=3)
    seen.append((await anext(follower)).get("n"))
    await follower.aclose()
    assert seen == [0, 1, 2, 3]


async def test_a_cluster_threads_journal_awaited_from_this_loop(ct):
    """The sync facade's journal: entries recorded on the ClusterThread's own loop reach a
    waiter and a follower on the test's loop (a different loop, a different thread)."""
    states = ct.journal.follow("state", actor="scenario")
    waiting = asyncio.ensure_future(ct.journal.wait_for("state", state="DOWN", timeout=10))
    await asyncio.to_thread(ct.fire, "gc_down", gc="gc01")  # blocking call, as a sync test makes
    down = await waiting
    assert down.get("gc") == "gc01" and down.actor == "scenario"
    # PROTOCOL.md §2: gc_down on an UP GC passes through SHUTTING_DOWN first
    assert [(await anext(states)).get("state") for _ in range(2)] == ["SHUTTING_DOWN", "DOWN"]
    await states.aclose()

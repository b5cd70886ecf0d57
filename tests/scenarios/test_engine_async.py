"""The scenario engine in the test's own loop: timelines, count triggers, on-demand steps.

No threads and no polling: the cluster runs in this loop (``fake_gc_async``) and the test
awaits the journal.  Oracle: the scenario format's documented semantics
(fakegc/scenario/model.py: ``at`` offsets in file-time order, ``after`` = N matching journal
entries, ``on_demand`` only when fired) and the shipped files themselves.
"""

from __future__ import annotations

import pytest

from fakegc.scenario.model import load_scenario, parse_scenario, shipped

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")]


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
async def test_shipped_scenario_fires_its_timed_steps_in_order(fake_gc_async, path):
    scenario = load_scenario(path)
    assert scenario.steps or scenario.faults
    events = fake_gc_async.journal.follow("event")
    await fake_gc_async.run_scenario(path, time_scale=0.001)
    timed = sorted((s for s in scenario.steps if s.at is not None), key=lambda s: s.at or 0)
    seen = []
    async for entry in events:
        seen.append(entry.get("event"))
        if entry.get("event") == "timeline_done":
            break
    await events.aclose()
    fired = [e for e in seen if e not in ("scenario_start", "timeline_done")]
    assert fired[: len(timed)] == [s.event for s in timed]
    assert len(fake_gc_async.rules) == len(scenario.faults)


async def test_kb929439_walks_the_cluster_states_in_order(fake_gc_async):
    states = fake_gc_async.journal.follow("state", actor="scenario")
    await fake_gc_async.run_scenario("kb929439", time_scale=0.001)
    walked = []
    async for entry in states:
        walked.append((entry.get("state"), entry.get("gc")))
        if entry.get("state") == "NEW_GC":
            break
    await states.aclose()
    # KB 929439: the GC shuts down, is gone, then the referral names another GC
    assert walked == [("SHUTTING_DOWN", "gc01"), ("DOWN", "gc01"), ("NEW_GC", "gc02")]


async def test_count_triggered_step_fires_on_the_nth_match_only(fake_gc_async):
    text = """[scenario]
name = "count"
[[step]]
event = "custom"
label = "after three binds"
after = { kind = "response", op = "NspiBind", count = 3 }
"""
    j = fake_gc_async.journal
    await fake_gc_async.run_scenario(parse_scenario(text, "count.toml"))
    j.record("gc01", "response", op="NspiQueryRows")  # another op: not counted
    for _ in range(2):
        j.record("gc01", "response", op="NspiBind")
    third = j.record("gc01", "response", op="NspiBind")
    fired = await j.wait_for("event", event="custom", label="after three binds", timeout=5)
    assert fired.seq > third.seq
    j.record("gc01", "response", op="NspiBind")
    await j.wait_for("event", event="timeline_done", timeout=5)
    assert j.count("event", event="custom") == 1  # fires once


async def test_on_demand_steps_wait_for_fire_next(fake_gc_async):
    text = """[scenario]
name = "manual"
[[step]]
event = "shutdown_begin"
gc = "gc01"
on_demand = true
[[step]]
event = "new_gc_ready"
gc = "gc02"
on_demand = true
"""
    runner = await fake_gc_async.run_scenario(parse_scenario(text, "manual.toml"))
    await fake_gc_async.journal.wait_for("event", event="timeline_done", timeout=5)
    assert fake_gc_async.state.value == "HEALTHY"
    assert (await runner.fire_next())["gc"] == "gc01"
    assert fake_gc_async.state.value == "SHUTTING_DOWN"
    assert (await runner.fire_next())["gc"] == "gc02"
    assert await runner.fire_next() is None
    assert fake_gc_async.current_gc == "gc02"


async def test_a_refused_event_is_journaled_as_refused(fake_gc_async):
    with pytest.raises(KeyError):
        await fake_gc_async.fire("shutdown_begin", gc="tokyo")
    refused = await fake_gc_async.journal.wait_for("event_refused", event="shutdown_begin",
                                                   timeout=0)
    assert refused.get("error") == "no GC named 'tokyo' (have gc01, gc02)"
    assert fake_gc_async.state.value == "HEALTHY"

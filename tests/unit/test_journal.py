"""The journal: queries, bounded size, JSON Lines mirror, near-miss failure messages."""

from __future__ import annotations

import json

import pytest

from fakegc.journal import Journal, JournalAssertionError


def test_query_and_expect_with_near_misses(tmp_path):
    j = Journal(maxlen=100, jsonl=str(tmp_path / "j.jsonl"))
    first = j.record("gc01", "request", 1, op="NspiBind", call_id=1)
    j.record("gc01", "response", 1, op="NspiBind", status=0x80040111)
    j.record("gc02", "response", 2, op="NspiBind", status=0)
    assert j.count("response") == 2 and j.last("response").actor == "gc02"
    assert j.expect("response", op="NspiBind", status=0, after=first)[0].actor == "gc02"
    assert j.entries("response", status=lambda s: s > 0)[0].actor == "gc01"
    with pytest.raises(JournalAssertionError) as err:
        j.expect("response", op="NspiBind", status=0, actor="gc01")
    message = str(err.value)
    assert "near misses" in message and "status: wanted 0, got 0x80040111" in message
    with pytest.raises(JournalAssertionError, match="expected 0 'response' entries"):
        j.expect("response", count=0)
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["request", "response", "response"]


def test_bounded_and_subscribable():
    j = Journal(maxlen=10)
    seen = []
    unsubscribe = j.subscribe(seen.append)
    for i in range(25):
        j.record("x", "tick", n=i)
    unsubscribe()
    j.record("x", "tick", n=99)
    assert len(j) == 10 and j.dropped == 16 and len(seen) == 25  # 26 records, 10 kept
    assert [e.get("n") for e in j][-1] == 99


def test_predicates_never_raise():
    j = Journal()
    j.record("gc01", "bind_nak", reason=9)
    j.record("gc01", "auth_failed", reason="wrong password")
    assert j.expect("auth_failed", reason=lambda r: "password" in r)


def test_within_window_names_the_base_entry():
    import time

    j = Journal()
    base = j.record("scenario", "event", event="shutdown_begin")
    j.record("ex01", "response", op="RfrGetNewDSA", server="gc02.contoso.test")
    assert j.expect("response", op="RfrGetNewDSA", after=base, within=2.0)
    time.sleep(0.05)
    j.record("ex01", "response", op="RfrGetNewDSA", server="gc03.contoso.test")
    with pytest.raises(JournalAssertionError, match=rf"within 0.01s after #{base.seq}"):
        j.expect("response", server="gc03.contoso.test", after=base, within=0.01)

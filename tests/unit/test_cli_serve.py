"""What `fakegc serve` prints while it runs: live lines, and the load progress for big files.

Oracle for the live lines: the journal entries the scenario engine and the cluster record
(fakegc/journal.py kinds ``event``/``state``/``rule``) — each line must carry the entry's
event, state change or rule action, and entries an operator does not follow give none.
"""

from __future__ import annotations

import io

from fakegc.cli_serve import LARGE_DIRECTORY, attach, live_line, loading
from fakegc.journal import Journal


def test_live_lines_for_steps_states_and_rule_hits_only():
    j = Journal()
    out = io.StringIO()
    unsubscribe = attach(j, follow=False, stream=out)
    j.record("scenario", "event", event="shutdown_begin", gc="gc01")
    j.record("gc01", "state", state="connections_cut", count=2)  # a server's own: not followed
    j.record("scenario", "state", previous="HEALTHY", state="SHUTTING_DOWN", gc="gc01")
    j.record("scenario", "rule", action="added", id=1, fault="refuse")  # installing is not a hit
    j.record("gc02", "rule", 7, action="refuse", rule="rule-1")
    j.record("gc01", "request", 3, op="NspiBind")
    j.record("scenario", "event_refused", event="shutdown_begin", error="no GC named 'tokyo'")
    unsubscribe()
    lines = [ln.split("] ", 1)[1] for ln in out.getvalue().splitlines()]
    assert lines == ["fired shutdown_begin gc=gc01",
                     "state HEALTHY -> SHUTTING_DOWN (referral gc01)",
                     "rule hit on gc02: refuse rule=rule-1",
                     "refused shutdown_begin: no GC named 'tokyo'"]


def test_follow_prints_every_entry_as_the_journal_renders_it():
    j = Journal()
    out = io.StringIO()
    attach(j, follow=True, stream=out)
    entries = [j.record("gc01", "request", 3, op="NspiBind"), j.record("kdc", "krb_error", code=7)]
    assert out.getvalue().splitlines() == [str(e) for e in entries]
    assert live_line(entries[0], j.t0) is None


def test_progress_only_for_large_directories(tmp_path):
    small = tmp_path / "small.json"
    small.write_text("{}")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (LARGE_DIRECTORY + 1))
    out = io.StringIO()
    with loading(small, stream=out):
        pass
    assert out.getvalue() == ""
    with loading(big, stream=out):
        pass
    assert any(ln.startswith(f"loaded {big} in ") and ln.endswith("s")
               for ln in out.getvalue().splitlines())

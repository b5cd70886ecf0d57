"""The KDC replay cache against the plain model it replaces (RFC 4120 §3.2.3, §10: an
authenticator seen within the window is a replay, KRB_AP_ERR_REPEAT)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fakegc.kdc.replay import ReplayCache

LIFETIME = 600.0

# each step: (key, seconds the clock moves forward before it arrives)
steps = st.lists(st.tuples(st.integers(0, 20), st.floats(0, 400, allow_nan=False)), max_size=200)


@given(steps)
@settings(max_examples=200, deadline=None)
def test_same_verdicts_as_a_linear_scan(seq: list[tuple[int, float]]) -> None:
    # oracle: RFC 4120 §10 — a repeat within the window is refused; the reference keeps
    # every (key, time) and scans them all, the behaviour the old whole-dict rebuild had
    cache = ReplayCache(LIFETIME)
    history: list[tuple[int, float]] = []
    now = 0.0
    for key, dt in seq:
        now += dt
        expected = any(k == key and now - t < LIFETIME for k, t in history)
        assert cache.seen(key, now) is expected
        if not expected:
            history.append((key, now))
        assert len(cache) == len({k for k, t in history if now - t < LIFETIME})


def test_memory_is_bounded() -> None:
    # oracle: the cache's own contract (bounded memory); the oldest entry goes first
    cache = ReplayCache(LIFETIME, max_entries=100)
    for i in range(1000):
        assert not cache.seen(i, 1.0)
    assert len(cache) == 100
    assert 999 in cache and 899 not in cache


def test_expiry_pops_only_the_old_end() -> None:
    # RFC 4120 §10: outside the window the same authenticator is no longer a replay
    # (the skew check refuses it instead); inside, it is
    cache = ReplayCache(LIFETIME)
    assert not cache.seen("a", 0.0)
    assert cache.seen("a", LIFETIME - 1)
    assert not cache.seen("a", LIFETIME + 1)

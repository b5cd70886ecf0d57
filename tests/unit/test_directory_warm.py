"""Warming a large directory's tables and indexes ahead of the first NSPI call (issue #19).

``index.warm`` builds on the pristine copy in a worker thread and ``index.adopt`` hands the
results to the served copy.  The oracle is the lazy path: a copy that never warmed and builds
each table and index on first use must answer every lookup the same (MS-OXNSPI 3.1.4.1.9
table order, 3.1.4.7 ANR, as the cold directory computes them), before and after a write.
"""

from __future__ import annotations

import random

import pytest

from fakegc.directory import props as P
from fakegc.directory.generate import generate_text
from fakegc.directory.index import adopt, anr_mids, exact, seek, warm
from fakegc.directory.loader import load_json_text
from fakegc.scenario import cluster as cluster_mod
from fakegc.scenario.cluster import Cluster, ClusterConfig

NEEDLES = ["Ali", "u0000", "=Alice", "smith", "qqq", "Σοφία", "u000007@contoso.test", "Engineering"]


def _answers(d, locale: int = 0x409) -> list[object]:
    out: list[object] = []
    for c in d.containers:
        out.append(list(d.table(c, locale)))
        out.append(seek(d, c, "m", locale))
    for text in NEEDLES:
        out.append(anr_mids(d, text))
        out.append([o.mid for o in exact(d, text)])
    return out


@pytest.mark.parametrize("seed", range(3))
def test_warmed_copy_answers_as_a_cold_one(seed: int) -> None:
    pristine = load_json_text(generate_text(120, seed=seed, fmt="json"), "w.json")
    served, cold = pristine.copy(), pristine.copy()
    warm(pristine)
    assert adopt(served, pristine)
    assert served.gal._sorted  # adopted, not built: nothing sorted on the served copy yet
    assert _answers(served) == _answers(cold)  # oracle: the lazy (cold) copy
    # a write after adopting: the adopted tables must go, as the lazy ones would
    row = random.Random(seed).randrange(len(cold.table(cold.gal)))
    for view in (served, cold):
        victim = view.get(view.table(view.gal)[row])
        assert victim is not None
        mine = view.writable(victim)
        mine.display_name = "Aaron First"
        mine.props[P.PR_SMTP_ADDRESS] = "moved@elsewhere.test"
        view.touch()
    assert _answers(served) == _answers(cold)
    assert not adopt(served, pristine)  # changed since the copy: nothing handed over


def test_adopt_refuses_a_changed_source() -> None:
    pristine = load_json_text(generate_text(30, fmt="json"), "w.json")
    served = pristine.copy()
    pristine.add("user", "late", "Late")
    warm(pristine)
    assert not adopt(served, pristine)
    assert not served.gal._sorted


async def test_cluster_warms_a_large_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_mod, "LARGE", 1)  # the shipped fixture counts as large
    async with Cluster(ClusterConfig()) as c:
        entry = await c.journal.wait_for("warm", actor="directory", timeout=30)
        assert entry.fields["adopted"] is True
        d = c.directory
        cold = c._pristine.copy()
        for container in cold.containers:
            container._sorted.clear()
            container._keys.clear()
            container._index.clear()
        cold.indexes.clear()
        assert d.gal._sorted and _answers(d) == _answers(cold)


async def test_a_later_cluster_of_the_process_starts_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_mod, "LARGE", 1)
    async with Cluster(ClusterConfig()) as first:
        await first.journal.wait_for("warm", actor="directory", timeout=30)
    async with Cluster(ClusterConfig()) as second:
        d = second.directory  # its own warm-up has not run: the tables came with the copy
        assert d.gal._sorted and d.indexes.get("anr") is not None
        cold = second._pristine.copy()
        for container in cold.containers:
            container._sorted.clear()
            container._keys.clear()
            container._index.clear()
        cold.indexes.clear()
        assert _answers(d) == _answers(cold)  # oracle: the lazy (cold) path

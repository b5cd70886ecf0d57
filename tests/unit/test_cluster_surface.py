"""``Cluster`` (asyncio) and ``ClusterThread`` (blocking facade) offer the same public surface.

The README documents both as "the cluster"; a name that works on one must work on the other,
with the same parameters (coroutines on ``Cluster`` are plain blocking calls on the thread).
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

from fakegc.scenario.cluster import Cluster, ClusterThread

CONSTRUCTORS = {"start", "run_in_thread"}  # Cluster's ways to get a cluster; the thread is one
THREAD_ONLY = {"cluster", "loop"}          # the facade's own: the cluster and its loop


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_same_public_names(ct):
    async def started():
        async with Cluster() as c:
            return public(dir(c))

    on_cluster = asyncio.run(started()) - CONSTRUCTORS
    on_thread = public(dir(ct)) - THREAD_ONLY
    assert on_cluster - on_thread == set(), "missing on ClusterThread"
    assert on_thread - on_cluster == set(), "missing on Cluster"


def test_same_parameters_for_every_method():
    for name in public(dir(Cluster)) - CONSTRUCTORS:
        method = getattr(Cluster, name)
        if not callable(method) or isinstance(method, type):
            continue
        want = list(inspect.signature(method).parameters)
        got = list(inspect.signature(getattr(ClusterThread, name)).parameters)
        assert got == want, name
        if inspect.iscoroutinefunction(method):
            assert not inspect.iscoroutinefunction(getattr(ClusterThread, name)), name


def test_thread_delegates_across_the_loop(ct, tmp_path):
    env = ct.krb5_env(tmp_path)  # the README's MIT-tools line, on the documented facade
    assert Path(env["KRB5_CONFIG"]).parent == tmp_path
    assert "CONTOSO.TEST" in Path(env["KRB5_CONFIG"]).read_text()
    assert ct.gc().name == ct.current_gc == "gc01" and ct.referral_candidate() is ct.gcs["gc01"]
    assert ct.resolve_rpc_server("gc02", 6004) is ct.gcs["gc02"].nspi
    written = ct.write_endpoints(tmp_path / "ep.json")
    assert written.read_text().count('"nspi"') == len(ct.gcs)
    assert ct.state.value == "HEALTHY" and ct.started and ct.kdc is ct.cluster.kdc

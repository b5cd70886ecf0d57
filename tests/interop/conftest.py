"""A cluster shared by the scenario tests (reset before each test)."""

from __future__ import annotations

import pytest

from fakegc.scenario.cluster import ClusterThread


@pytest.fixture(scope="module")
def cluster_thread():
    ct = ClusterThread()
    yield ct
    ct.close()


@pytest.fixture
def ct(cluster_thread):
    cluster_thread.reset()
    yield cluster_thread
    errors = [e for s in cluster_thread.cluster.all_servers() for e in s.errors]
    assert not errors, errors

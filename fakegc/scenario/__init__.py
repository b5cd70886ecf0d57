"""The cluster, scenario timeline, fault rules and control plane.

The names below load on first use, so light modules of this package (``events``, ``ctl``)
import without the cluster stack (``fakegc ctl`` starts fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakegc.scenario.cluster import Cluster, ClusterConfig, ClusterState, ClusterThread, GcState

__all__ = ["Cluster", "ClusterConfig", "ClusterState", "ClusterThread", "GcState"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fakegc.scenario import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module 'fakegc.scenario' has no attribute {name!r}")

"""The cluster, scenario timeline, fault rules and control plane."""

from fakegc.scenario.cluster import Cluster, ClusterConfig, ClusterState, ClusterThread, GcState

__all__ = ["Cluster", "ClusterConfig", "ClusterState", "ClusterThread", "GcState"]

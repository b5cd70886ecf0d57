"""Cluster topology and the scenario vocabulary: :class:`ClusterConfig` (the ``[cluster]``
table of a scenario or config file), the event names (PROTOCOL.md §2) and what the
scenario engine needs of a cluster (:class:`ScenarioTarget`).

Below both the cluster and the scenario files, so neither imports the other.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fakegc.codes import KrbError
from fakegc.journal import Journal
from fakegc.rpc.server import RpcLimits
from fakegc.scenario.events import EVENTS  # the vocabulary, defined once there

if TYPE_CHECKING:
    from fakegc.scenario.rules import FaultRule

__all__ = ["EVENTS", "ClusterConfig", "ScenarioTarget"]



class ScenarioTarget(Protocol):
    """What :class:`~fakegc.scenario.engine.ScenarioRunner` drives (a :class:`Cluster`)."""

    journal: Journal

    def add_rule(self, rule: FaultRule | None = None, **kw: Any) -> FaultRule:
        """Install a fault rule."""
        ...

    async def fire(self, event: str, **args: Any) -> dict[str, Any]:
        """Fire one of :data:`fakegc.scenario.events.EVENTS`."""
        ...


@dataclass
class ClusterConfig:
    """Topology and knobs; loadable from TOML (``[cluster]`` table)."""

    host: str = "127.0.0.1"
    realm: str = "CONTOSO.TEST"
    dns_domain: str = "contoso.test"
    netbios: str = "CONTOSO"
    exchange: str = "ex01"
    gcs: list[str] = field(default_factory=lambda: ["gc01", "gc02"])
    directory_path: Path | None = None
    journal_path: Path | None = None
    journal_size: int = 200_000
    admin_port: int | None = None
    rpc_http_port: int | None = None
    allow_anonymous: bool = False
    read_only: bool = False
    principal_unknown_code: int = KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN
    pinned_gc: str | None = None
    ports: dict[str, int] = field(default_factory=dict)  # "gc01.nspi" → port, "kdc" → port
    server_guids: dict[str, str] = field(default_factory=dict)
    limits: RpcLimits = field(default_factory=RpcLimits)
    clock_offset: float = 0.0
    # actor name -> the etypes its service accounts support (AD's msDS-SupportedEncryptionTypes),
    # e.g. {"gc02": [23]} for an rc4-hmac-only GC account; default aes256, aes128, rc4
    service_etypes: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>") -> ClusterConfig:
        """Build from a ``[cluster]`` table; unknown keys are an error naming the key."""
        cfg = cls()
        for key, value in data.items():
            if not hasattr(cfg, key) or key == "limits":
                raise ValueError(f"{source}: unknown [cluster] key {key!r}")
            if key in ("directory_path", "journal_path") and value is not None:
                value = Path(value)
            setattr(cfg, key, value)
        if not cfg.gcs:
            raise ValueError(f"{source}: [cluster] gcs must name at least one GC")
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClusterConfig:
        """From a TOML file with a ``[cluster]`` table."""
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        return cls.from_dict(data.get("cluster", data), str(path))

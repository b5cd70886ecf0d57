"""Cluster topology and the scenario vocabulary: :class:`ClusterConfig` (the ``[cluster]``
table of a scenario or config file), the event names (PROTOCOL.md §2) and what the
scenario engine needs of a cluster (:class:`ScenarioTarget`).

Below both the cluster and the scenario files, so neither imports the other.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fakegc.codes import KrbError
from fakegc.journal import Journal
from fakegc.kdc.server import KdcTcpLimits
from fakegc.rpc.server import RpcLimits
from fakegc.scenario.configcheck import check_table, nested, read_toml, where
from fakegc.scenario.events import EVENTS  # the vocabulary, defined once there

if TYPE_CHECKING:
    from fakegc.scenario.rules import FaultRule

__all__ = ["EVENTS", "ClusterConfig", "ScenarioTarget"]



class ScenarioTarget(Protocol):
    """What :class:`~fakegc.scenario.engine.ScenarioRunner` drives (a :class:`Cluster`)."""

    journal: Journal
    @property
    def gcs(self) -> Mapping[str, Any]:
        """The GCs by name (a scenario's steps may name only these)."""
        ...

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
    journal_rotate_bytes: int = 64 << 20  # the JSON Lines mirror rotates at this size
    journal_keep: int = 3  # rotated mirror files kept (path.1 … path.N)
    admin_port: int | None = None
    admin_host: str = "127.0.0.1"  # the control plane stays on loopback unless asked
    admin_token: str | None = None  # None: FAKEGC_ADMIN_TOKEN, else generated at start
    rpc_http_port: int | None = None
    allow_anonymous: bool = False
    read_only: bool = False
    principal_unknown_code: int = KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN
    pinned_gc: str | None = None
    ports: dict[str, int] = field(default_factory=dict)  # "gc01.nspi" → port, "kdc" → port
    server_guids: dict[str, str] = field(default_factory=dict)
    limits: RpcLimits = field(default_factory=RpcLimits)  # [cluster.limits]
    kdc_tcp: KdcTcpLimits = field(default_factory=KdcTcpLimits)  # [cluster.kdc_tcp]
    clock_offset: float = 0.0
    # actor name -> the etypes its service accounts support (AD's msDS-SupportedEncryptionTypes),
    # e.g. {"gc02": [23]} for an rc4-hmac-only GC account; default aes256, aes128, rc4
    service_etypes: dict[str, list[int]] = field(default_factory=dict)
    # actor (or "kdc", "admin", "rpc_http") -> listening address; default ``host``
    hosts: dict[str, str] = field(default_factory=dict)
    lab: Any = None  # a fakegc.lab.LabConfig: lab mode (TOML [lab]; PROTOCOL.md §12)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>", text: str = "") -> ClusterConfig:
        """Build from a ``[cluster]`` table; unknown keys and wrong types name file:line: key."""
        check_table(cls, data, source, text, skip=("lab",))
        cfg = cls()
        hints = typing.get_type_hints(cls)
        for key, value in data.items():
            if key in ("directory_path", "journal_path") and value is not None:
                value = Path(value)
            inner = nested(hints[key])
            if inner is not None:  # [cluster.limits], [cluster.kdc_tcp]
                value = inner(**value)
            setattr(cfg, key, value)
        if not cfg.gcs:
            raise ValueError(f"{source}: [cluster] gcs must name at least one GC")
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClusterConfig:
        """From a TOML file with a ``[cluster]`` table."""
        data, text = read_toml(Path(path))
        cfg = cls.from_dict(data.get("cluster", {} if "lab" in data else data), str(path), text)
        if "lab" in data:
            from fakegc.lab.plan import LabConfig

            cfg.lab = LabConfig.from_dict(data["lab"], str(path), text, where)
        return cfg

"""The cluster's actors: a GC (implements ``NspiHost``) and the Exchange server (implements
``ReferralHost``), and what they read of the cluster they live in (:class:`ActorWorld`).

PROTOCOL.md §1 (actors), §2 (what each answers in each scenario state).
"""

from __future__ import annotations

import uuid as uuidlib
from enum import Enum
from typing import Protocol

from fakegc.codes import NspiStatus
from fakegc.directory.model import Directory
from fakegc.journal import Journal
from fakegc.kdc.server import Kdc, KdcRule
from fakegc.referral.host import ReferralRefused
from fakegc.rpc.epm import EndpointMap
from fakegc.rpc.server import RpcServer
from fakegc.scenario.config import ClusterConfig

__all__ = ["MID_BAND", "MID_TOP", "ActorWorld", "ExchangeActor", "GcActor", "GcState"]

#: GC MId blocks lie in MID_BAND MIds under MID_TOP (below dnt-lookup's default start)
MID_TOP = 496_000
MID_BAND = 24_000


class GcState(str, Enum):
    """A GC's own state."""

    UP = "up"
    SHUTTING_DOWN = "shutting_down"
    DOWN = "down"


class ActorWorld(Protocol):
    """What an actor reads of its cluster (:class:`fakegc.scenario.cluster.Cluster`)."""

    config: ClusterConfig
    directory: Directory
    journal: Journal
    kdc: Kdc

    def referral_candidate(self) -> GcActor | None:
        """The GC the referral service names now, or None."""
        ...


class GcActor:
    """A Global Catalog: NSPI server + endpoint mapper; implements ``NspiHost``."""

    def __init__(self, cluster: ActorWorld, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.fqdn = f"{name}.{cluster.config.dns_domain}".lower()
        guid = cluster.config.server_guids.get(name)
        self.server_guid = uuidlib.UUID(guid) if guid else uuidlib.uuid4()
        self.state = GcState.UP
        self.accepting_binds = True
        self.allow_anonymous = cluster.config.allow_anonymous
        self.read_only = cluster.config.read_only
        self.principal_name = f"exchangeAB/{self.fqdn}"
        self.endpoint_map = EndpointMap()
        self.nspi: RpcServer
        self.epm: RpcServer
        self.kdc_rule: KdcRule | None = None

    @property
    def directory(self) -> Directory:
        """The cluster's shared directory."""
        return self.cluster.directory

    @property
    def mid_offset(self) -> int:
        """Where this GC's MIds start (PROTOCOL.md §11).

        A real GC's MIds are its database's DNTs: small integers, thousands to a few
        hundred thousand; ``exchanger.py nspi dnt-lookup`` walks them down from 500000.
        Each GC gets a block of ``step`` MIds (room for every directory MId) in a band
        just under that start, chosen from its slot in the cluster and its server GUID:
        no two GCs of a cluster share a block, and a new or restarted GC (new GUID)
        usually moves, so a client's cached MIds go stale as in production.
        """
        names = sorted(self.cluster.config.gcs)
        slot = names.index(self.name) if self.name in names else len(names)
        count = len(names) + 1
        step = 1 << max(10, (self.directory.max_mid() + 1).bit_length())
        rounds = max(1, MID_BAND // step // count)
        index = slot + count * (self.server_guid.int % rounds)
        return max(step, MID_TOP - step * (1 + index))

    def servers(self) -> list[RpcServer]:
        """This GC's RPC servers."""
        return [self.nspi, self.epm]


class ExchangeActor:
    """The Exchange server: referral service + endpoint mapper; implements ``ReferralHost``."""

    def __init__(self, cluster: ActorWorld, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.fqdn = f"{name}.{cluster.config.dns_domain}".lower()
        self.principal_name = f"exchangeRFR/{self.fqdn}"
        self.endpoint_map = EndpointMap()
        self.rfr: RpcServer
        self.epm: RpcServer

    def referral_target(self, user_dn: str) -> str | None:
        """The scenario's candidate GC, after getting a ticket for it (KB 929439).

        The Exchange server asks the KDC for ``exchangeAB/<candidate>`` first: when
        the KDC refuses (the GC is shutting down), the referral fails with a
        credentials error (LogonFailed), which is what sends the KB's provider into
        its user-credentials state.  A candidate that is down gives NotFound.
        """
        gc = self.cluster.referral_candidate()
        if gc is None:
            return None
        code = self.cluster.kdc.would_refuse(gc.principal_name, f"{self.name}$")
        self.cluster.journal.record(self.name, "krb_check", service=gc.principal_name,
                                    code=code or 0)
        if code is not None:
            raise ReferralRefused(NspiStatus.LogonFailed, f"ticket for {gc.principal_name}: KRB-ERROR {code}")
        if gc.state is not GcState.UP:
            return None
        return gc.fqdn

    def fqdn_for_server_dn(self, dn: str) -> str | None:
        """Map an Exchange server's legacy DN to its FQDN."""
        obj = self.cluster.directory.find_dn(dn)
        if obj is None or obj.kind != "server":
            return None
        return obj.fqdn or f"{obj.alias}.{self.cluster.config.dns_domain}"

    def servers(self) -> list[RpcServer]:
        """This actor's RPC servers."""
        return [self.rfr, self.epm]

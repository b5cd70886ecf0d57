"""The fake cluster: one Exchange server (referral), N GCs (EPM + NSPI), one KDC, one directory.

PROTOCOL.md §1–§2.  Every actor listens on its own loopback ports (ephemeral by
default).  State changes go through :meth:`Cluster.fire` and are journaled:

==================  ===========================================================
event               effect
==================  ===========================================================
``shutdown_begin``  GC stops accepting binds (NspiBind → LogonFailed), its open
                    connections are cut (clients see 1726), the KDC answers
                    KDC_ERR_S_PRINCIPAL_UNKNOWN (7, configurable) for its SPN, and
                    the referral fails while this GC is the candidate
``gc_down``         GC's listeners close: TCP connection refused (clients see 1722)
``new_gc_ready``    the referral points at the new GC, whose SPN the KDC issues
``gc_restart``      GC listens again on the same ports with a new server GUID
                    (unless ``keep_guid``): old association groups get bind_nak,
                    old context handles fault 0x1C00001A
``kdc_skew``        the KDC's clock moves by ``seconds``
``pin_referral``    the referral always names ``gc`` (Exchange's "RFR Target Server")
``custom``          journaled only (for tests that mark phases)
==================  ===========================================================
"""

from __future__ import annotations

import asyncio
import json
import os
import typing
import uuid as uuidlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from fakegc.codes import KrbError, NspiStatus
from fakegc.directory.model import Directory
from fakegc.journal import Journal
from fakegc.kdc.principals import ETYPES, PrincipalDb
from fakegc.kdc.server import Kdc, KdcRule, KdcTcpLimits
from fakegc.nspi import NSPI
from fakegc.referral import RFR
from fakegc.referral.host import ReferralRefused
from fakegc.rpc.auth.kerberos import KerberosProvider, SpnegoKerberosProvider
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.epm import EPM, EndpointMap
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.server import RpcLimits, RpcServer
from fakegc.runner import BackgroundLoop
from fakegc.scenario.configcheck import check_table, nested, read_toml
from fakegc.scenario.events import EVENTS
from fakegc.scenario.rules import FaultRule, injector_for, on_connect_for

__all__ = ["ClusterConfig", "Cluster", "ClusterThread", "GcActor", "ExchangeActor", "GcState",
           "ClusterState", "EVENTS"]



class GcState(str, Enum):
    """A GC's own state."""

    UP = "up"
    SHUTTING_DOWN = "shutting_down"
    DOWN = "down"


class ClusterState(str, Enum):
    """The scenario states of PROTOCOL.md §2."""

    HEALTHY = "HEALTHY"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    DOWN = "DOWN"
    NEW_GC = "NEW_GC"


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

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>", text: str = "") -> ClusterConfig:
        """Build from a ``[cluster]`` table; unknown keys and wrong types name file:line: key."""
        check_table(cls, data, source, text)
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
        data, text = read_toml(path)
        return cls.from_dict(data.get("cluster", data), str(path), text)


#: GC MId blocks lie in MID_BAND MIds under MID_TOP (below dnt-lookup's default start)
MID_TOP = 496_000
MID_BAND = 24_000


class GcActor:
    """A Global Catalog: NSPI server + endpoint mapper; implements ``NspiHost``."""

    def __init__(self, cluster: Cluster, name: str) -> None:
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
        step = 1 << max(10, (max(self.directory.objects, default=0) + 1).bit_length())
        rounds = max(1, MID_BAND // step // count)
        index = slot + count * (self.server_guid.int % rounds)
        return max(step, MID_TOP - step * (1 + index))

    def servers(self) -> list[RpcServer]:
        """This GC's RPC servers."""
        return [self.nspi, self.epm]


class ExchangeActor:
    """The Exchange server: referral service + endpoint mapper; implements ``ReferralHost``."""

    def __init__(self, cluster: Cluster, name: str) -> None:
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


class Cluster:
    """The running cluster (see the module docstring for the events)."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self.journal = Journal(self.config.journal_size,
                               str(self.config.journal_path) if self.config.journal_path else None,
                               rotate_bytes=self.config.journal_rotate_bytes,
                               keep=self.config.journal_keep)
        self._pristine = (Directory.load(self.config.directory_path) if self.config.directory_path
                          else Directory.default())
        self.directory = self._pristine.copy()
        self.db = PrincipalDb(self.config.realm, self.config.netbios)
        for user, password in self.directory.accounts():
            self.db.add_user(user, password)
        self.gcs: dict[str, GcActor] = {name: GcActor(self, name) for name in self.config.gcs}
        self.exchange = ExchangeActor(self, self.config.exchange)
        unknown = set(self.config.service_etypes) - set(self.gcs) - {self.exchange.name}
        if unknown:
            raise ValueError(f"service_etypes names no actor: {', '.join(sorted(unknown))}")
        for gc in self.gcs.values():
            etypes = self._etypes(gc.name)
            self.db.add_service(gc.principal_name, etypes=etypes)
            self.db.add_service(f"host/{gc.fqdn}", etypes=etypes)
        etypes = self._etypes(self.exchange.name)
        self.db.add_service(self.exchange.principal_name, etypes=etypes)
        self.db.add_service(f"host/{self.exchange.fqdn}", etypes=etypes)
        self.kdc = Kdc(self.db, self.journal, self.config.host, self.config.ports.get("kdc", 0),
                       self.config.ports.get("kdc", 0), self.config.clock_offset)
        self.kdc.tcp_limits = self.config.kdc_tcp
        self.rules: list[FaultRule] = []
        self._rule_ids = 0
        self.state = ClusterState.HEALTHY
        self.current_gc = self.config.gcs[0]
        self.pinned_gc = self.config.pinned_gc
        self.admin: Any = None
        self.rpc_http: Any = None
        self.started = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._runners: list[Any] = []

    def _etypes(self, actor: str) -> tuple[int, ...]:
        """The etypes ``actor``'s service accounts support (``ClusterConfig.service_etypes``)."""
        wanted = self.config.service_etypes.get(actor)
        return tuple(int(e) for e in wanted) if wanted else ETYPES

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    async def start(cls, config: ClusterConfig | None = None) -> Cluster:
        """Build and start a cluster; returns it ready."""
        cluster = cls(config)
        await cluster._start()
        return cluster

    def _server(self, name: str, ifaces: list[Any], actor: Any, port_key: str) -> RpcServer:
        spns = [actor.principal_name, f"host/{actor.fqdn}"]
        providers = [NtlmProvider(self.db, host=actor.name), KerberosProvider(self.db, spns),
                     SpnegoKerberosProvider(self.db, spns)]
        server = RpcServer(name, ifaces, actor=actor, journal=self.journal, providers=providers,
                           allow_anonymous=self.config.allow_anonymous, host=self.config.host,
                           port=self.config.ports.get(port_key, 0), limits=self.config.limits)
        server.injector = injector_for(name, self.rules)
        server.on_connect = on_connect_for(name, self.rules)
        server.endpoint_map = actor.endpoint_map  # type: ignore[attr-defined]
        return server

    async def _start(self) -> None:
        await self.kdc.start()
        for gc in self.gcs.values():
            gc.nspi = self._server(gc.name, [NSPI, MGMT], gc, f"{gc.name}.nspi")
            gc.epm = self._server(f"{gc.name}-epm", [EPM, MGMT], gc, f"{gc.name}.epm")
            await gc.nspi.start()
            await gc.epm.start()
            gc.endpoint_map.register(NSPI, self.config.host, gc.nspi.port, "NSPI")
            gc.endpoint_map.register(MGMT, self.config.host, gc.nspi.port, "mgmt")
            gc.endpoint_map.register(EPM, self.config.host, gc.epm.port, "EPM")
        ex = self.exchange
        ex.rfr = self._server(ex.name, [RFR, MGMT], ex, f"{ex.name}.rfr")
        ex.epm = self._server(f"{ex.name}-epm", [EPM, MGMT], ex, f"{ex.name}.epm")
        await ex.rfr.start()
        await ex.epm.start()
        ex.endpoint_map.register(RFR, self.config.host, ex.rfr.port, "RFR")
        ex.endpoint_map.register(MGMT, self.config.host, ex.rfr.port, "mgmt")
        ex.endpoint_map.register(EPM, self.config.host, ex.epm.port, "EPM")
        if self.config.admin_port is not None:
            from fakegc.scenario.admin import AdminServer

            self.admin = AdminServer(self, self.config.admin_host, self.config.admin_port,
                                     token=self.config.admin_token)
            await self.admin.start()
        if self.config.rpc_http_port is not None:
            try:
                from fakegc.rpchttp import RpcHttpProxy  # type: ignore[import-not-found]
            except ImportError:
                self.rpc_http = None
            else:
                self.rpc_http = RpcHttpProxy(self.resolve_rpc_server, self.journal, self.db,
                                             host=self.config.host, port=self.config.rpc_http_port)
                await self.rpc_http.start()
        self.started = True
        self.journal.record("scenario", "state", state=self.state.value, gc=self.current_gc)

    async def close(self) -> None:
        """Stop every actor."""
        for task in self._tasks:
            task.cancel()
        for server in self.all_servers():
            await server.close()
        await self.kdc.close()
        if self.admin is not None:
            await self.admin.close()
        if self.rpc_http is not None:
            await self.rpc_http.close()
        self.journal.close()

    async def __aenter__(self) -> Cluster:
        if not self.started:
            await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    def run_in_thread(cls, config: ClusterConfig | None = None) -> ClusterThread:
        """A started cluster on a background loop, for blocking callers (impacket, pytest)."""
        return ClusterThread(config)

    # -- lookups ----------------------------------------------------------------------
    def all_servers(self) -> list[RpcServer]:
        """Every RPC server of every actor."""
        out: list[RpcServer] = []
        for gc in self.gcs.values():
            out += gc.servers()
        out += self.exchange.servers()
        return out

    def resolve_rpc_server(self, server: str, port: int) -> RpcServer | None:
        """RPC-over-HTTP target resolution: (server name, 6004/6002) → an RpcServer."""
        name = server.split(".")[0].lower()
        if name == self.exchange.name and port == 6002:
            return self.exchange.rfr
        if name == self.exchange.name and port == 6004:
            gc = self.gcs.get(self.current_gc)
            return gc.nspi if gc else None
        gc = self.gcs.get(name)
        if gc is not None and port == 6004:
            return gc.nspi
        return None

    def gc(self, name: str | None = None) -> GcActor:
        """A GC by name (default: the referral's current one)."""
        key = name or self.current_gc
        if key not in self.gcs:
            raise KeyError(f"no GC named {key!r} (have {', '.join(self.gcs)})")
        return self.gcs[key]

    def referral_candidate(self) -> GcActor | None:
        """The GC the referral service would name now."""
        return self.gcs.get(self.pinned_gc or self.current_gc)

    def endpoints(self) -> dict[str, Any]:
        """Every actor's host and ports, realm and test users (the endpoints document)."""
        actors: dict[str, Any] = {}
        for gc in self.gcs.values():
            actors[gc.name] = {"role": "gc", "fqdn": gc.fqdn, "host": self.config.host,
                               "nspi": gc.nspi.port, "epm": gc.epm.port,
                               "server_guid": str(gc.server_guid), "state": gc.state.value,
                               "spn": gc.principal_name}
        ex = self.exchange
        actors[ex.name] = {"role": "exchange", "fqdn": ex.fqdn, "host": self.config.host,
                           "rfr": ex.rfr.port, "epm": ex.epm.port, "spn": ex.principal_name}
        if self.rpc_http is not None:
            actors[ex.name]["rpc_http"] = self.rpc_http.port
        users = [{"name": u, "password": p} for u, p in list(self.directory.accounts())[:5]]
        doc: dict[str, Any] = {
            "realm": self.config.realm, "domain": self.config.netbios,
            "dns_domain": self.config.dns_domain, "host": self.config.host,
            "kdc": {"host": self.config.host, "udp": self.kdc.udp_port, "tcp": self.kdc.tcp_port},
            "actors": actors, "users": users, "state": self.state.value,
            "referral": self.current_gc,
        }
        if self.admin is not None:
            doc["admin"] = self.admin.url
            doc["admin_token"] = self.admin.token
        return doc

    def write_endpoints(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`endpoints` as JSON, atomically: a reader polling for the file never
        sees it half-written (it appears by rename, complete)."""
        p = Path(path)  # mode 0600: it holds the admin token and test passwords
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.endpoints(), indent=2))
        os.replace(tmp, p)
        return p

    def krb5_env(self, directory: str | os.PathLike[str], udp_preference_limit: int | None = None) -> dict[str, str]:
        """A krb5.conf in ``directory`` and the env dict MIT tools need."""
        return self.kdc.env(directory, udp_preference_limit)

    # -- events ----------------------------------------------------------------------------
    def _set_state(self, state: ClusterState) -> None:
        if state is not self.state:
            self.journal.record("scenario", "state", previous=self.state.value, state=state.value,
                                gc=self.current_gc)
            self.state = state

    async def fire(self, event: str, **args: Any) -> dict[str, Any]:
        """Apply one event (module docstring); returns a summary."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r} (one of {', '.join(EVENTS)})")
        self.journal.record("scenario", "event", event=event, **{k: v for k, v in args.items()})
        handler = getattr(self, f"_on_{event}")
        try:
            result: dict[str, Any] = await handler(**args)
        except (KeyError, ValueError, TypeError) as exc:  # journaled: the event did not apply
            self.journal.record("scenario", "event_refused", event=event,
                                error=str(exc.args[0] if exc.args else exc))
            raise
        return result

    async def _on_shutdown_begin(self, gc: str | None = None, code: int | None = None) -> dict[str, Any]:
        actor = self.gc(gc)
        actor.state = GcState.SHUTTING_DOWN
        actor.accepting_binds = False
        cut = sum(server.cut_connections("shutdown_begin") for server in actor.servers())
        if actor.kdc_rule is None:
            actor.kdc_rule = self.kdc.add_rule(
                action="error", code=code if code is not None else self.config.principal_unknown_code,
                msg="TGS", service=actor.principal_name, name=f"{actor.name} shutting down")
        self._set_state(ClusterState.SHUTTING_DOWN)
        return {"gc": actor.name, "connections_cut": cut}

    async def _on_gc_down(self, gc: str | None = None) -> dict[str, Any]:
        actor = self.gc(gc)
        if actor.state is GcState.UP:
            await self._on_shutdown_begin(actor.name)
        actor.state = GcState.DOWN
        for server in actor.servers():
            await server.stop_listening()
            server.cut_connections("gc_down")
        self._set_state(ClusterState.DOWN)
        return {"gc": actor.name}

    async def _on_new_gc_ready(self, gc: str | None = None) -> dict[str, Any]:
        if gc is None:
            gc = next((n for n, a in self.gcs.items() if n != self.current_gc and a.state is GcState.UP),
                      None)
            if gc is None:
                raise ValueError("no other GC is up to become the new GC")
        actor = self.gc(gc)
        if actor.state is not GcState.UP:
            raise ValueError(f"{gc} is {actor.state.value}; restart it before referring to it")
        self.current_gc = actor.name
        self._set_state(ClusterState.NEW_GC)
        return {"gc": actor.name}

    async def _on_gc_restart(self, gc: str | None = None, keep_guid: bool = False) -> dict[str, Any]:
        actor = self.gc(gc)
        for server in actor.servers():
            server.cut_connections("gc_restart")
            server.reset_associations()
            await server.resume_listening()
        if not keep_guid:
            actor.server_guid = uuidlib.uuid4()
        actor.state = GcState.UP
        actor.accepting_binds = True
        if actor.kdc_rule is not None:
            self.kdc.remove_rule(actor.kdc_rule)
            actor.kdc_rule = None
        if all(a.state is GcState.UP for a in self.gcs.values()) and self.state is not ClusterState.NEW_GC:
            self._set_state(ClusterState.HEALTHY)
        return {"gc": actor.name, "server_guid": str(actor.server_guid)}

    async def _on_kdc_skew(self, seconds: float = 600.0) -> dict[str, Any]:
        self.kdc.clock_offset = float(seconds)
        return {"clock_offset": self.kdc.clock_offset}

    async def _on_pin_referral(self, gc: str | None = None) -> dict[str, Any]:
        if gc is not None:
            self.gc(gc)
        self.pinned_gc = gc
        return {"pinned": gc}

    async def _on_custom(self, **args: Any) -> dict[str, Any]:
        return dict(args)

    # -- fault rules ---------------------------------------------------------------------
    def add_rule(self, rule: FaultRule | None = None, **kw: Any) -> FaultRule:
        """Install a fault rule (RPC kinds go to the injectors, krb_error to the KDC)."""
        rule = rule or FaultRule(**kw)
        self._rule_ids += 1
        rule.id = self._rule_ids
        if rule.kind == "krb_error":
            kdc_rule = self.kdc.add_rule(action="error", code=rule.value, msg=rule.msg,
                                         client=rule.principal, service=rule.service,
                                         after=rule.after, times=rule.times,
                                         probability=rule.probability, seed=rule.seed,
                                         name=rule.name or f"rule-{rule.id}", delay=rule.delay)
            rule.kdc_rule_id = kdc_rule.id  # type: ignore[attr-defined]
        self.rules.append(rule)
        self.journal.record("scenario", "rule", action="added", id=rule.id, fault=rule.kind,
                            target=rule.actor, interface=rule.interface, opnum=rule.opnum,
                            op=rule.op, value=rule.value, name=rule.name)
        return rule

    def remove_rule(self, rule_id: int) -> bool:
        """Remove a fault rule by id; False when there is no such rule."""
        found = False
        for rule in list(self.rules):
            if rule.id == rule_id:
                found = True
                self.rules.remove(rule)
                if rule.kind == "krb_error":
                    self.kdc.remove_rule(getattr(rule, "kdc_rule_id", 0))
        self.journal.record("scenario", "rule", action="removed" if found else "not_found", id=rule_id)
        return found

    # -- reset -------------------------------------------------------------------------------
    async def reset(self, clear_journal: bool = True) -> None:
        """Back to HEALTHY: every GC up, rules cleared, directory restored (fast)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        for runner in self._runners:
            runner.stop()
        self._runners.clear()
        self.rules.clear()
        self.kdc.clear_rules()
        self.kdc.clock_offset = self.config.clock_offset
        for actor in self.gcs.values():
            actor.kdc_rule = None
            if actor.state is not GcState.UP or not actor.accepting_binds:
                for server in actor.servers():
                    await server.resume_listening()
                actor.state = GcState.UP
                actor.accepting_binds = True
        self.current_gc = self.config.gcs[0]
        self.pinned_gc = self.config.pinned_gc
        if self.directory.version != self._pristine.version:
            self.directory = self._pristine.copy()
        self.state = ClusterState.HEALTHY
        if clear_journal:
            self.journal.clear()
        self.journal.record("scenario", "state", state=self.state.value, gc=self.current_gc, reset=True)

    # -- scenarios -----------------------------------------------------------------------------
    async def run_scenario(self, scenario: Any, time_scale: float = 1.0) -> Any:
        """Load (name, path or Scenario) and start its timeline in the background."""
        from fakegc.scenario.engine import ScenarioRunner
        from fakegc.scenario.model import Scenario, load_scenario

        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        runner = ScenarioRunner(self, sc, time_scale)
        self._runners.append(runner)
        await runner.install()
        self._tasks.append(asyncio.get_running_loop().create_task(runner.run_timeline()))
        return runner


class ClusterThread:
    """A started :class:`Cluster` on its own event loop thread (synchronous facade)."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.loop = BackgroundLoop("fakegc-cluster").start()
        try:
            self.cluster: Cluster = self.loop.run(Cluster.start(config))
        except BaseException:
            self.loop.stop()
            raise

    @property
    def journal(self) -> Journal:
        """The cluster's journal."""
        return self.cluster.journal

    def fire(self, event: str, **args: Any) -> dict[str, Any]:
        """Apply an event (blocking)."""
        return self.loop.run(self.cluster.fire(event, **args))

    def add_rule(self, rule: FaultRule | None = None, **kw: Any) -> FaultRule:
        """Install a fault rule."""
        return self.loop.call(lambda: self.cluster.add_rule(rule, **kw))  # type: ignore[no-any-return]

    def remove_rule(self, rule_id: int) -> None:
        """Remove a fault rule."""
        self.loop.call(self.cluster.remove_rule, rule_id)

    def reset(self, clear_journal: bool = True) -> None:
        """Back to HEALTHY (blocking)."""
        self.loop.run(self.cluster.reset(clear_journal))

    def endpoints(self) -> dict[str, Any]:
        """The endpoints document."""
        return self.loop.call(self.cluster.endpoints)  # type: ignore[no-any-return]

    def run_scenario(self, scenario: Any, time_scale: float = 1.0) -> Any:
        """Start a scenario's timeline."""
        return self.loop.run(self.cluster.run_scenario(scenario, time_scale))

    # -- the rest of Cluster's surface, across the thread (a test keeps the two equal) ------
    def all_servers(self) -> list[RpcServer]:
        """Every RPC server of every actor."""
        return self.cluster.all_servers()

    def resolve_rpc_server(self, server: str, port: int) -> RpcServer | None:
        """RPC-over-HTTP target resolution (see :meth:`Cluster.resolve_rpc_server`)."""
        return self.cluster.resolve_rpc_server(server, port)

    def gc(self, name: str | None = None) -> GcActor:
        """A GC by name (default: the referral's current one)."""
        return self.cluster.gc(name)

    def referral_candidate(self) -> GcActor | None:
        """The GC the referral service would name now."""
        return self.cluster.referral_candidate()

    def write_endpoints(self, path: str | os.PathLike[str]) -> Path:
        """Write the endpoints document as JSON."""
        return self.loop.call(self.cluster.write_endpoints, path)  # type: ignore[no-any-return]

    def krb5_env(self, directory: str | os.PathLike[str],
                 udp_preference_limit: int | None = None) -> dict[str, str]:
        """A krb5.conf in ``directory`` and the env dict MIT tools need."""
        return self.loop.call(self.cluster.krb5_env, directory,  # type: ignore[no-any-return]
                              udp_preference_limit)

    config = property(lambda self: self.cluster.config, doc="The cluster's configuration.")
    directory = property(lambda self: self.cluster.directory, doc="The current directory.")
    db = property(lambda self: self.cluster.db, doc="The principal database.")
    gcs = property(lambda self: self.cluster.gcs, doc="The GCs by name.")
    exchange = property(lambda self: self.cluster.exchange, doc="The Exchange actor.")
    kdc = property(lambda self: self.cluster.kdc, doc="The KDC.")
    rules = property(lambda self: self.cluster.rules, doc="The fault rules installed.")
    state = property(lambda self: self.cluster.state, doc="The cluster state.")
    current_gc = property(lambda self: self.cluster.current_gc, doc="The referral's GC.")
    pinned_gc = property(lambda self: self.cluster.pinned_gc, doc="The pinned GC, if any.")
    admin = property(lambda self: self.cluster.admin, doc="The control plane, if started.")
    rpc_http = property(lambda self: self.cluster.rpc_http, doc="The RPC over HTTP proxy, if any.")
    started = property(lambda self: self.cluster.started, doc="True once every actor listens.")

    def close(self) -> None:
        """Stop the cluster and its loop."""
        try:
            self.loop.run(self.cluster.close())
        finally:
            self.loop.stop()

    def __enter__(self) -> ClusterThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

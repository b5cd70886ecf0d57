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
``gc_down``         GC's listeners close: TCP connection refused (clients see 1722); in lab
                    mode its netlogon DNS records go too (``deregister``, default per [lab])
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
import contextlib
import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Self

from fakegc.directory import loader
from fakegc.directory.build import LARGE
from fakegc.directory.index import adopt, warm
from fakegc.journal import Journal
from fakegc.kdc.principals import ETYPES, PrincipalDb
from fakegc.kdc.server import Kdc
from fakegc.nspi import NSPI
from fakegc.referral import RFR
from fakegc.rpc.auth.base import SecurityProvider
from fakegc.rpc.auth.kerberos import KerberosProvider, SpnegoKerberosProvider
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.epm import EPM
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.server import RpcServer
from fakegc.runner import BackgroundLoop
from fakegc.scenario.actors import ExchangeActor, GcActor, GcState
from fakegc.scenario.config import ClusterConfig
from fakegc.scenario.engine import ScenarioRunner
from fakegc.scenario.events import EVENTS
from fakegc.scenario.model import Scenario, load_scenario
from fakegc.scenario.rules import FaultRule, injector_for, on_connect_for
from fakegc.scenario.transitions import ClusterEvents, ClusterState

__all__ = [
    "EVENTS",
    "Cluster",
    "ClusterConfig",
    "ClusterState",
    "ClusterThread",
    "ExchangeActor",
    "GcActor",
    "GcState",
]



class Cluster(ClusterEvents):
    """The running cluster (see the module docstring for the events)."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self.journal = Journal(self.config.journal_size,
                               str(self.config.journal_path) if self.config.journal_path else None,
                               rotate_bytes=self.config.journal_rotate_bytes,
                               keep=self.config.journal_keep)
        self._pristine = loader.load_default(self.config.directory_path)  # parsed once a process
        self.directory = self._pristine.copy()
        self.db = PrincipalDb(self.config.realm, self.config.netbios)
        self.db.add_users_from(self._account, self._pristine.accounts)  # on first lookup
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
        self.lab: Any = None
        if self.config.lab is not None and self.config.lab.enabled:
            from fakegc.lab.network import LabNetwork

            self.lab = LabNetwork(self)  # fills config.hosts and config.ports
        self.kdc = Kdc(self.db, self.journal, self.addr("kdc"), self.config.ports.get("kdc", 0),
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

    def addr(self, key: str) -> str:
        """The address ``key`` (an actor, "kdc", "admin", "rpc_http") listens on."""
        return self.config.hosts.get(key, self.config.host)

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
        providers: list[SecurityProvider] = [
            NtlmProvider(self.db, host=actor.name), KerberosProvider(self.db, spns),
            SpnegoKerberosProvider(self.db, spns)]
        server = RpcServer(name, ifaces, actor=actor, journal=self.journal, providers=providers,
                           allow_anonymous=self.config.allow_anonymous, host=self.addr(actor.name),
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
            host = self.addr(gc.name)
            gc.endpoint_map.register(NSPI, host, gc.nspi.port, "NSPI")
            gc.endpoint_map.register(MGMT, host, gc.nspi.port, "mgmt")
            gc.endpoint_map.register(EPM, host, gc.epm.port, "EPM")
        ex = self.exchange
        ex.rfr = self._server(ex.name, [RFR, MGMT], ex, f"{ex.name}.rfr")
        ex.epm = self._server(f"{ex.name}-epm", [EPM, MGMT], ex, f"{ex.name}.epm")
        await ex.rfr.start()
        await ex.epm.start()
        host = self.addr(ex.name)
        ex.endpoint_map.register(RFR, host, ex.rfr.port, "RFR")
        ex.endpoint_map.register(MGMT, host, ex.rfr.port, "mgmt")
        ex.endpoint_map.register(EPM, host, ex.epm.port, "EPM")
        if self.config.admin_port is not None:
            from fakegc.scenario.admin import AdminServer

            self.admin = AdminServer(self, self.config.hosts.get("admin", self.config.admin_host),
                                     self.config.admin_port, token=self.config.admin_token)
            await self.admin.start()
        if self.config.rpc_http_port is not None:
            try:
                from fakegc.rpchttp import RpcHttpProxy
            except ImportError:
                self.rpc_http = None
            else:
                self.rpc_http = RpcHttpProxy(self.resolve_rpc_server, self.journal, self.db,
                                             host=self.addr("rpc_http"), port=self.config.rpc_http_port)
                await self.rpc_http.start()
        if self.lab is not None:
            await self.lab.start()
        self.started = True
        self.journal.record("scenario", "state", state=self.state.value, gc=self.current_gc)
        if len(self._pristine) >= LARGE:  # once the caller has announced the endpoints
            loop = asyncio.get_running_loop()
            loop.call_soon(self._warm_up, loop)

    def _warm_up(self, loop: asyncio.AbstractEventLoop) -> None:
        """Build the tables and indexes of a large directory in a worker thread, on the
        pristine copy nobody writes, then hand them to the served copy on the loop: the first
        SeekEntries / PR_ANR / ResolveNames at 1M users does not pay ~6 s (issue #19)."""
        pristine, started = self._pristine, time.monotonic()

        def work() -> None:
            warm(pristine)
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to hand over
                loop.call_soon_threadsafe(self._adopt_warm, pristine, time.monotonic() - started)

        threading.Thread(target=work, name="fakegc-warm", daemon=True).start()

    def _adopt_warm(self, pristine: Any, seconds: float) -> None:
        adopted = adopt(self.directory, pristine)  # False when the directory changed meanwhile
        cached = pristine.copied_from and pristine.copied_from()  # the process's parsed fixture:
        if cached is not None:  # later clusters of the process start warm
            adopt(cached, pristine)
        self.journal.record("directory", "warm", objects=len(pristine), seconds=round(seconds, 2), adopted=adopted)

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
        if self.lab is not None:
            await self.lab.close()
        self.journal.close()

    async def __aenter__(self) -> Self:
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

    def _account(self, name: str) -> tuple[str, str] | None:
        """(alias, password) of a user of the directory as loaded, for the principal db."""
        obj = self._pristine.find_alias(name)
        if obj is None or obj.password is None:
            return None
        return obj.alias, obj.password

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
            actors[gc.name] = {"role": "gc", "fqdn": gc.fqdn, "host": self.addr(gc.name),
                               "address": self.addr(gc.name),
                               "nspi": gc.nspi.port, "epm": gc.epm.port,
                               "server_guid": str(gc.server_guid), "state": gc.state.value,
                               "spn": gc.principal_name}
        ex = self.exchange
        actors[ex.name] = {"role": "exchange", "fqdn": ex.fqdn, "host": self.addr(ex.name),
                           "address": self.addr(ex.name),
                           "rfr": ex.rfr.port, "epm": ex.epm.port, "spn": ex.principal_name}
        if self.rpc_http is not None:
            actors[ex.name]["rpc_http"] = self.rpc_http.port
        users = [{"name": u, "password": p} for u, p in itertools.islice(self.directory.accounts(), 5)]
        doc: dict[str, Any] = {
            "realm": self.config.realm, "domain": self.config.netbios,
            "dns_domain": self.config.dns_domain, "host": self.config.host,
            "kdc": {"host": self.kdc.host, "address": self.kdc.host, "udp": self.kdc.udp_port,
                    "tcp": self.kdc.tcp_port},
            "actors": actors, "users": users, "state": self.state.value,
            "referral": self.current_gc,
        }
        if self.admin is not None:
            doc["admin"] = self.admin.url
            doc["admin_token"] = self.admin.token
        if self.lab is not None:
            self.lab.annotate(doc)
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
        if self.lab is not None:
            for name in self.gcs:
                self.lab.gc_up(name)
        self.current_gc = self.config.gcs[0]
        self.pinned_gc = self.config.pinned_gc
        if self.directory.version != self._pristine.version:
            self.directory = self._pristine.copy()
        self.state = ClusterState.HEALTHY
        if clear_journal:
            self.journal.clear()
        self.journal.record("scenario", "state", state=self.state.value, gc=self.current_gc, reset=True)

    # -- scenarios -----------------------------------------------------------------------------
    async def run_scenario(self, scenario: str | os.PathLike[str] | Scenario,
                           time_scale: float = 1.0) -> ScenarioRunner:
        """Load (name, path or Scenario) and start its timeline in the background."""
        if isinstance(scenario, Scenario):
            sc = scenario
        else:
            sc = load_scenario(scenario if isinstance(scenario, str) else Path(scenario))
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

    def run_scenario(self, scenario: str | os.PathLike[str] | Scenario,
                     time_scale: float = 1.0) -> ScenarioRunner:
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

    def addr(self, key: str) -> str:
        """The address ``key`` listens on (see :meth:`Cluster.addr`)."""
        return self.cluster.addr(key)

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
    lab = property(lambda self: self.cluster.lab, doc="The lab network (lab mode), else None.")

    def close(self) -> None:
        """Stop the cluster and its loop."""
        try:
            self.loop.run(self.cluster.close())
        finally:
            self.loop.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

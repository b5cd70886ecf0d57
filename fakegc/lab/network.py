"""A cluster's lab network: address plan, DNS zone and server, per-host events.

PROTOCOL.md §12.  :class:`LabNetwork` is built by
:class:`fakegc.scenario.cluster.Cluster` when ``ClusterConfig.lab`` is set: it
fills ``ClusterConfig.hosts`` and ``ports`` from the :class:`LabPlan`, serves the
zone on the DNS host's port 53, and removes a GC's netlogon records when the GC
goes down (``deregister``) and puts them back when it restarts.
"""

from __future__ import annotations

from typing import Any

from fakegc.lab.dns import DnsServer, Zone
from fakegc.lab.plan import DNS_PORT, HTTPS_PORT, KDC_PORT, LabConfig, LabPlan

__all__ = ["LabNetwork", "reverse_zone"]

LDAP_PORT = 389  # the DC's LDAP port netlogon registers (nothing listens there yet)
GC_PORT = 3268  # the GC's LDAP port netlogon registers (NSPI clients use EPM instead)


def reverse_zone(network: str) -> str:
    """The in-addr.arpa zone of ``network``'s whole leading octets (RFC 1035 §3.5)."""
    addr, _, prefix = network.partition("/")
    octets = addr.split(".")[: max(1, int(prefix or 24) // 8)]
    return ".".join(reversed(octets)) + ".in-addr.arpa."


class LabNetwork:
    """The lab side of one :class:`~fakegc.scenario.cluster.Cluster`."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        cfg = cluster.config
        self.config: LabConfig = cfg.lab
        self.plan = LabPlan(self.config, cfg.dns_domain, cfg.exchange, list(cfg.gcs))
        # the lab's standard ports win over [cluster] ports (those are the loopback layout's)
        cfg.hosts = {**self.plan.hosts(), **cfg.hosts}
        cfg.ports = {**cfg.ports, **self.plan.ports()}
        cfg.admin_port = self.config.admin_port
        cfg.rpc_http_port = HTTPS_PORT if self.config.rpc_http else None
        self.registered: set[str] = set(cfg.gcs)  # GCs whose netlogon records are in the zone
        self.zone = Zone(self.plan.domain + ".", reverse_zone(str(self.plan.network)),
                         self.config.ttl)
        self.build_zone()
        self.dns = DnsServer(self.zone, cluster.journal, self.plan.dns_address, DNS_PORT,
                             actor=self.config.dns_name)

    # -- the zone -------------------------------------------------------------------
    def build_zone(self) -> None:
        """Every record of PROTOCOL.md §12 for the current registrations."""
        z, plan, lab = self.zone, self.plan, self.config
        d = plan.domain
        ns, dc = plan.fqdn(lab.dns_name), plan.fqdn(lab.kdc_name)
        z.clear()
        for apex in (z.origin.to_text(), z.reverse.to_text()):
            z.add(apex, "SOA", f"{ns}. hostmaster.{d}. 1 900 600 86400 {lab.ttl}")
            z.add(apex, "NS", f"{ns}.")
        for name, address in plan.addresses.items():
            z.add_address(plan.fqdn(name), address)
        z.add(d, "A", plan.kdc_address)  # the apex names the DCs (MS-ADTS DC DNS records)
        for svc in ("_kerberos._udp", "_kerberos._tcp", "_kerberos-master._udp",
                    "_kerberos-master._tcp", "_kerberos._tcp.dc._msdcs"):
            z.add(f"{svc}.{d}", "SRV", f"0 100 {KDC_PORT} {dc}.")
        for svc in ("_ldap._tcp", "_ldap._tcp.dc._msdcs", "_ldap._tcp.pdc._msdcs"):
            z.add(f"{svc}.{d}", "SRV", f"0 100 {LDAP_PORT} {dc}.")
        for gc in plan.gcs:
            if gc not in self.registered:
                continue
            for svc in ("_gc._tcp", "_ldap._tcp.gc._msdcs"):
                z.add(f"{svc}.{d}", "SRV", f"0 100 {GC_PORT} {plan.fqdn(gc)}.")
            z.add(f"gc._msdcs.{d}", "A", plan.addresses[gc])

    def gc_down(self, gc: str, deregister: bool | None) -> None:
        """A GC shuts down: netlogon deregisters its SRV and gc._msdcs records (if asked)."""
        if deregister if deregister is not None else self.config.deregister_on_down:
            self.registered.discard(gc)
            self.build_zone()
            self.cluster.journal.record(self.config.dns_name, "dns_update", action="deregister",
                                        gc=gc)

    def gc_up(self, gc: str) -> None:
        """A GC (re)starts: its records are registered again."""
        if gc not in self.registered:
            self.registered.add(gc)
            self.build_zone()
            self.cluster.journal.record(self.config.dns_name, "dns_update", action="register",
                                        gc=gc)

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Serve DNS."""
        await self.dns.start()

    async def close(self) -> None:
        """Stop DNS."""
        await self.dns.close()

    def annotate(self, doc: dict[str, Any]) -> None:
        """Add the lab's addresses and names to an endpoints document."""
        plan, lab = self.plan, self.config
        doc["kdc"]["fqdn"] = plan.fqdn(lab.kdc_name)
        doc["dns"] = {"address": plan.dns_address, "fqdn": plan.fqdn(lab.dns_name),
                      "port": self.dns.port}
        doc["control"] = {"address": plan.addresses[lab.ctl_name],
                          "fqdn": plan.fqdn(lab.ctl_name)}
        doc["lab"] = {"network": str(plan.network), "addresses": dict(plan.addresses)}

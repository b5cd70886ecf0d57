"""The lab address plan: which actor listens where (PROTOCOL.md §12).

A lab cluster gives the DNS server, the DC (KDC), the control plane, the Exchange
server and every GC an address of their own inside one network (default
``127.29.39.0/24``: all of 127.0.0.0/8 reaches ``lo`` on Linux, so no interface
set-up is needed) and the ports a Windows client dials without being told:
endpoint mapper 135 on each RPC host, Kerberos 88, DNS 53, RPC over HTTP 443.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_NETWORK", "DNS_PORT", "EPM_PORT", "KDC_PORT", "LabConfig", "LabPlan"]

DEFAULT_NETWORK = "127.29.39.0/24"
EPM_PORT = 135  # MS-RPCE 2.1.1.1: the endpoint mapper's well-known ncacn_ip_tcp port
KDC_PORT = 88  # RFC 4120 §7.2.3
DNS_PORT = 53  # RFC 1035 §4.2
HTTPS_PORT = 443  # MS-RPCH 2.1.2: RPC over HTTP v2 through the RPC proxy


@dataclass
class LabConfig:
    """The ``[lab]`` TOML table (every key optional)."""

    enabled: bool = True  # false: settings kept for `serve --lab`, loopback layout otherwise
    network: str = DEFAULT_NETWORK
    dns_name: str = "ns1"  # the lab DNS server's host name
    kdc_name: str = "dc01"  # the DC that runs the KDC (the zone apex points at it)
    ctl_name: str = "ctl"  # the control plane (HTTP admin API)
    nspi_port: int = 6004  # fixed NSPI port on each GC (NTDS "TCP/IP Port" registry value)
    rfr_port: int = 6002  # fixed referral port on the Exchange server ("RFR TCP/IP Port")
    admin_port: int = 80
    rpc_http: bool = True  # RPC over HTTP on ex01:443
    ttl: int = 600  # seconds; netlogon's default TTL for the records it registers
    deregister_on_down: bool = True  # gc_down removes the GC's netlogon records (SRV, gc._msdcs A)
    addresses: dict[str, str] = field(default_factory=dict)  # actor -> address overrides

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>", text: str = "",
                  where: Callable[[str, str, str], str] | None = None) -> LabConfig:
        """Build from a ``[lab]`` table; an unknown key, a wrong type or a bad network is one
        line naming the source and the key (``where(source, text, key)`` gives file:line)."""
        where = where or (lambda src, _text, _key: src)
        cfg = cls()
        for key, value in data.items():
            if not hasattr(cfg, key):
                raise ValueError(f"{where(source, text, key)}: {key}: unknown [lab] key")
            want = type(getattr(cfg, key))
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise ValueError(f"{where(source, text, key)}: {key}: must be {want.__name__}, "
                                 f"not {type(value).__name__}")
            setattr(cfg, key, value)
        try:
            net = ipaddress.ip_network(cfg.network, strict=False)
        except ValueError as exc:
            raise ValueError(f"{where(source, text, 'network')}: network: {exc}") from None
        if net.version != 4 or net.num_addresses < 16:
            raise ValueError(f"{where(source, text, 'network')}: network: must be IPv4 with "
                             "room for 16 hosts")
        return cfg


class LabPlan:
    """Addresses and host names of every actor of a cluster in lab mode."""

    def __init__(self, lab: LabConfig, dns_domain: str, exchange: str, gcs: list[str]) -> None:
        self.lab = lab
        self.domain = dns_domain.lower().rstrip(".")
        self.network = ipaddress.ip_network(lab.network, strict=False)
        base = self.network.network_address
        plan: dict[str, str] = {
            lab.dns_name: str(base + 2),
            lab.kdc_name: str(base + 3),
            lab.ctl_name: str(base + 4),
            exchange: str(base + 10),
        }
        for i, gc in enumerate(gcs):
            plan[gc] = str(base + 11 + i)
        plan.update(lab.addresses)
        for name, addr in plan.items():
            if ipaddress.ip_address(addr) not in self.network:
                raise ValueError(f"lab address {addr} of {name} is outside {self.network}")
        if len(set(plan.values())) != len(plan):
            raise ValueError("lab addresses must be distinct")
        self.addresses = plan
        self.exchange, self.gcs = exchange, list(gcs)

    def fqdn(self, name: str) -> str:
        """``<name>.<dns domain>``."""
        return f"{name}.{self.domain}".lower()

    @property
    def dns_address(self) -> str:
        """The lab DNS server's address."""
        return self.addresses[self.lab.dns_name]

    @property
    def kdc_address(self) -> str:
        """The DC/KDC's address."""
        return self.addresses[self.lab.kdc_name]

    def hosts(self) -> dict[str, str]:
        """``ClusterConfig.hosts``: listening address per cluster actor key."""
        out = dict(self.addresses)
        out["kdc"] = self.kdc_address
        out["admin"] = self.addresses[self.lab.ctl_name]
        out["rpc_http"] = self.addresses[self.exchange]
        return out

    def ports(self) -> dict[str, int]:
        """``ClusterConfig.ports``: the standard and fixed ports."""
        out = {"kdc": KDC_PORT, f"{self.exchange}.rfr": self.lab.rfr_port,
               f"{self.exchange}.epm": EPM_PORT}
        for gc in self.gcs:
            out[f"{gc}.nspi"] = self.lab.nspi_port
            out[f"{gc}.epm"] = EPM_PORT
        return out

    def hosts_file(self, netbios: str) -> str:
        """/etc/hosts for the lab namespace: localhost and the NetBIOS domain name only.

        Every DNS name is left to the lab DNS server (so lookups are journaled); the
        NetBIOS domain name ``CONTOSO`` is what NetBIOS/WINS would resolve on a Windows
        network, to the DCs (impacket, given ``CONTOSO/alice`` and no KDC host, dials it).
        """
        return (f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
                f"{self.kdc_address}\t{netbios.lower()}\n")

    def resolv_conf(self) -> str:
        """/etc/resolv.conf naming the lab DNS server, searching the lab domain."""
        return f"nameserver {self.dns_address}\nsearch {self.domain}\noptions timeout:2 attempts:2\n"

    def krb5_conf(self, realm: str) -> str:
        """A krb5.conf naming no KDC: MIT finds it by SRV (RFC 4120 §7.2.3.2)."""
        enctypes = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 rc4-hmac"
        return "\n".join([
            "[libdefaults]", f"  default_realm = {realm}", "  dns_lookup_kdc = true",
            "  dns_lookup_realm = false", "  rdns = false", "  dns_canonicalize_hostname = false",
            "  allow_weak_crypto = true", f"  permitted_enctypes = {enctypes}",
            f"  default_tkt_enctypes = {enctypes}", f"  default_tgs_enctypes = {enctypes}",
            "", "[domain_realm]", f"  .{self.domain} = {realm}", f"  {self.domain} = {realm}", ""])

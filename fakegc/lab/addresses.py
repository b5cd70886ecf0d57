"""Adding the lab's addresses to an interface (PROTOCOL.md §12, Docker).

Inside 127.0.0.0/8 nothing is needed (the whole block reaches ``lo``).  On a real
network (a container on a Docker bridge or macvlan network) each actor's address
must be configured on the interface before the servers bind it: this adds each
missing one as a /32 alias (``eth0:fgc1`` …) through the SIOCSIFADDR /
SIOCSIFNETMASK / SIOCSIFFLAGS ioctls, so the image needs no iproute2.  The host
answers ARP for every local address (Linux ``arp_ignore=0``), so the other machines
on the segment reach each actor at its own address.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct

from fakegc.lab.plan import LabConfig, LabPlan

__all__ = ["add_addresses", "default_interface", "local_addresses"]

_SIOCGIFADDR, _SIOCSIFADDR, _SIOCSIFNETMASK = 0x8915, 0x8916, 0x891C
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def default_interface() -> str:
    """The first interface other than ``lo`` that exists (``lo`` when there is none)."""
    names = sorted(name for _, name in socket.if_nameindex() if name != "lo")
    return names[0] if names else "lo"


def local_addresses() -> set[str]:
    """IPv4 addresses configured on this host's interfaces (from /proc/net/fib_trie's
    LOCAL entries, readable without privileges)."""
    out: set[str] = set()
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    for i, line in enumerate(lines):
        if "/32 host LOCAL" in line and i > 0:
            out.add(lines[i - 1].split()[-1])
    return out


def _sockaddr(address: str) -> bytes:
    return struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton(address))


def _ioctl(sock: socket.socket, request: int, name: str, payload: bytes) -> bytes:
    return fcntl.ioctl(sock, request, struct.pack("16s16s", name.encode(), payload))


def add_addresses(lab: LabConfig, dns_domain: str, exchange: str, gcs: list[str],
                  interface: str | None = None) -> list[str]:
    """Add every lab address this host lacks to ``interface``; returns those added."""
    plan = LabPlan(lab, dns_domain, exchange, list(gcs))
    if plan.network.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
        return []
    iface = interface or default_interface()
    have = local_addresses()
    added: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack("16sh", _ioctl(sock, _SIOCGIFFLAGS, iface, b"")[:18])[1]
        if not flags & _IFF_UP:  # a fresh network namespace starts with lo down
            _ioctl(sock, _SIOCSIFFLAGS, iface, struct.pack("h", flags | _IFF_UP))
        for i, address in enumerate(sorted(set(plan.addresses.values()) - have)):
            label = f"{iface}:fgc{i}"[:15]
            _ioctl(sock, _SIOCSIFADDR, label, _sockaddr(address))
            _ioctl(sock, _SIOCSIFNETMASK, label, _sockaddr("255.255.255.255"))
            flags = struct.unpack("16sh", _ioctl(sock, _SIOCGIFFLAGS, label, b"")[:18])[1]
            _ioctl(sock, _SIOCSIFFLAGS, label, struct.pack("h", flags | _IFF_UP))
            added.append(address)
    if added and os.environ.get("FAKEGC_QUIET") != "1":
        print(f"fakegc: added {', '.join(added)} to {iface}", flush=True)
    return added

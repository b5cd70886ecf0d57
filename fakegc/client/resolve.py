"""Name resolution the way a Windows client does it, through one DNS server (lab mode).

PROTOCOL.md §12: a host name is resolved with an A query before each
connection (so a GC that moved or went away is noticed), the KDC of a realm with an
SRV query for ``_kerberos._tcp.<realm>`` (RFC 4120 §7.2.3.2, RFC 2782) and then the
target's A record.  A name that does not resolve is reported as RPC_S_SERVER_UNAVAILABLE
(1722), what the Windows RPC runtime returns when it cannot reach a server by name.
"""

from __future__ import annotations

import dns.exception
import dns.resolver

__all__ = ["DnsResolver", "NameNotFound"]


class NameNotFound(OSError):
    """The DNS server had no address for a name (NXDOMAIN, no data, or no answer)."""


class DnsResolver:
    """A stub resolver asking one server (no cache: every lookup goes on the wire)."""

    def __init__(self, server: str, port: int = 53, timeout: float = 3.0) -> None:
        self.server, self.port = server, port
        self._resolver = dns.resolver.Resolver(configure=False)
        self._resolver.nameservers = [server]
        self._resolver.port = port
        self._resolver.lifetime = timeout
        self._resolver.cache = None

    def address(self, name: str) -> str:
        """The first IPv4 address of ``name`` (an A query)."""
        try:
            answer = self._resolver.resolve(name.rstrip(".") + ".", "A", search=False)
        except (dns.exception.DNSException, OSError) as exc:
            raise NameNotFound(f"{name}: {type(exc).__name__}") from None
        return str(answer[0])

    def kdc(self, realm: str) -> tuple[str, int]:
        """(address, port) of the realm's KDC from ``_kerberos._tcp.<realm>`` (lowest priority)."""
        try:
            answer = self._resolver.resolve(f"_kerberos._tcp.{realm.lower()}.", "SRV", search=False)
        except (dns.exception.DNSException, OSError) as exc:
            raise NameNotFound(f"_kerberos._tcp.{realm}: {type(exc).__name__}") from None
        best = min(answer, key=lambda r: (r.priority, -r.weight))
        return self.address(best.target.to_text()), int(best.port)

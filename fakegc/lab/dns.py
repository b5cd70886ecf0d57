"""The lab DNS server: the records a DC's netlogon registers, on dnspython's wire format.

PROTOCOL.md §12 lists the records (after MS-ADTS, the DC DNS records
section).  Names in the lab zone (and its reverse zone) are answered authoritatively:
a known name with another type gets NOERROR and no answer, an unknown name NXDOMAIN,
both with the zone's SOA in the authority section (RFC 2308 §2).  Anything outside
the two zones gets REFUSED (RFC 1035 §4.1.1: the server does not serve it).  SRV
records follow RFC 2782 (priority 0, weight 100, port, target host).

Every query is journaled (``kind="dns"``).  Reads are bounded: a UDP query larger
than :data:`MAX_QUERY` is dropped, a UDP answer larger than 512 bytes (or the
client's EDNS payload size, RFC 6891 §6.2.3) is truncated with TC set so the client
retries over TCP; a TCP query must announce at most :data:`MAX_QUERY` bytes and
arrive within :data:`TCP_TIMEOUT` seconds, and at most :data:`MAX_TCP_CONNECTIONS`
are open at once.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from fakegc.journal import Journal

__all__ = ["MAX_QUERY", "TCP_TIMEOUT", "DnsServer", "Zone"]

MAX_QUERY = 4096  # bytes: a DNS query is one question (RFC 1035 §4.1), far below this
TCP_TIMEOUT = 10.0  # seconds to get a whole length-prefixed query, or between queries
MAX_UDP_ANSWER = 4096  # cap on the EDNS payload size a client may announce
MAX_TCP_CONNECTIONS = 128  # open TCP connections at once; more are closed at accept


class Zone:
    """One forward zone and its IPv4 reverse zone, as ``{(owner, rdtype): [rdata text]}``."""

    def __init__(self, origin: str, reverse: str, ttl: int = 600) -> None:
        self.origin = dns.name.from_text(origin)
        self.reverse = dns.name.from_text(reverse)
        self.ttl = ttl
        self.records: dict[tuple[dns.name.Name, int], list[str]] = {}

    def clear(self) -> None:
        """Forget every record."""
        self.records.clear()

    def add(self, owner: str, rdtype: str, text: str) -> None:
        """Add one record (owner relative to nothing: a full name)."""
        key = (dns.name.from_text(owner), dns.rdatatype.from_text(rdtype))
        values = self.records.setdefault(key, [])
        if text not in values:
            values.append(text)

    def add_address(self, fqdn: str, address: str) -> None:
        """A record and its PTR."""
        self.add(fqdn, "A", address)
        self.add(dns.reversename.from_address(address).to_text(), "PTR", f"{fqdn}.")

    def serves(self, name: dns.name.Name) -> bool:
        """Is ``name`` inside one of this server's zones?"""
        return name.is_subdomain(self.origin) or name.is_subdomain(self.reverse)

    def _apex(self, name: dns.name.Name) -> dns.name.Name:
        return self.origin if name.is_subdomain(self.origin) else self.reverse

    def rrset(self, name: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
        """The records of ``name`` and ``rdtype`` (None when there are none)."""
        values = self.records.get((name, rdtype))
        if not values:
            return None
        return dns.rrset.from_text_list(name, self.ttl, dns.rdataclass.IN,
                                        dns.rdatatype.RdataType.make(rdtype), values)

    def exists(self, name: dns.name.Name) -> bool:
        """Does ``name`` own records, or have descendants that do (RFC 8020 empty non-terminal)?"""
        return any(owner == name or owner.is_subdomain(name) for owner, _ in self.records)

    def answer(self, query: dns.message.Message) -> tuple[dns.message.Message, int]:
        """The authoritative response to ``query`` and its number of answer records."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY
                               else dns.rcode.FORMERR)
            return response, 0
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        if question.rdclass != dns.rdataclass.IN or not self.serves(name):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response, 0
        types = ([t for (owner, t) in self.records if owner == name] if rdtype == dns.rdatatype.ANY
                 else [rdtype])
        count = 0
        for t in types:
            rrset = self.rrset(name, t)
            if rrset is not None:
                response.answer.append(rrset)
                count += len(rrset)
                if t == dns.rdatatype.SRV:
                    self._glue(response, rrset)
        if count == 0:
            if not self.exists(name):
                response.set_rcode(dns.rcode.NXDOMAIN)
            soa = self.rrset(self._apex(name), dns.rdatatype.SOA)
            if soa is not None:
                response.authority.append(soa)
        return response, count

    def _glue(self, response: dns.message.Message, srv: dns.rrset.RRset) -> None:
        """The SRV targets' A records in the additional section (RFC 2782 "Usage rules")."""
        for rdata in srv:
            a = self.rrset(rdata.target, dns.rdatatype.A)
            if a is not None and a not in response.additional:
                response.additional.append(a)


def _formerr(wire: bytes) -> bytes | None:
    """A FORMERR header for an unparseable query that has at least a header (RFC 1035 §4.1.1)."""
    if len(wire) < 12:
        return None
    qid, flags = struct.unpack(">HH", wire[:4])
    return struct.pack(">HHHHHH", qid, 0x8000 | (flags & 0x7800) | dns.rcode.FORMERR, 0, 0, 0, 0)


class DnsServer:
    """UDP and TCP DNS on one address (port 53 in the lab)."""

    def __init__(self, zone: Zone, journal: Journal, host: str, port: int = 53,
                 actor: str = "dns") -> None:
        self.zone, self.journal, self.host, self.port, self.actor = zone, journal, host, port, actor
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._open = 0

    async def start(self) -> DnsServer:
        """Bind TCP then UDP on the same port number."""
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port,
                                               reuse_address=True)
        self.port = self._tcp.sockets[0].getsockname()[1]
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.host, self.port))
        self.journal.record(self.actor, "state", state="listening", host=self.host, port=self.port)
        return self

    async def close(self) -> None:
        """Stop both transports."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None

    def handle(self, wire: bytes, transport: str, peer: Any, limit: int) -> bytes | None:
        """Answer one query; journal it (``kind="dns"``)."""
        try:
            query = dns.message.from_wire(wire)
        except Exception as exc:  # noqa: BLE001  (any malformed wire: FORMERR, never a traceback)
            self.journal.record(self.actor, "dns", transport=transport, peer=str(peer),
                                rcode="FORMERR", error=type(exc).__name__)
            return _formerr(wire)
        response, count = self.zone.answer(query)
        if transport == "udp":
            limit = min(max(query.payload, 512), MAX_UDP_ANSWER) if query.edns >= 0 else 512
        try:
            out = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.additional.clear()
            response.authority.clear()
            response.flags |= dns.flags.TC
            out = response.to_wire(max_size=limit)
        q = query.question[0] if query.question else None
        self.journal.record(self.actor, "dns", transport=transport, peer=str(peer),
                            qname=q.name.to_text(omit_final_dot=True).lower() if q is not None else "",
                            qtype=dns.rdatatype.to_text(q.rdtype) if q is not None else "",
                            rcode=dns.rcode.to_text(response.rcode()), answers=count,
                            truncated=bool(response.flags & dns.flags.TC))
        return out

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 1035 §4.2.2 / RFC 7766: 2-byte length-prefixed messages, bounded in size and time."""
        peer = writer.get_extra_info("peername")
        if self._open >= MAX_TCP_CONNECTIONS:
            self.journal.record(self.actor, "dns", transport="tcp", peer=str(peer),
                                rcode="dropped", error="max_connections")
            writer.close()
            return
        self._open += 1
        try:
            for _ in range(100):
                head = await asyncio.wait_for(reader.readexactly(2), TCP_TIMEOUT)
                (length,) = struct.unpack(">H", head)
                if length > MAX_QUERY or length == 0:
                    self.journal.record(self.actor, "dns", transport="tcp", peer=str(peer),
                                        rcode="FORMERR", error=f"query length {length}")
                    break
                wire = await asyncio.wait_for(reader.readexactly(length), TCP_TIMEOUT)
                out = self.handle(wire, "tcp", peer, 65535)
                if out is None:
                    break
                writer.write(struct.pack(">H", len(out)) + out)
                await asyncio.wait_for(writer.drain(), TCP_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._open -= 1
            writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) > MAX_QUERY:
            self.server.journal.record(self.server.actor, "dns", transport="udp", peer=str(addr),
                                       rcode="dropped", error=f"{len(data)} bytes")
            return
        out = self.server.handle(data, "udp", addr, 512)
        if out is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(out, addr)



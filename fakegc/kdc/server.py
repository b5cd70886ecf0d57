"""The KDC's transports (RFC 4120 §7.2.1 UDP, §7.2.2 TCP), scripted rules and exports.

UDP replies larger than ``udp_max`` (1465 bytes, PROTOCOL.md §6.8) become
KRB_ERR_RESPONSE_TOO_BIG so the client retries over TCP.  TCP frames carry a
4-byte big-endian length; a length with the high bit set or over the limit is
answered with KRB_ERR_FIELD_TOOLONG and the connection is closed.

Rules (:class:`KdcRule`) match message type, client, service (fnmatch globs) and
counts, and answer with any KRB-ERROR code (with or without e-text), a delay,
a drop, or RESPONSE_TOO_BIG.  Every request, answer and rule hit is journaled.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import os
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fakegc.codes import KrbError
from fakegc.errorlog import ErrorLog
from fakegc.firing import Firing
from fakegc.journal import Journal
from fakegc.kdc.derread import Request
from fakegc.kdc.exchange import KdcCore, Outcome
from fakegc.kdc.messages import krb_error, peek
from fakegc.kdc.principals import ETYPES, PrincipalDb
from fakegc.sources import default_cap

__all__ = ["Kdc", "KdcRule", "KdcTcpLimits"]

MAX_TCP = 64 * 1024  # RFC 4120 7.2.2 lets a KDC limit; Windows' MaxTokenSize tops at 65535


@dataclass
class KdcTcpLimits:
    """Bounds of the KDC's TCP transport (README "Limits and defaults").

    ``idle_timeout``: seconds without a complete message before the KDC closes (a byte
    trickle does not reset it); ``read_timeout``: seconds for a started message to
    complete; ``max_connections``: open TCP connections (more are closed at once).
    """

    idle_timeout: float = 30.0
    read_timeout: float = 10.0
    max_connections: int = 1024


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """fnmatch glob, case-insensitive, compiled once."""
    return re.compile(fnmatch.translate(pattern.lower()))


_ERROR_NAMES = {int(e): e.name for e in KrbError}


@dataclass(kw_only=True)
class KdcRule(Firing):
    """A scripted answer: when a request matches, do ``action`` instead of the normal reply.

    ``msg``: "AS", "TGS" or "*"; ``client`` / ``service``: fnmatch globs on the
    principal name without realm (case-insensitive).  The rule fires for matching
    requests after the first ``after`` of them, at most ``times`` times (None:
    always), with ``probability`` (seeded by ``seed``).  Actions: ``error`` (KRB-ERROR
    ``code`` with ``e_text``), ``delay`` (``delay`` seconds, then the normal reply),
    ``drop`` (no answer), ``too_big`` (RESPONSE_TOO_BIG over UDP).
    """

    action: str = "error"
    code: int = KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN
    msg: str = "*"
    client: str = "*"
    service: str = "*"
    e_text: str | None = None
    delay: float = 0.0
    name: str = ""
    id: int = 0

    def matches(self, req: Request) -> bool:
        """Pattern match only (no counting)."""
        if self.msg != "*" and self.msg != req.msg:
            return False
        if self.client != "*" and not _glob(self.client).match((req.client or "").lower()):
            return False
        return self.service == "*" or _glob(self.service).match((req.service or "").lower()) is not None

    def fire(self, req: Request) -> bool:
        """Count a matching request; True when the rule applies to it."""
        return self.matches(req) and self.count()


class _Udp(asyncio.DatagramProtocol):
    """UDP (RFC 4120 §7.2.1): replies to the datagrams of one read pass go out together.

    The event loop reads every datagram waiting on the socket in one pass; answering each
    as it is read would wake a waiting client once per reply.  Replies are queued and sent
    when the pass is over (one ``call_soon``), so a client with several requests in flight
    is woken once for several answers.  Order and content are unchanged.
    """

    def __init__(self, kdc: Kdc) -> None:
        self.kdc = kdc
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[tuple[bytes, Any]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.kdc._serve(data, "udp", lambda reply: self._queue(reply, addr))

    def _queue(self, reply: bytes, addr: Any) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.pending.append((reply, addr))

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for reply, addr in pending:
            transport.sendto(reply, addr)


class _Tcp(asyncio.Protocol):
    """TCP (RFC 4120 7.2.2): 4-byte big-endian length, then the message.

    Only a complete message resets the idle deadline; a started message must complete
    within ``read_timeout``; the buffer never holds more than one message of at most
    ``max_tcp`` bytes.
    """

    def __init__(self, kdc: Kdc) -> None:
        self.kdc = kdc
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.last_message = 0.0
        self.started: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.release: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        kdc = self.kdc
        kdc._tcp_conns.add(self)
        self.last_message = asyncio.get_running_loop().time()
        peer = transport.get_extra_info("peername")
        if len(kdc._tcp_conns) > kdc.tcp_limits.max_connections:
            return self.drop("max_connections")
        if kdc.admit is not None:
            self.release = kdc.admit(peer)
            if self.release is None:
                return self.drop("per-source connection cap")
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.kdc._tcp_conns.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.release is not None:
            self.release()
            self.release = None
        self.buf = bytearray()

    def drop(self, reason: str) -> None:
        """Close now, journaled."""
        self.kdc._record("protocol_error", transport="tcp", error=reason)
        if self.transport is not None:
            self.transport.abort()

    def _arm(self) -> None:
        limits = self.kdc.tcp_limits
        deadline = self.last_message + limits.idle_timeout
        if self.started is not None:
            deadline = min(deadline, self.started + limits.read_timeout)
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.timer = None
        now = asyncio.get_running_loop().time()
        limits = self.kdc.tcp_limits
        if self.started is not None and now >= self.started + limits.read_timeout:
            return self.drop(f"message not complete within {limits.read_timeout:g} s")
        if now >= self.last_message + limits.idle_timeout:
            return self.drop(f"idle {limits.idle_timeout:g} s")
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.buf += data
        if self.started is None:
            self.started = asyncio.get_running_loop().time()
            self._arm()
        while len(self.buf) >= 4:
            (length,) = struct.unpack_from(">I", self.buf, 0)
            if length & 0x80000000 or length > self.kdc.max_tcp:
                self.kdc._record("krb_error", transport="tcp", code=int(KrbError.KRB_ERR_FIELD_TOOLONG),
                                 name="KRB_ERR_FIELD_TOOLONG", error=f"TCP length {length}")
                reply = krb_error(KrbError.KRB_ERR_FIELD_TOOLONG, self.kdc.db.realm,
                                  ["krbtgt", self.kdc.db.realm], e_text="request too long",
                                  offset=self.kdc.core.clock_offset)
                assert self.transport is not None
                self.transport.write(struct.pack(">I", len(reply)) + reply)
                self.transport.close()
                self.buf.clear()
                return
            if len(self.buf) < 4 + length:
                return
            msg = bytes(self.buf[4:4 + length])
            del self.buf[:4 + length]
            self.last_message = asyncio.get_running_loop().time()
            self.started = self.last_message if self.buf else None
            self._arm()
            transport = self.transport

            def send(reply: bytes, t: Any = transport) -> None:
                if t is not None and not t.is_closing():
                    t.write(struct.pack(">I", len(reply)) + reply)
            self.kdc._serve(msg, "tcp", send)


class Kdc:
    """A Kerberos KDC for one realm on loopback UDP and TCP ports."""

    def __init__(self, db: PrincipalDb, journal: Journal | None = None, host: str = "127.0.0.1",
                 udp_port: int = 0, tcp_port: int = 0, clock_offset: float = 0.0, pac: bool = False,
                 udp_max: int = 1465, name: str = "kdc") -> None:
        self.db = db
        self.journal = journal if journal is not None else Journal()
        self.host = host
        self.udp_port = udp_port
        self.tcp_port = tcp_port
        self.udp_max = udp_max
        self.max_tcp = MAX_TCP
        self.name = name
        self.core = KdcCore(db, clock_offset=clock_offset, pac=pac)
        self.rules: list[KdcRule] = []
        self._ids = itertools.count(1)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self.errors = ErrorLog()  # counters + last summaries, no tracebacks
        self.tcp_limits = KdcTcpLimits()
        self._tcp_conns: set[_Tcp] = set()
        self.admit: Any = default_cap().admit  # connections per source (issue #18)

    @property
    def clock_offset(self) -> float:
        """Seconds added to the KDC's clock (for skew scenarios)."""
        return self.core.clock_offset

    @clock_offset.setter
    def clock_offset(self, value: float) -> None:
        self.core.clock_offset = value

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> Kdc:
        """Bind UDP and TCP (the same port number when both are ephemeral and it is free)."""
        loop = asyncio.get_running_loop()
        self._tcp = await loop.create_server(lambda: _Tcp(self), self.host, self.tcp_port,
                                             reuse_address=True)
        self.tcp_port = self._tcp.sockets[0].getsockname()[1]
        udp_port = self.udp_port or self.tcp_port
        try:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self),
                                                               local_addr=(self.host, udp_port))
        except OSError:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self),
                                                               local_addr=(self.host, 0))
        self.udp_port = self._udp.get_extra_info("sockname")[1]
        self._record("state", state="listening", udp=self.udp_port, tcp=self.tcp_port)
        return self

    async def close(self) -> None:
        """Stop both transports."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for conn in list(self._tcp_conns):
            conn.drop("kdc closed")

    # -- rules ------------------------------------------------------------------------
    def add_rule(self, rule: KdcRule | None = None, **kw: Any) -> KdcRule:
        """Install a rule (or build one from keywords); returns it with its ``id``."""
        rule = rule or KdcRule(**kw)
        rule.id = next(self._ids)
        rule.reseed()
        self.rules.append(rule)
        self._record("rule", action="added", rule=rule.name or str(rule.id), code=rule.code,
                     msg=rule.msg, service=rule.service, client=rule.client)
        return rule

    def remove_rule(self, rule_id: int | KdcRule) -> None:
        """Remove a rule by id or object."""
        rid = rule_id.id if isinstance(rule_id, KdcRule) else rule_id
        self.rules = [r for r in self.rules if r.id != rid]

    def would_refuse(self, service: str, client: str | None = None) -> int | None:
        """The KRB-ERROR code a TGS-REQ for ``service`` would get from the rules now (not counted).

        The Exchange actor asks this before referring a client to a GC: Exchange
        gets a ticket for the GC first (KB 929439).
        """
        probe = Request("TGS", client=client, service=service)
        for rule in self.rules:
            if rule.action == "error" and rule.matches(probe) and not rule.exhausted:
                return rule.code
        if self.db.get(service) is None:
            return int(KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN)
        return None

    def clear_rules(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    # -- serving ------------------------------------------------------------------------
    def _record(self, kind: str, **fields: Any) -> None:
        self.journal.record(self.name, kind, None, **fields)

    def _serve(self, data: bytes, transport: str, send: Any) -> None:
        try:
            req = peek(data)
            if self.journal.wants("krb_request"):
                self._record("krb_request", msg=req.msg, client=req.client, service=req.service,
                             transport=transport, etypes=tuple(req.etypes), size=len(data))
            for rule in self.rules:
                if rule.fire(req):
                    if self._apply(rule, req, data, transport, send):
                        return
                    break
            self._finish(self.core.handle(data, req), req, transport, send)
        except Exception as exc:  # noqa: BLE001 - the KDC answers garbage, it never dies of it
            self.errors.append(exc)
            self._record("protocol_error", transport=transport, error=repr(exc))

    def _apply(self, rule: KdcRule, req: Request, data: bytes, transport: str, send: Any) -> bool:
        self._record("rule", action=rule.action, rule=rule.name or str(rule.id), code=rule.code,
                     msg=req.msg, client=req.client, service=req.service, transport=transport)
        if rule.action == "drop":
            return True
        if rule.action == "too_big" and transport == "udp":
            self._finish(self._err(req, KrbError.KRB_ERR_RESPONSE_TOO_BIG, rule.e_text), req,
                         transport, send)
            return True
        if rule.action == "delay":
            loop = asyncio.get_running_loop()
            loop.call_later(rule.delay, lambda: self._finish(self.core.handle(data, req), req,
                                                             transport, send))
            return True
        if rule.action == "error":
            outcome = self._err(req, rule.code, rule.e_text)
            if rule.delay > 0:
                asyncio.get_running_loop().call_later(
                    rule.delay, lambda: self._finish(outcome, req, transport, send))
            else:
                self._finish(outcome, req, transport, send)
            return True
        return False

    def _err(self, req: Request, code: int, e_text: str | None) -> Outcome:
        return self.core.error(req, code, e_text)

    def _finish(self, outcome: Outcome, req: Request, transport: str, send: Any) -> None:
        if transport == "udp" and len(outcome.reply) > self.udp_max:
            outcome = self._err(req, KrbError.KRB_ERR_RESPONSE_TOO_BIG, None)
        if outcome.kind == "error":
            if self.journal.wants("krb_error"):
                code = outcome.code
                self._record("krb_error", msg=req.msg, client=req.client, service=req.service,
                             code=code, name=_ERROR_NAMES.get(code, str(code)), e_text=outcome.e_text,
                             transport=transport)
        elif self.journal.wants("krb_reply"):
            self._record("krb_reply", msg=req.msg, client=req.client, service=req.service,
                         etype=outcome.etype, transport=transport, size=len(outcome.reply))
        send(outcome.reply)

    # -- exports ---------------------------------------------------------------------------
    def krb5_conf(self, udp_preference_limit: int | None = None) -> str:
        """A krb5.conf for MIT tools pointing at this KDC (TCP-only when limit is 1)."""
        realm = self.db.realm
        lines = ["[libdefaults]", f"  default_realm = {realm}", "  dns_lookup_kdc = false",
                 "  dns_lookup_realm = false", "  rdns = false", "  dns_canonicalize_hostname = false",
                 "  allow_weak_crypto = true",
                 "  permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 rc4-hmac",
                 "  default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 rc4-hmac",
                 "  default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 rc4-hmac"]
        if udp_preference_limit is not None:
            lines.append(f"  udp_preference_limit = {udp_preference_limit}")
        # UDP and TCP share the port number (start() arranges it); udp_preference_limit = 1
        # makes MIT use TCP (PROTOCOL.md §6.8)
        port = self.tcp_port if udp_preference_limit == 1 else self.udp_port
        lines += ["", "[realms]", f"  {realm} = {{", f"    kdc = {self.host}:{port}",
                  "  }", "", "[domain_realm]", f"  .{realm.lower()} = {realm}",
                  f"  {realm.lower()} = {realm}", ""]
        return "\n".join(lines)

    def write_krb5_conf(self, directory: str | os.PathLike[str], udp_preference_limit: int | None = None) -> Path:
        """Write ``krb5.conf`` into ``directory``; returns its path."""
        path = Path(directory) / "krb5.conf"
        path.write_text(self.krb5_conf(udp_preference_limit))
        return path

    def env(self, directory: str | os.PathLike[str], udp_preference_limit: int | None = None) -> dict[str, str]:
        """Environment for MIT tools: KRB5_CONFIG and a KRB5CCNAME in ``directory``."""
        conf = self.write_krb5_conf(directory, udp_preference_limit)
        return {"KRB5_CONFIG": str(conf), "KRB5CCNAME": f"FILE:{Path(directory) / 'ccache'}",
                "KRB5_TRACE": str(Path(directory) / "trace.log")}

    def export_keytab(self, path: str | os.PathLike[str], principals: list[str] | None = None) -> Path:
        """Write an MIT keytab (format 0x0502) with every key of the given principals."""
        names = principals if principals is not None else [n for n in self.db.names()]
        out = bytearray(b"\x05\x02")
        realm = self.db.realm.encode()
        for name in names:
            p = self.db.get(name)
            if p is None:
                continue
            for etype in ETYPES:
                key = self.db.key(p, etype)
                if key is None:
                    continue
                entry = bytearray(struct.pack(">H", len(p.components)))
                entry += struct.pack(">H", len(realm)) + realm
                for comp in p.components:
                    c = comp.encode()
                    entry += struct.pack(">H", len(c)) + c
                entry += struct.pack(">IIB", 1, 0, p.kvno & 0xFF)
                entry += struct.pack(">HH", etype, len(key.contents)) + key.contents
                entry += struct.pack(">I", p.kvno)
                out += struct.pack(">i", len(entry)) + entry
        Path(path).write_bytes(bytes(out))
        return Path(path)

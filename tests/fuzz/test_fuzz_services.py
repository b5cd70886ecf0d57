"""Fuzzing NSPI, RFR and the KDC on a live cluster; a state machine over scenario events (issue #7)."""

from __future__ import annotations

import os
import socket
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakegc.nspi import NSPI
from fakegc.referral import RFR
from fakegc.scenario.cluster import ClusterConfig, ClusterThread
from fakegc.testing.rawrpc import RawRpc
from fakegc.testing.strategies import (
    ScenarioMachine,
    as_requests,
    mutated,
    nspi_requests,
    rfr_requests,
    tgs_like_requests,
)
from fakegc.wire import pdu as P

EXAMPLES = int(os.environ.get("FAKEGC_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_CT: ClusterThread | None = None


def cluster() -> ClusterThread:
    global _CT
    if _CT is None:
        _CT = ClusterThread(ClusterConfig(allow_anonymous=True))
    return _CT


def teardown_module() -> None:
    if _CT is not None:
        _CT.close()


def _no_errors(ct: ClusterThread) -> None:
    errors = [e for s in ct.cluster.all_servers() for e in s.errors] + list(ct.cluster.kdc.errors)
    assert not errors, errors


def _rpc_stub_reply(port: int, syntax, opnum: int, stub: bytes) -> int:
    with RawRpc("127.0.0.1", port) as c:
        assert c.bind(syntax).ptype == P.PTYPE.BIND_ACK
        c.send(c.request_pdu(2, 0, opnum, stub))
        reply = c.recv()
        while not reply.header.flags & P.PFC.LAST_FRAG:
            reply = c.recv()
        return reply.ptype


@SETTINGS
@given(req=st.one_of(nspi_requests(), nspi_requests().map(lambda r: (r[0], r[1][: len(r[1]) // 2])),
                     st.tuples(st.integers(0, 25), st.binary(max_size=300))))
def test_fuzz_nspi(req):
    ct = cluster()
    opnum, stub = req
    ptype = _rpc_stub_reply(ct.endpoints()["actors"]["gc01"]["nspi"], NSPI.syntax, opnum, stub)
    assert ptype in (P.PTYPE.RESPONSE, P.PTYPE.FAULT)
    _no_errors(ct)
    assert ct.cluster.gcs["gc01"].nspi.connection_count <= 2


@SETTINGS
@given(req=st.one_of(rfr_requests(), st.tuples(st.integers(0, 3), st.binary(max_size=200))))
def test_fuzz_rfr(req):
    ct = cluster()
    opnum, stub = req
    ptype = _rpc_stub_reply(ct.endpoints()["actors"]["ex01"]["rfr"], RFR.syntax, opnum, stub)
    assert ptype in (P.PTYPE.RESPONSE, P.PTYPE.FAULT)
    _no_errors(ct)


@SETTINGS
@given(data=st.one_of(as_requests(), mutated(as_requests()), tgs_like_requests()),
       transport=st.sampled_from(["udp", "tcp"]))
def test_fuzz_kdc(data, transport):
    ct = cluster()
    kdc = ct.endpoints()["kdc"]
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(data, ("127.0.0.1", kdc["udp"]))
        reply = s.recv(65536)
        s.close()
    else:
        s = socket.create_connection(("127.0.0.1", kdc["tcp"]), timeout=5)
        s.sendall(struct.pack(">I", len(data)) + data)
        n = struct.unpack(">I", s.recv(4))[0]
        reply = b""
        while len(reply) < n:
            reply += s.recv(n - len(reply))
        s.close()
    assert reply[:1] in (b"\x7e", b"\x6b")  # KRB-ERROR or AS-REP: always an answer
    _no_errors(ct)
    assert len(ct.journal) <= ct.journal.maxlen  # bounded memory


class ClusterEvents(ScenarioMachine):
    """The shipped state machine with its referral invariant, on the fuzz cluster."""


ClusterEvents.TestCase.settings = settings(max_examples=10, stateful_step_count=8, deadline=None,
                                           derandomize=True)


def test_scenario_state_machine():
    ClusterEvents.cluster = cluster()
    ClusterEvents.TestCase().runTest()


_TGS: dict[str, object] = {}


def _tgs_world():  # type: ignore[no-untyped-def]
    """An in-process KDC (no sockets), a TGT for alice and a valid TGS-REQ template."""
    if not _TGS:
        from fakegc.journal import Journal
        from fakegc.kdc import requests as R
        from fakegc.kdc.principals import PrincipalDb
        from fakegc.kdc.server import Kdc

        db = PrincipalDb()
        alice = db.add_user("alice", "Passw0rd!")
        db.add_service("exchangeAB/gc01.contoso.test")
        kdc = Kdc(db, Journal(maxlen=1000))
        key = db.key(alice, 18)
        out: list[bytes] = []
        kdc._serve(R.as_req("alice", db.realm, key), "udp", out.append)
        _TGS.update(kdc=kdc, tgt=R.open_as_rep(out[0], key), realm=db.realm)
    return _TGS


def _good_then_mutated(kdc, good: bytes, flips: list[tuple[int, int]]) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Serve ``good`` (teaching the layout caches its shape), then ``good`` with bytes flipped."""
    out: list[bytes] = []
    kdc._serve(good, "udp", out.append)
    bad = bytearray(good)
    for where, delta in flips:
        bad[where % len(bad)] ^= delta
    kdc._serve(bytes(bad), "udp", out.append)
    return out


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=3),
       cusec=st.integers(0, 999_999), subkey=st.booleans(), checksum=st.booleans())
def test_fuzz_kdc_tgs_requests(flips, cusec, subkey, checksum):
    """Mutated TGS-REQs (TGT, AP-REQ, authenticator, body) after a valid one taught the
    layout caches their shape: every one is answered with a KRB-ERROR or a TGS-REP, and
    nothing escapes as a server error."""
    import datetime as dt

    from impacket.krb5.crypto import Key

    from fakegc.kdc import requests as R

    world = _tgs_world()
    kdc = world["kdc"]
    rep, _enc, session = world["tgt"]  # type: ignore[misc]
    sub = Key(18, bytes(range(32))) if subkey else None
    ctime = dt.datetime.now(dt.UTC)
    good = R.tgs_req(rep, session, "alice", world["realm"], "exchangeAB/gc01.contoso.test",
                     subkey=sub, body_checksum=checksum, cusec=cusec, ctime=ctime)
    out = _good_then_mutated(kdc, good, flips)
    assert len(out) == 2 and all(r[:1] in (b"\x7e", b"\x6d") for r in out)
    assert out[0][:1] in (b"\x6d", b"\x7e")  # a replayed cusec within the run may be refused
    assert not kdc.errors, kdc.errors  # type: ignore[attr-defined]


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=3),
       ts_etype=st.sampled_from([18, 17, 23]), user=st.sampled_from(["alice", "Alice", "nobody"]))
def test_fuzz_kdc_preauthenticated_as_requests(flips, ts_etype, user):
    """Mutated AS-REQs with PA-ENC-TIMESTAMP after a valid one taught the layout: always a
    KRB-ERROR or an AS-REP, never a server error."""
    from fakegc.kdc import requests as R

    world = _tgs_world()
    kdc = world["kdc"]
    db = kdc.db  # type: ignore[attr-defined]
    key = db.key(db.get("alice"), ts_etype)
    good = R.as_req(user, world["realm"], key, ts_etype=ts_etype)
    out = _good_then_mutated(kdc, good, flips)
    assert len(out) == 2 and all(r[:1] in (b"\x7e", b"\x6b") for r in out)
    assert (out[0][:1] == b"\x6b") == (user != "nobody")  # the valid one: AS-REP for a real user
    assert not kdc.errors, kdc.errors  # type: ignore[attr-defined]

"""Hypothesis strategies for fakegc's protocols (issue #7).

Shipped in the package so users can fuzz their own clients and servers with the
same generators our tests use.  This module covers the DCE/RPC layer (valid and
mutated PDUs, presentation contexts, STAT); NSPI, RFR and Kerberos strategies
live next to their codecs and are re-exported here when present.
"""

from __future__ import annotations

import struct
import uuid as uuidlib

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fakegc.rpc.registry import NDR20, NDR64
from fakegc.testing.rawrpc import RawRpc, feature_syntax

__all__ = [
    "bind_pdus",
    "context_lists",
    "mutated",
    "pdu_streams",
    "request_pdus",
    "stat_blocks",
    "syntaxes",
    "transfer_syntaxes",
    "uuids",
]

uuids = st.builds(lambda b: uuidlib.UUID(bytes=b), st.binary(min_size=16, max_size=16))


def syntaxes(known: list[tuple[uuidlib.UUID, int, int]] | None = None) -> st.SearchStrategy:
    """Abstract syntaxes: the given known ones or random interfaces."""
    random_syntax = st.tuples(uuids, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
    if known:
        return st.one_of(st.sampled_from(known), random_syntax)
    return random_syntax


transfer_syntaxes = st.one_of(
    st.just(NDR20), st.just(NDR64),
    st.integers(0, 0xFF).map(feature_syntax),
    st.tuples(uuids, st.integers(0, 3), st.integers(0, 3)),
)


def context_lists(known: list[tuple[uuidlib.UUID, int, int]] | None = None,
                  max_contexts: int = 4) -> st.SearchStrategy:
    """Lists of (ctx_id, abstract, [transfers]) as a bind carries them."""
    return st.lists(
        st.tuples(st.integers(0, 0xFFFF), syntaxes(known),
                  st.lists(transfer_syntaxes, min_size=1, max_size=3)),
        min_size=1, max_size=max_contexts)


def bind_pdus(known: list[tuple[uuidlib.UUID, int, int]] | None = None) -> st.SearchStrategy[bytes]:
    """Well-formed bind / alter_context PDUs with random contexts, sizes, flags, groups."""
    return st.builds(
        lambda ctxs, call_id, group, xmit, recv, flags, alter: RawRpc.bind_pdu(
            ctxs, call_id=call_id, assoc_group=group, max_xmit=xmit, max_recv=recv,
            flags=flags, alter=alter),
        context_lists(known), st.integers(0, 2**32 - 1), st.sampled_from([0, 0, 0, 1, 0xDEADBEEF]),
        st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.booleans())


def request_pdus(max_stub: int = 512) -> st.SearchStrategy[bytes]:
    """Unauthenticated request fragments with random opnums, contexts, flags, stubs."""
    return st.builds(
        lambda call_id, ctx, opnum, stub, flags, hint: RawRpc.request_pdu(
            call_id, ctx, opnum, stub, flags=flags, alloc_hint=hint),
        st.integers(0, 2**32 - 1), st.integers(0, 3), st.integers(0, 30),
        st.binary(max_size=max_stub), st.sampled_from([3, 3, 3, 1, 2, 0, 0x83, 0x13]),
        st.one_of(st.none(), st.integers(0, 2**32 - 1)))


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A PDU from ``base`` with bytes flipped, truncated, extended or its length lied about."""
    data = bytearray(draw(base))
    how = draw(st.sampled_from(["flip", "truncate", "extend", "length", "auth_length", "none"]))
    if how == "flip" and data:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif how == "truncate" and data:
        del data[draw(st.integers(0, len(data) - 1)):]
    elif how == "extend":
        data += draw(st.binary(min_size=1, max_size=64))
    elif how == "length" and len(data) >= 10:
        struct.pack_into("<H", data, 8, draw(st.integers(0, 0xFFFF)))
    elif how == "auth_length" and len(data) >= 12:
        struct.pack_into("<H", data, 10, draw(st.integers(0, 0xFFFF)))
    return bytes(data)


def pdu_streams(known: list[tuple[uuidlib.UUID, int, int]] | None = None) -> st.SearchStrategy[list[bytes]]:
    """A connection's worth of PDUs: a (maybe mutated) bind then (maybe mutated) requests."""
    return st.tuples(
        st.one_of(bind_pdus(known), mutated(bind_pdus(known))),
        st.lists(st.one_of(request_pdus(), mutated(request_pdus()),
                           st.binary(min_size=0, max_size=64)), max_size=5),
    ).map(lambda t: [t[0], *t[1]])


def stat_blocks() -> st.SearchStrategy[bytes]:
    """NSPI STAT structures (MS-NSPI 2.2.8): 9 little-endian uint32 with plausible values."""
    return st.builds(
        lambda *v: struct.pack("<9I", *v),
        st.sampled_from([0, 1, 2]),  # SortType: display name, PhoneticDisplayName, ...
        st.sampled_from([0, 0, 1, 2, 0xFFFFFFFF]),  # ContainerID
        st.sampled_from([0, 1, 2, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1),  # CurrentRec
        st.integers(-(2**31), 2**31 - 1).map(lambda d: d & 0xFFFFFFFF),  # Delta
        st.integers(0, 1000),  # NumPos
        st.integers(0, 1000),  # TotalRecs
        st.sampled_from([1252, 65001, 1200, 0, 12345]),  # CodePage
        st.sampled_from([0x409, 0x407, 0]),  # TemplateLocale
        st.sampled_from([0x409, 0x407, 0]),  # SortLocale
    )


# -- NSPI, RFR and Kerberos requests ------------------------------------------------------
def nspi_requests(handle: bytes = b"\x00" * 20) -> st.SearchStrategy[tuple[int, bytes]]:
    """(opnum, stub) pairs: well-formed NSPI requests with random arguments (impacket encodes)."""
    from impacket.dcerpc.v5 import nspi

    def ctx() -> object:
        h = nspi.handle_t()
        h.fromString(handle)
        return h

    def query_rows(count: int, cp: int, rec: int, delta: int) -> tuple[int, bytes]:
        r = nspi.NspiQueryRows()
        r["hRpc"] = ctx()
        r["pStat"]["CodePage"] = cp
        r["pStat"]["CurrentRec"] = rec
        r["pStat"]["Delta"] = delta
        r["lpETable"] = nspi.NULL
        r["Count"] = count
        r["pPropTags"] = nspi.NULL
        return 3, r.getData()

    def update_stat(rec: int, delta: int, container: int) -> tuple[int, bytes]:
        r = nspi.NspiUpdateStat()
        r["hRpc"] = ctx()
        r["pStat"]["CurrentRec"] = rec
        r["pStat"]["Delta"] = delta
        r["pStat"]["ContainerID"] = container
        r["plDelta"] = nspi.NULL
        return 2, r.getData()

    def bind(flags: int, cp: int) -> tuple[int, bytes]:
        r = nspi.NspiBind()
        r["dwFlags"] = flags
        r["pStat"]["CodePage"] = cp
        r["pServerGuid"] = b"\x00" * 16
        return 0, r.getData()

    def dn_to_mid(names: list[str]) -> tuple[int, bytes]:
        from impacket.dcerpc.v5.dtypes import LPSTR

        r = nspi.NspiDNToMId()
        r["hRpc"] = ctx()
        for n in names:
            s = LPSTR()
            s["Data"] = n + "\x00"
            r["pNames"]["Strings"].append(s)
        r["pNames"]["Count"] = len(names)
        return 7, r.getData()

    delta = st.integers(-(2**31), 2**31 - 1)
    rec = st.sampled_from([0, 1, 2, 0x10, 0x20, 0x7FFFFFFF, 0xFFFFFFFF])
    cps = st.sampled_from([1252, 65001, 1200, 0, 4242])
    ascii_dn = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
    return st.one_of(
        st.builds(query_rows, st.integers(0, 2000), cps, rec, delta),
        st.builds(update_stat, rec, delta, st.sampled_from([0, 1, 0x8009000D, 0xFFFFFFFF])),
        st.builds(bind, st.sampled_from([0, 0x20, 0xFFFFFFFF]), cps),
        st.builds(dn_to_mid, st.lists(ascii_dn, max_size=4)),
    )


def rfr_requests() -> st.SearchStrategy[tuple[int, bytes]]:
    """(opnum, stub) pairs for the referral service."""
    from impacket.dcerpc.v5 import oxabref

    def new_dsa(dn: str, unused: bool) -> tuple[int, bytes]:
        r = oxabref.RfrGetNewDSA()
        r["ulFlags"] = 0
        r["pUserDN"] = dn + "\x00"
        r["ppszUnused"] = "\x00" if unused else oxabref.NULL
        r["ppszServer"] = "\x00"
        return 0, r.getData()

    def fqdn(dn: str, cb: int) -> tuple[int, bytes]:
        r = oxabref.RfrGetFQDNFromServerDN()
        r["ulFlags"] = 0
        r["cbMailboxServerDN"] = cb
        r["szMailboxServerDN"] = dn + "\x00"
        return 1, r.getData()

    dn = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
    return st.one_of(st.builds(new_dsa, dn, st.booleans()),
                     st.builds(fqdn, dn, st.integers(0, 5000)))


def as_requests(realm: str = "CONTOSO.TEST") -> st.SearchStrategy[bytes]:
    """AS-REQs with random client names, etypes, options and nonces (no pre-authentication)."""

    def build(user: str, etypes: list[int], nonce: int, opts: list[int]) -> bytes:
        import datetime as dt

        from impacket.krb5 import constants
        from impacket.krb5.asn1 import AS_REQ, seq_set, seq_set_iter
        from impacket.krb5.types import KerberosTime, Principal
        from pyasn1.codec.der import encoder

        req = AS_REQ()
        req["pvno"] = 5
        req["msg-type"] = 10
        body = seq_set(req, "req-body")
        body["kdc-options"] = constants.encodeFlags(opts)
        seq_set(body, "cname", Principal(user, type=1).components_to_asn1)
        seq_set(body, "sname", Principal(f"krbtgt/{realm}", type=2).components_to_asn1)
        body["realm"] = realm
        body["till"] = KerberosTime.to_asn1(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        body["nonce"] = nonce
        seq_set_iter(body, "etype", etypes)
        return bytes(encoder.encode(req))

    names = st.one_of(st.sampled_from(["alice", "bob", "svc-mapi"]),
                      st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20))
    return st.builds(build, names, st.lists(st.sampled_from([18, 17, 23, 16, 3, 1, 99]), min_size=1,
                                            max_size=4),
                     st.integers(0, 2**31 - 1), st.lists(st.sampled_from([1, 2, 3, 8, 15, 27]), max_size=3))


def tgs_like_requests() -> st.SearchStrategy[bytes]:
    """Byte strings that start like a TGS-REQ but carry garbage (for decoder robustness)."""
    return st.binary(min_size=0, max_size=200).map(lambda b: b"\x6c" + bytes([min(len(b), 127)]) + b)


__all__ += ["ScenarioMachine", "as_requests", "nspi_requests", "rfr_requests", "tgs_like_requests"]


# -- a stateful machine users subclass ----------------------------------------------------


class ScenarioMachine(RuleBasedStateMachine):
    """Drive a cluster through random scenario events; subclass and add your client's checks.

    Set ``cluster`` (a :class:`~fakegc.scenario.cluster.ClusterThread`) on the class before
    running (``ScenarioMachine.TestCase``).  Override :meth:`check_client` to make your
    client call the address book after each event and assert what it must see.
    """

    cluster: object = None

    def __init__(self) -> None:
        super().__init__()
        self.ct = type(self).cluster
        if self.ct is None:
            raise RuntimeError("set ScenarioMachine.cluster to a ClusterThread first")
        self.ct.reset()  # type: ignore[attr-defined]

    def check_client(self, event: str) -> None:
        """Hook: exercise your client after ``event``; default does nothing."""

    @rule(gc=st.sampled_from(["gc01", "gc02"]))
    def shutdown(self, gc: str) -> None:
        self.ct.fire("shutdown_begin", gc=gc)  # type: ignore[attr-defined]
        self.check_client("shutdown_begin")

    @rule(gc=st.sampled_from(["gc01", "gc02"]))
    def down(self, gc: str) -> None:
        self.ct.fire("gc_down", gc=gc)  # type: ignore[attr-defined]
        self.check_client("gc_down")

    @rule(gc=st.sampled_from(["gc01", "gc02"]), keep=st.booleans())
    def restart(self, gc: str, keep: bool) -> None:
        self.ct.fire("gc_restart", gc=gc, keep_guid=keep)  # type: ignore[attr-defined]
        self.check_client("gc_restart")

    @precondition(lambda self: any(g.state.value == "up" for g in self.ct.cluster.gcs.values()))
    @rule(gc=st.sampled_from(["gc01", "gc02"]))
    def new_gc(self, gc: str) -> None:
        if self.ct.cluster.gcs[gc].state.value == "up":  # type: ignore[attr-defined]
            self.ct.fire("new_gc_ready", gc=gc)  # type: ignore[attr-defined]
            self.check_client("new_gc_ready")

    @invariant()
    def referral_never_names_a_gc_that_is_not_up(self) -> None:
        from fakegc.referral.host import ReferralRefused

        try:
            target = self.ct.cluster.exchange.referral_target("")  # type: ignore[attr-defined]
        except ReferralRefused:
            return
        if target is not None:
            name = target.split(".")[0]
            assert self.ct.cluster.gcs[name].state.value == "up"  # type: ignore[attr-defined]


def restrictions(max_leaves: int = 6) -> st.SearchStrategy[tuple[object, ...]]:
    """NSPI restrictions in fakegc's evaluated form (``fakegc.nspi.restrictions.matches``):
    property / content / exist / bitmask / size leaves under and / or / not."""
    from fakegc.directory import props as DP

    tags = st.sampled_from([DP.PR_DISPLAY_NAME, DP.PR_DEPARTMENT_NAME, DP.PR_TITLE, DP.PR_SMTP_ADDRESS,
                            DP.PR_DISPLAY_TYPE, DP.PR_ANR])
    text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü ", max_size=8)
    leaves = st.one_of(
        st.builds(lambda r, t, v: ("property", r, t, v), st.integers(0, 5), tags, text),
        st.builds(lambda f, t, v: ("content", f, t, v), st.sampled_from([0, 1, 2, 0x10001, 0x10002]),
                  tags, text),
        st.builds(lambda t: ("exist", t), tags),
        st.builds(lambda r, m: ("bitmask", r, DP.PR_DISPLAY_TYPE, m), st.integers(0, 1), st.integers(0, 7)),
        st.builds(lambda r, n: ("size", r, DP.PR_DISPLAY_NAME, n), st.integers(0, 5), st.integers(0, 64)),
    )
    return st.recursive(leaves, lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(lambda xs: ("and", xs)),
        st.lists(kids, min_size=1, max_size=3).map(lambda xs: ("or", xs)),
        kids.map(lambda x: ("not", x))), max_leaves=max_leaves)


def property_rows(max_props: int = 8) -> st.SearchStrategy[list[tuple[int, object]]]:
    """Rows of (tag, value) pairs of every type the NSPI encoder handles (for codec tests)."""
    values = st.one_of(
        st.builds(lambda i, v: ((0x8000 + i) << 16 | 0x0003, v), st.integers(0, 0xFF), st.integers(0, 2**31 - 1)),
        st.builds(lambda i, v: ((0x8100 + i) << 16 | 0x001F, v), st.integers(0, 0xFF), st.text(max_size=20)),
        st.builds(lambda i, v: ((0x8200 + i) << 16 | 0x0102, v), st.integers(0, 0xFF), st.binary(max_size=40)),
        st.builds(lambda i, v: ((0x8300 + i) << 16 | 0x101F, v), st.integers(0, 0xFF),
                  st.lists(st.text(max_size=10), max_size=4)),
        st.builds(lambda i, v: ((0x8400 + i) << 16 | 0x000B, v), st.integers(0, 0xFF), st.booleans()),
    )
    return st.lists(values, max_size=max_props, unique_by=lambda tv: tv[0])


__all__ += ["property_rows", "restrictions"]

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

from fakegc.rpc.registry import NDR20, NDR64
from fakegc.testing.rawrpc import RawRpc, feature_syntax
from fakegc.wire import pdu as P

__all__ = [
    "uuids", "syntaxes", "transfer_syntaxes", "context_lists", "bind_pdus", "request_pdus",
    "mutated", "pdu_streams", "stat_blocks",
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

"""Bind / alter_context negotiation without sockets (fakegc.rpc.bind).

Each assertion names its oracle: MS-RPCE 3.3.1.5.3 (context negotiation), C706
§12.6.4.3, or Samba's raw_protocol.py (python/samba/tests/dcerpc), whose
expectations were recorded against Windows servers.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from fakegc.rpc.bind import Association, negotiate
from fakegc.rpc.limits import RpcLimits
from fakegc.rpc.registry import AssociationGroup, Interface
from fakegc.testing.echo import ECHO
from fakegc.testing.rawrpc import NDR20, NDR64, RawRpc, Reply, feature_syntax, syntax
from fakegc.wire import pdu as P

UNKNOWN = syntax("11111111-2222-3333-4444-555555555555", 1)


@dataclass
class Env:
    """A server side for the bind: one interface, no auth providers."""

    port: int = 49152
    limits: RpcLimits = field(default_factory=RpcLimits)
    providers: dict[int, Any] = field(default_factory=dict)
    admission: Any = None
    groups: dict[int, AssociationGroup] = field(default_factory=dict)
    interfaces: tuple[Interface, ...] = (ECHO,)

    def find_interface(self, uuid: uuidlib.UUID, major: int) -> Interface | None:
        return next((i for i in self.interfaces if i.uuid == uuid and i.version[0] == major),
                    None)

    def find_group(self, gid: int) -> AssociationGroup | None:
        return self.groups.get(gid)

    def new_group(self) -> AssociationGroup:
        return AssociationGroup(0x1234 + len(self.groups))

    def register_group(self, group: AssociationGroup) -> None:
        self.groups[group.id] = group


def run(pdu: bytes, assoc: Association, env: Env, alter: bool = False) -> tuple[Reply, bool, list]:
    events: list[tuple[str, dict]] = []
    out = negotiate(pdu, alter, assoc, env, 1, lambda kind, **f: events.append((kind, f)))
    return Reply(out.pdu, P.parse_header(out.pdu)), out.close, events


def fresh() -> Association:
    return Association(max_xmit=RpcLimits().max_frag)


def test_accepts_ndr_and_commits_group_and_sizes():
    env, assoc = Env(), fresh()
    reply, close, events = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])], max_xmit=4280,
                                               max_recv=4280), assoc, env)
    ack = reply.bind_ack()
    # MS-RPCE 3.3.1.5.3: acceptance (0) with the chosen transfer syntax echoed.
    assert ack.results == [(0, 0, P.pack_syntax(NDR20))]
    # C706 §12.6.4.4: the negotiated fragment size is at most what the client offered.
    assert ack.max_xmit == ack.max_recv == 4280
    # Samba raw_protocol.py test_no_auth_presentation_ctx_no_ndr64: secondary address = port.
    assert ack.sec_addr == b"49152\x00"
    assert not close and assoc.bound and assoc.group is env.groups[ack.assoc_group]
    assert [k for k, _ in events] == ["bind", "bind_ack"]


def test_unknown_abstract_syntax_is_reason_1_others_still_accepted():
    reply, _, _ = run(RawRpc.bind_pdu([(0, UNKNOWN, [NDR20]), (1, ECHO.syntax, [NDR20])]),
                      fresh(), Env())
    # Samba raw_protocol.py test_no_auth_presentation_ctx_no_ndr64: provider rejection,
    # reason abstract_syntax_not_supported (1); one result per context, in order.
    assert [(r, why) for r, why, _ in reply.bind_ack().results] == [(2, 1), (0, 0)]


def test_second_bind_on_a_connection_is_nak():
    env, assoc = Env(), fresh()
    run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])]), assoc, env)
    reply, close, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])], call_id=2), assoc, env)
    # C706 §12.6.4.3 / Samba raw_protocol.py test_invalid_auth_noctx-style: bind_nak, closed.
    assert reply.ptype == P.PTYPE.BIND_NAK and reply.call_id == 2 and close


def test_alter_context_before_bind_is_nak():
    reply, close, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])], alter=True), fresh(),
                          Env(), alter=True)
    assert reply.ptype == P.PTYPE.BIND_NAK and close  # C706 §12.6.4.3: no association yet


def test_unknown_association_group_is_nak_reason_0():
    reply, close, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])], assoc_group=0x4242),
                          fresh(), Env())
    # Samba raw_protocol.py test_assoc_group_fail1: bind_nak reason not_specified (0).
    assert reply.ptype == P.PTYPE.BIND_NAK and reply.status == 0 and close


def test_join_existing_association_group():
    env = Env()
    first = fresh()
    run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])]), first, env)
    assert first.group is not None
    second = fresh()
    reply, _, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])],
                                      assoc_group=first.group.id), second, env)
    # MS-RPCE 3.3.1.5.6 / Samba raw_protocol.py test_assoc_group_ok1: same group id.
    assert reply.bind_ack().assoc_group == first.group.id and second.group is first.group
    assert first.group.connections == 2


def test_bind_time_feature_negotiation_grants_only_supported_bits():
    env = Env(limits=RpcLimits(features=0x2))
    reply, _, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20]),
                                       (1, ECHO.syntax, [feature_syntax(0x3)])]), fresh(), env)
    results = reply.bind_ack().results
    # MS-RPCE 3.3.1.5.3 / Samba raw_protocol.py test_no_auth_bind_time_keep_on_orphan_simple:
    # negotiate_ack (3) whose reason field carries the granted bits, zero syntax.
    assert results[1] == (3, 0x2, b"\x00" * 20)


def test_two_feature_contexts_in_one_bind_is_nak():
    reply, close, _ = run(RawRpc.bind_pdu([(1, ECHO.syntax, [feature_syntax(1)]),
                                           (2, ECHO.syntax, [feature_syntax(2)])]),
                          fresh(), Env())
    # Samba raw_protocol.py test_no_auth_bind_time_twice: bind_nak not_specified, disconnect.
    assert reply.ptype == P.PTYPE.BIND_NAK and reply.status == 0 and close


def test_fragment_size_clamped_to_windows_minimum_and_rounded():
    env = Env()
    reply, _, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])], max_xmit=1000,
                                      max_recv=1000), fresh(), env)
    # MS-RPCE 3.3.1.5.3 (Windows never negotiates below 2048 on ncacn_ip_tcp, rounds to 8).
    assert reply.bind_ack().max_xmit == 2048


@pytest.mark.parametrize("vers_minor", [2, 7])
def test_unsupported_minor_version_is_nak_reason_4(vers_minor):
    pdu = bytearray(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])]))
    pdu[1] = vers_minor
    reply, close, _ = run(bytes(pdu), fresh(), Env())
    # C706 §12.6.4.3: protocol_version_not_supported (4) with the supported version list.
    assert reply.ptype == P.PTYPE.BIND_NAK and reply.status == 4 and close


def test_alter_context_adds_context_without_sec_addr():
    env, assoc = Env(), fresh()
    run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20])]), assoc, env)
    reply, close, _ = run(RawRpc.bind_pdu([(1, ECHO.syntax, [NDR64, NDR20])], alter=True,
                                          call_id=2), assoc, env, alter=True)
    ack = reply.bind_ack()
    # Samba raw_protocol.py test_no_auth_presentation_ctx_no_ndr64: alter_context_resp has
    # an empty secondary address; MS-RPCE 3.3.1.5.3: the new context is usable.
    assert reply.ptype == P.PTYPE.ALTER_CONTEXT_RESP and ack.sec_addr == b"" and not close
    assert set(assoc.contexts) == {0, 1}


# -- NDR64 and feature contexts (MS-RPCE 3.3.1.5.6; Samba raw_protocol.py) ------------------

NDR64_IFACE = Interface("ndr64-capable", "12345678-1234-abcd-ef00-0123456789ab", (1, 0),
                        ndr64=True)


def test_windows_style_bind_accepts_ndr64_for_an_interface_that_serves_it():
    env = Env(interfaces=(ECHO, NDR64_IFACE))
    assoc = fresh()
    reply, _, _ = run(RawRpc.bind_pdu([(0, NDR64_IFACE.syntax, [NDR20]),
                                       (1, NDR64_IFACE.syntax, [NDR64]),
                                       (2, NDR64_IFACE.syntax, [feature_syntax(3)])],
                                      flags=0x17), assoc, env)
    results = reply.bind_ack().results
    # MS-RPCE 3.3.1.5.6: "the server SHOULD accept, at most, one of the transfer syntaxes",
    # its preferred one; the other context is rejected with reason 2.
    assert results[0][:2] == (2, 2) and results[1] == (0, 0, P.pack_syntax(NDR64))
    assert results[2][0] == 3
    assert assoc.contexts[1].ndr64 and 0 not in assoc.contexts


def test_ndr_only_interface_keeps_ndr_when_offered_both():
    reply, _, _ = run(RawRpc.bind_pdu([(0, ECHO.syntax, [NDR20]), (1, ECHO.syntax, [NDR64])]),
                      fresh(), Env())
    # MS-RPCE 3.3.1.5.6 rule 2: the first proposed syntax the server supports.
    assert [(r, why) for r, why, _ in reply.bind_ack().results] == [(0, 0), (2, 2)]


def test_one_context_with_both_syntaxes_gets_the_preferred_one():
    env = Env(interfaces=(NDR64_IFACE,))
    reply, _, _ = run(RawRpc.bind_pdu([(0, NDR64_IFACE.syntax, [NDR20, NDR64])]), fresh(), env)
    assert reply.bind_ack().results == [(0, 0, P.pack_syntax(NDR64))]  # MS-RPCE 3.3.1.5.6


def test_feature_syntax_counts_only_as_first_transfer_syntax():
    zero = syntax("00000000-0000-0000-0000-000000000000", 0)
    reply, _, _ = run(RawRpc.bind_pdu([(1, zero, [zero, feature_syntax(2), feature_syntax(1)])]),
                      fresh(), Env())
    # Samba raw_protocol.py test_no_auth_bind_time_only_first: abstract syntax rejected (1).
    assert [(r, why) for r, why, _ in reply.bind_ack().results] == [(2, 1)]
    reply, _, _ = run(RawRpc.bind_pdu([(1, NDR64, [feature_syntax(2), feature_syntax(1), zero])]),
                      fresh(), Env())
    # raw_protocol.py test_no_auth_bind_time_keep_on_orphan_ignore_additional: first bits.
    assert [(r, why) for r, why, _ in reply.bind_ack().results] == [(3, 2)]


def test_big_endian_bind_normalises_to_the_little_endian_pdu():
    import struct as st

    from fakegc.wire import drep

    le = RawRpc.bind_pdu([(3, ECHO.syntax, [NDR20])], call_id=0x0A0B0C0D, assoc_group=0x11223344)
    u, tu = ECHO.uuid, NDR20[0]
    be = (st.pack(">BBBB4sHHI", 5, 0, 11, 3, b"\0\0\0\0", len(le), 0, 0x0A0B0C0D)
          + st.pack(">HHIBxxx", 5840, 5840, 0x11223344, 1) + st.pack(">HBx", 3, 1)
          + st.pack(">IHH", *u.fields[:3]) + u.bytes[8:] + st.pack(">I", ECHO.version[0])
          + st.pack(">IHH", *tu.fields[:3]) + tu.bytes[8:] + st.pack(">I", 2))
    # C706 §12.6.3.1 / §14.1: the same PDU in the other integer order; drep byte 0x10.
    assert drep.is_big_endian(be) and drep.frag_length(be) == len(le)
    assert drep.to_little_endian(be) == le

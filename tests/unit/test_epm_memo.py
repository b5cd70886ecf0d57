"""ept_map's answer memo against the decoder it short-cuts (PROTOCOL.md §7).

Requests are encoded by impacket's ``epm.ept_map`` (the reference NDR encoder) with
random objects, handles, towers, max_towers and truncations; every answer with the
memo must equal the uncached decoder's answer (bytes, journal notes and faults), and
impacket's ``ept_mapResponse`` (C706 O.2.7) must read it.
"""

from __future__ import annotations

import random
import struct
import uuid as uuidlib
from typing import Any

import pytest
from impacket.dcerpc.v5 import epm as iepm
from impacket.dcerpc.v5.dtypes import NULL
from impacket.uuid import uuidtup_to_bin

from fakegc.journal import Journal
from fakegc.rpc import epm
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.registry import AssociationGroup, CallContext, Interface

NSPI = Interface("nspi", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0))


class _Server:
    def __init__(self, emap: epm.EndpointMap | None) -> None:
        self.endpoint_map = emap


def _ctx(server: _Server) -> CallContext:
    return CallContext(None, "gc01", epm.EPM, 3, 2, 0, 1, AssociationGroup(1), None,
                       Journal(), server=server)


def _call(server: _Server, stub: bytes, memo: bool) -> tuple[str, Any, dict[str, Any]]:
    ctx = _ctx(server)
    try:
        if memo:
            return "ok", epm.ept_map(ctx, stub), ctx.notes
        out, iface, status, count = epm._ept_map(ctx, stub, server.endpoint_map)
    except Exception as exc:  # noqa: BLE001 - the same exception class either way
        return "raised", type(exc), {}
    notes: dict[str, Any] = {"interface_uuid": iface} if iface else {}
    notes.update(status=status, towers=count)
    return "ok", out, notes


def _request(rng: random.Random, ifaces: list[Interface]) -> bytes:
    req = iepm.ept_map()
    if rng.random() < 0.3:
        req["obj"] = uuidtup_to_bin((str(uuidlib.UUID(int=rng.getrandbits(128))), "0.0"))
    else:
        req["obj"] = NULL
    iface = rng.choice(ifaces)
    major = iface.version[0] if rng.random() < 0.8 else rng.randrange(0, 100)
    minor = rng.choice([0, 0, 1, 5])
    tower = epm.build_tower(iface.uuid, major, minor, "127.0.0.1", rng.randrange(1, 65535))
    if rng.random() < 0.1:
        tower = tower[: rng.randrange(0, len(tower))]  # a truncated floor: a decode error
    req["map_tower"]["tower_length"] = len(tower)
    req["map_tower"]["tower_octet_string"] = tower
    if rng.random() < 0.2:
        req["entry_handle"]["context_handle_attributes"] = rng.getrandbits(32)
        req["entry_handle"]["context_handle_uuid"] = bytes(rng.getrandbits(8) for _ in range(16))
    req["max_towers"] = rng.choice([0, 1, 2, 4, 500])
    stub: bytes = req.getData()
    if rng.random() < 0.05:
        stub = stub[: rng.randrange(0, len(stub))]  # a short stub
    return stub


@pytest.mark.parametrize("seed", range(4))
def test_memo_answers_equal_the_decoder(seed: int) -> None:
    rng = random.Random(seed)
    emap = epm.EndpointMap()
    ifaces = [NSPI, MGMT, epm.EPM, Interface("x", str(uuidlib.UUID(int=seed + 1)), (1, 0))]
    server = _Server(emap)
    pool = [_request(rng, ifaces) for _ in range(40)]  # repeats: memo hits
    for step in range(400):
        if step % 97 == 0:  # registrations change: the memo must not answer from before
            iface = rng.choice(ifaces)
            emap.register(iface, "127.0.0.1", rng.randrange(1000, 2000), iface.name)
        stub = rng.choice(pool)
        for _ in range(2):  # the second call answers from the memo
            got = _call(server, stub, memo=True)
            want = _call(server, stub, memo=False)
            assert got == want  # oracle: the uncached decoder (C706 O.2.7 encoding)
        if got[0] == "ok":
            resp = iepm.ept_mapResponse()
            resp.fromString(got[1] + b"\x00" * 4)  # + the PDU-level status slot impacket reads
            # impacket's ept_mapResponse decodes our answer; its count and status are ours
            assert resp["num_towers"] == got[2]["towers"]
            assert resp["status"] == got[2]["status"]


def test_memo_is_bounded_and_dropped_on_change() -> None:
    emap = epm.EndpointMap()
    emap.register(NSPI, "127.0.0.1", 6004)
    server = _Server(emap)
    for n in range(epm.MEMO_MAX * 3):
        req = iepm.ept_map()
        req["obj"] = NULL
        tower = epm.build_tower(NSPI.uuid, 56, 0, "127.0.0.1", n + 1)
        req["map_tower"]["tower_length"] = len(tower)
        req["map_tower"]["tower_octet_string"] = tower
        req["max_towers"] = 1
        epm.ept_map(_ctx(server), req.getData())
    assert len(emap.memo()) <= epm.MEMO_MAX  # bounded against distinct hostile stubs
    emap.register(MGMT, "127.0.0.1", 6004)
    assert emap.memo() == {}


def test_no_endpoint_map_and_null_tower_is_not_registered() -> None:
    # C706 O.2.7: a NULL map_tower has nothing to map: ept_s_not_registered, no fault
    stub = struct.pack("<II", 0, 0) + b"\x00" * 20 + struct.pack("<I", 1)
    kind, _out, notes = _call(_Server(None), stub, memo=True)
    assert kind == "ok" and notes["status"] == epm.EPT_S_NOT_REGISTERED

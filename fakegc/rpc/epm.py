"""Endpoint mapper, EPM v3.0 (C706 appendix O / MS-RPCE 2.2.1.2.5, PROTOCOL.md §5, §10).

``ept_map`` (3) answers the tower of a registered interface; ``ept_lookup`` (2)
walks the registrations with a lookup handle that ``ept_lookup_handle_free`` (4)
releases.  A walk that has nothing more answers ``ept_s_not_registered`` with a
NULL handle, so Samba's rpcclient stops (PROTOCOL.md §10).  Stubs are encoded by
hand (struct) because ept_map is a hot path (PROTOCOL.md §7); tests compare them
with impacket's ``epm`` structures.
"""

from __future__ import annotations

import socket
import struct
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import overload

from impacket.dcerpc.v5 import epm as _epm

from fakegc.codes import RpcStatus
from fakegc.rpc.registry import NDR20, NULL_HANDLE, CallContext, Interface, RpcFault
from fakegc.wire.impacket_ndr import LookupHandleFreeResponse, StatusOnlyResponse
from fakegc.wire.ndrread import NdrReader

__all__ = ["EPM", "EndpointMap", "Registration", "build_tower", "parse_tower"]

EPM = Interface("epm", "e1af8308-5d1f-11c9-91a4-08002b14a0fa", (3, 0),
                spec="C706 appendix O; MS-RPCE 2.2.1.2.5", ndr64=True, big_endian=True,
                anonymous_ok=True)

EPT_S_NOT_REGISTERED = RpcStatus.ept_s_not_registered


_PROT_UUID = 0x0D
_PROT_RPC_CO = 0x0B
_PROT_TCP = 0x07
_PROT_IP = 0x09


@dataclass(slots=True, frozen=True)
class Registration:
    """One endpoint: an interface reachable at host:port over ncacn_ip_tcp."""

    uuid: uuidlib.UUID
    major: int
    minor: int
    host: str
    port: int
    annotation: str = ""
    tower: bytes = b""


@dataclass
class EndpointMap:
    """The registrations an endpoint mapper answers from (one per host/actor).

    ept_map answers are kept per request stub (PROTOCOL.md §7): an answer is a
    function of the stub and the registrations, so a repeated request (a client
    asking for the same interface again) is one dict lookup.  The memo is emptied
    when the registrations change and holds at most :data:`MEMO_MAX` stubs of at most
    :data:`MEMO_STUB_MAX` bytes, so hostile clients only churn it.
    """

    registrations: list[Registration] = field(default_factory=list)
    _memo: dict[bytes, tuple[bytes, str, int, int]] = field(default_factory=dict, repr=False,
                                                             compare=False)
    _memo_of: tuple[int, int] = field(default=(0, -1), repr=False, compare=False)

    def register(self, iface: Interface, host: str, port: int, annotation: str = "") -> None:
        """Publish ``iface`` at ``host:port``."""
        self.registrations = [r for r in self.registrations
                              if not (r.uuid == iface.uuid and r.major == iface.version[0]
                                      and r.port == port)]
        tower = build_tower(iface.uuid, iface.version[0], iface.version[1], host, port)
        self.registrations.append(Registration(iface.uuid, iface.version[0], iface.version[1],
                                               host, port, annotation or iface.name, tower))

    def find(self, iface_uuid: uuidlib.UUID, major: int) -> list[Registration]:
        """Registrations of an interface (any minor version)."""
        return [r for r in self.registrations if r.uuid == iface_uuid and r.major == major]

    def memo(self) -> dict[bytes, tuple[bytes, str, int, int]]:
        """The ept_map answers kept for the current registrations."""
        regs = self.registrations
        if self._memo_of != (id(regs), len(regs)):
            self._memo = {}
            self._memo_of = (id(regs), len(regs))
        return self._memo


MEMO_MAX = 256
MEMO_STUB_MAX = 512


def _floor(lhs: bytes, rhs: bytes) -> bytes:
    return struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs


def build_tower(iface: uuidlib.UUID, major: int, minor: int, host: str, port: int) -> bytes:
    """A 5-floor ncacn_ip_tcp tower (C706 appendix L)."""
    try:
        ip = socket.inet_aton(host)
    except OSError:
        ip = socket.inet_aton("127.0.0.1")
    return (struct.pack("<H", 5)
            + _floor(bytes([_PROT_UUID]) + iface.bytes_le + struct.pack("<H", major),
                     struct.pack("<H", minor))
            + _floor(bytes([_PROT_UUID]) + NDR20[0].bytes_le + struct.pack("<H", NDR20[1]),
                     struct.pack("<H", 0))
            + _floor(bytes([_PROT_RPC_CO]), struct.pack("<H", 0))
            + _floor(bytes([_PROT_TCP]), struct.pack(">H", port))
            + _floor(bytes([_PROT_IP]), ip))


def parse_tower(tower: bytes) -> tuple[uuidlib.UUID, int, int, uuidlib.UUID | None]:
    """(interface uuid, major, minor, transfer syntax uuid) from a client tower."""
    count = struct.unpack_from("<H", tower, 0)[0]
    off = 2
    floors = []
    for _ in range(count):
        lhs_len = struct.unpack_from("<H", tower, off)[0]
        lhs = tower[off + 2: off + 2 + lhs_len]
        off += 2 + lhs_len
        rhs_len = struct.unpack_from("<H", tower, off)[0]
        rhs = tower[off + 2: off + 2 + rhs_len]
        off += 2 + rhs_len
        if len(lhs) != lhs_len or len(rhs) != rhs_len:
            raise ValueError("truncated tower floor")
        floors.append((lhs, rhs))
    if not floors or len(floors[0][0]) != 19 or floors[0][0][0] != _PROT_UUID:
        raise ValueError("tower floor 1 is not an interface identifier")
    lhs, rhs = floors[0]
    iface = uuidlib.UUID(bytes_le=lhs[1:17])
    major = struct.unpack_from("<H", lhs, 17)[0]
    minor = struct.unpack_from("<H", rhs, 0)[0] if len(rhs) >= 2 else 0
    transfer = None
    if len(floors) > 1 and len(floors[1][0]) == 19:
        transfer = uuidlib.UUID(bytes_le=floors[1][0][1:17])
    return iface, major, minor, transfer


def _towers_blob(towers: list[bytes], max_count: int) -> bytes:
    """Conformant-varying array of twr_p_t with deferred twr_t referents."""
    out = [struct.pack("<III", max(max_count, len(towers)), 0, len(towers))]
    out += [struct.pack("<I", 0x20000 + 4 * i) for i in range(len(towers))]
    for tower in towers:
        out.append(struct.pack("<II", len(tower), len(tower)) + tower + b"\x00" * (-len(tower) % 4))
    return b"".join(out)


def _reader(ctx: CallContext, stub: bytes) -> NdrReader:
    return NdrReader(stub, ndr64=ctx.ndr64, big_endian=ctx.big_endian)


@overload
def _endpoint_map(ctx: CallContext) -> EndpointMap: ...
@overload
def _endpoint_map(ctx: CallContext, required: bool) -> EndpointMap | None: ...
def _endpoint_map(ctx: CallContext, required: bool = True) -> EndpointMap | None:
    emap = getattr(ctx.server, "endpoint_map", None)
    if emap is None:
        emap = getattr(ctx.actor, "endpoint_map", None)
    if not isinstance(emap, EndpointMap):
        if not required:
            return None
        raise RpcFault(RpcStatus.rpc_fault_cant_perform, "no endpoint map on this server")
    return emap


@EPM.operation(3, "ept_map", request=_epm.ept_map, response=_epm.ept_mapResponse,
               spec="C706 O.2.7")
def ept_map(ctx: CallContext, stub: bytes) -> bytes:
    """Map an interface tower to the tower of its endpoint.

    NDR 2.0 little-endian answers come from the endpoint map's memo when the same
    stub was answered before (see :class:`EndpointMap`); the memo is filled by
    :func:`_ept_map`, the decoder every other request goes through.
    """
    emap = _endpoint_map(ctx, required=False)
    if emap is None or ctx.ndr64 or ctx.big_endian or len(stub) > MEMO_STUB_MAX:
        out, iface, status, count = _ept_map(ctx, stub, emap)
    else:
        memo = emap.memo()
        hit = memo.get(stub)
        if hit is None:
            hit = _ept_map(ctx, stub, emap)
            if len(memo) >= MEMO_MAX:
                memo.clear()
            memo[bytes(stub)] = hit
        out, iface, status, count = hit
    notes = ctx.notes
    if iface:
        notes["interface_uuid"] = iface
    notes["status"] = status
    notes["towers"] = count
    return out


def _ept_map(ctx: CallContext, stub: bytes,
             emap: EndpointMap | None) -> tuple[bytes, str, int, int]:
    """(response stub, interface uuid or "", status, towers) for an ept_map request."""
    r = _reader(ctx, stub)
    if r.pointer():
        r.uuid()  # object
    tower = r.tower() if r.pointer() else b""
    r.handle()  # entry_handle: ept_map never continues a walk here
    max_towers = r.u32()
    status = 0
    towers: list[bytes] = []
    iface_text = ""
    if not tower:
        status = EPT_S_NOT_REGISTERED
    else:
        iface, major, minor, _transfer = parse_tower(tower)
        emap = emap or _endpoint_map(ctx)
        towers = [r.tower for r in emap.find(iface, major) if r.minor >= minor]
        towers = towers[:max_towers] if max_towers else []
        if not towers:
            status = EPT_S_NOT_REGISTERED
        iface_text = str(iface)
    out = NULL_HANDLE + struct.pack("<I", len(towers)) + _towers_blob(towers, max_towers) \
        + struct.pack("<I", status)
    return out, iface_text, status, len(towers)


def _annotation(text: str) -> bytes:
    raw = text.encode("ascii", "replace")[:63] + b"\x00"
    return struct.pack("<II", 0, len(raw)) + raw + b"\x00" * (-len(raw) % 4)


@EPM.operation(2, "ept_lookup", request=_epm.ept_lookup, response=_epm.ept_lookupResponse,
               spec="C706 O.2.5")
def ept_lookup(ctx: CallContext, stub: bytes) -> bytes:
    """Walk the registrations, ``max_ents`` at a time, with a lookup handle."""
    r = _reader(ctx, stub)
    inquiry_type = r.u32()
    if r.pointer():
        r.uuid()  # object
    want: tuple[uuidlib.UUID, int] | None = None
    if r.pointer():
        iface = r.uuid()
        want = (iface, r.u16())
        r.u16()  # minor
    r.u32()  # vers_option
    handle = r.handle()
    max_ents = r.u32()
    regs = _endpoint_map(ctx).registrations
    if want is not None and inquiry_type != 0:
        regs = [r for r in regs if (r.uuid, r.major) == want]
    incoming_null = handle == NULL_HANDLE
    position = 0 if incoming_null else int(ctx.handles.get(handle))
    batch = regs[position: position + max_ents] if max_ents else []
    position += len(batch)
    status = 0
    if not batch:
        status = EPT_S_NOT_REGISTERED
        if not incoming_null:
            ctx.handles.close(handle)
        out_handle = NULL_HANDLE
    elif position < len(regs) or not incoming_null:
        if incoming_null:
            out_handle = ctx.handles.new(position)
        else:
            ctx.handles._objects[bytes(handle)] = position  # advance the walk
            out_handle = bytes(handle)
    else:
        out_handle = NULL_HANDLE
    entries = [struct.pack("<III", max(max_ents, len(batch)), 0, len(batch))]
    for i, reg in enumerate(batch):
        entries.append(b"\x00" * 16 + struct.pack("<I", 0x30000 + 4 * i) + _annotation(reg.annotation))
    for reg in batch:
        t = reg.tower
        entries.append(struct.pack("<II", len(t), len(t)) + t + b"\x00" * (-len(t) % 4))
    ctx.notes["status"] = status
    ctx.notes["entries"] = len(batch)
    return out_handle + struct.pack("<I", len(batch)) + b"".join(entries) + struct.pack("<I", status)


@EPM.operation(4, "ept_lookup_handle_free", response=LookupHandleFreeResponse,
               spec="C706 O.2.6")
def ept_lookup_handle_free(ctx: CallContext, stub: bytes) -> bytes:
    """Release a lookup handle."""
    handle = _reader(ctx, stub).handle()
    status = 0
    if handle != NULL_HANDLE:
        ctx.handles.close(handle)
    return NULL_HANDLE + struct.pack("<I", status)


@EPM.operation(0, "ept_insert", response=StatusOnlyResponse,
               spec="C706 O.2.3; MS-RPCE 2.2.1.2.5")
def ept_insert(ctx: CallContext, stub: bytes) -> bytes:
    """Refused to a remote caller: error_status_t rpc_s_access_denied (5).

    Only local servers register endpoints.  Oracle caveat: Samba's srv_epmapper.c
    ``_epm_Insert`` also refuses every caller that is not a privileged local (ncalrpc)
    one, but with the fault nca_s_op_rng_error, not this status; the status 5 follows
    what a Windows endpoint mapper is reported to answer, with no capture to cite yet.
    """
    _reader(ctx, stub).u32()  # num_ents: the request is read, never applied
    ctx.notes["status"] = RpcStatus.rpc_s_access_denied
    return struct.pack("<I", RpcStatus.rpc_s_access_denied)


@EPM.operation(1, "ept_delete", response=StatusOnlyResponse,
               spec="C706 O.2.4; MS-RPCE 2.2.1.2.5")
def ept_delete(ctx: CallContext, stub: bytes) -> bytes:
    """Refused to a remote caller like :func:`ept_insert` (Samba ``_epm_Delete``)."""
    _reader(ctx, stub).u32()
    ctx.notes["status"] = RpcStatus.rpc_s_access_denied
    return struct.pack("<I", RpcStatus.rpc_s_access_denied)


@EPM.operation(5, "ept_inq_object", spec="C706 O.2.8; MS-RPCE 2.2.1.2.5")
def ept_inq_object(ctx: CallContext, stub: bytes) -> bytes:
    """Not offered: "a client implementation SHOULD NOT call this method" (MS-RPCE).

    Answered with the fault nca_s_op_rng_error, as Samba's srv_epmapper.c
    ``_epm_InqObject`` does, now as a named operation in the journal.
    """
    raise RpcFault(RpcStatus.nca_s_op_rng_error, "ept_inq_object is not offered (MS-RPCE)")


@EPM.operation(6, "ept_mgmt_delete", spec="C706 O.2.9; MS-RPCE 2.2.1.2.5")
def ept_mgmt_delete(ctx: CallContext, stub: bytes) -> bytes:
    """Not offered, like :func:`ept_inq_object` (Samba ``_epm_MgmtDelete``)."""
    raise RpcFault(RpcStatus.nca_s_op_rng_error, "ept_mgmt_delete is not offered (MS-RPCE)")

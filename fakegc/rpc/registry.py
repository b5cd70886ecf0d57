"""Interface registry, call context and context handles (MS-RPCE 3.3.1.5, C706 §12).

An :class:`Interface` maps opnums to :class:`Operation` objects.  An operation's
``call(ctx, stub) -> bytes`` is the stub-level entry point the RPC engine invokes;
interface packages build it from a decoder, a *pure* handler and an encoder, and
declare the request/response types so that the supported-operations table is
generated from this registry (``fakegc.docs``), never hand-kept.

Handlers never touch sockets: everything they may know about the call is in the
:class:`CallContext`.  Failures that must become a fault PDU are raised as
:class:`RpcFault`.
"""

from __future__ import annotations

import os
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from fakegc.codes import RpcStatus

if TYPE_CHECKING:
    from fakegc.journal import Journal

__all__ = [
    "BIND_TIME_FEATURE_PREFIX",
    "NDR20",
    "NDR64",
    "NULL_HANDLE",
    "Actor",
    "AssociationGroup",
    "AuthInfo",
    "CallContext",
    "HandleTable",
    "Interface",
    "Operation",
    "Pipeline",
    "RpcFault",
]

#: Transfer syntaxes (C706 appendix I; MS-RPCE 2.2.4.12, 3.3.1.5.3).
NDR20 = (uuidlib.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2, 0)
NDR64 = (uuidlib.UUID("71710533-beba-4937-8319-b5dbef9ccc36"), 1, 0)
#: Bind-time feature negotiation: first 8 bytes fixed, last 8 bytes a bitmask.
BIND_TIME_FEATURE_PREFIX = bytes.fromhex("2c1cb76c12984045")  # 6cb71c2c-9812-4540 (LE fields)

NULL_HANDLE = b"\x00" * 20


class RpcFault(Exception):
    """Raise from an operation to answer the call with a fault PDU of ``status``."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or f"RPC fault 0x{status:08X}")
        self.status = status


StubCall = Callable[["CallContext", bytes], bytes]

Req = TypeVar("Req")
Bound = TypeVar("Bound")
Res = TypeVar("Res")


@dataclass(frozen=True, slots=True)
class Pipeline(Generic[Req, Bound, Res]):
    """An operation's ``call`` built from steps: decode → enter → handle → encode.

    ``decode`` turns the stub into a typed request; ``enter`` is the interface's
    boundary (context handles, sessions, identifier translation; it may raise
    :class:`RpcFault`); ``handle`` is the pure handler.  When the fault injector
    forced a status (``CallContext.forced_status``), ``refuse`` builds the error
    result instead of handling, so no handler deals with injection.  The result's
    ``status`` and ``notes`` go to the journal here, once for every operation.
    """

    decode: Callable[[bytes], Req]
    enter: Callable[[CallContext, Req], Bound]
    handle: Callable[[Bound], Res]
    refuse: Callable[[Bound, int], Res]
    encode: Callable[[CallContext, Bound, Res], bytes]
    #: ``decode`` for interfaces whose stubs depend on the call (ctx.big_endian, ctx.ndr64)
    decode_in: Callable[[CallContext, bytes], Req] | None = None

    def __call__(self, ctx: CallContext, stub: bytes) -> bytes:
        request = self.decode(stub) if self.decode_in is None else self.decode_in(ctx, stub)
        bound = self.enter(ctx, request)
        forced = ctx.forced_status
        result = self.handle(bound) if forced is None else self.refuse(bound, forced)
        status = getattr(result, "status", None)
        if status is not None:
            ctx.notes["status"] = int(status)
        notes = getattr(result, "notes", None)
        if notes:
            ctx.notes.update(notes)
        return self.encode(ctx, bound, result)


@dataclass(slots=True)
class Operation:
    """One opnum of an interface.

    ``call`` takes the call context and the request stub (NDR, already unsealed,
    verification trailer stripped) and returns the response stub.  ``request`` /
    ``response`` name the wire types (impacket ``NDRCALL`` classes or our own
    codecs) for documentation and property tests; ``spec`` cites the section.
    """

    opnum: int
    name: str
    call: StubCall
    request: Any = None
    response: Any = None
    spec: str = ""
    doc: str = ""


class Interface:
    """An RPC interface: abstract syntax (UUID, version) and its opnum table."""

    def __init__(self, name: str, uuid: str, version: tuple[int, int], spec: str = "",
                 *, ndr64: bool = False, big_endian: bool = False,
                 ndr64_transcode: bool = True, anonymous_ok: bool = False) -> None:
        self.name = name
        self.uuid = uuidlib.UUID(uuid)
        self.version = version
        self.spec = spec
        #: unauthenticated binds are accepted even when the server requires auth (EPM,
        #: management; RFR refuses at the operation instead, PROTOCOL.md §5)
        self.anonymous_ok = anonymous_ok
        self.operations: dict[int, Operation] = {}
        #: Operations read NDR64 requests (ctx.ndr64) and the engine offers NDR64 in
        #: binds (MS-RPCE 3.3.1.5.6); responses go through fakegc.rpc.ndr64.
        self.ndr64 = ndr64
        #: NDR64 answers are re-encoded from NDR by the engine (False: the operations
        #: encode NDR64 themselves).
        self.ndr64_transcode = ndr64_transcode
        #: Operations read big-endian requests (ctx.big_endian, C706 §14.1 "receiver
        #: makes it right"); calls of other interfaces from a big-endian client fault.
        self.big_endian = big_endian

    @property
    def syntax(self) -> tuple[uuidlib.UUID, int, int]:
        """(uuid, major, minor) as it appears in a presentation context."""
        return (self.uuid, self.version[0], self.version[1])

    def operation(self, opnum: int, name: str, *, request: Any = None, response: Any = None,
                  spec: str = "") -> Callable[[StubCall], StubCall]:
        """Decorator registering ``fn(ctx, stub) -> bytes`` as ``opnum``."""

        def register(fn: StubCall) -> StubCall:
            if opnum in self.operations:
                raise ValueError(f"{self.name}: opnum {opnum} registered twice")
            self.operations[opnum] = Operation(opnum, name, fn, request, response, spec,
                                               (fn.__doc__ or "").strip())
            return fn

        return register

    def add(self, op: Operation) -> None:
        """Register an already-built :class:`Operation`."""
        if op.opnum in self.operations:
            raise ValueError(f"{self.name}: opnum {op.opnum} registered twice")
        self.operations[op.opnum] = op

    def __repr__(self) -> str:
        return f"Interface({self.name} {self.uuid} v{self.version[0]}.{self.version[1]})"


@dataclass(slots=True)
class AuthInfo:
    """Who is calling and how (MS-RPCE 2.2.1.1.7 auth types, 2.2.1.1.8 levels)."""

    auth_type: int  # 10 NTLM (WINNT), 16 Kerberos, 9 SPNEGO, 0 none
    level: int  # 1 none, 2 connect, 5 integrity, 6 privacy
    user: str | None = None
    domain: str | None = None
    mech: str = ""  # "ntlm", "kerberos", "anonymous"

    @property
    def principal(self) -> str | None:
        """``user@DOMAIN`` (or None when anonymous)."""
        if self.user is None:
            return None
        return f"{self.user}@{self.domain}" if self.domain else self.user


class HandleTable:
    """Context handles of one association group (C706 §12.6.3.4, MS-RPCE 3.3.1.5.8).

    A handle is 20 bytes: 4 bytes attributes (0) + a random 16-byte UUID.  Lookups
    of unknown, closed or foreign handles raise ``RpcFault(0x1C00001A)``.
    """

    __slots__ = ("_objects",)

    def __init__(self) -> None:
        self._objects: dict[bytes, Any] = {}

    def new(self, obj: Any) -> bytes:
        """Issue a new handle for ``obj``."""
        raw = b"\x00\x00\x00\x00" + os.urandom(16)
        self._objects[raw] = obj
        return raw

    def get(self, raw: bytes) -> Any:
        """The object behind ``raw``; fault 0x1C00001A when unknown."""
        try:
            return self._objects[bytes(raw)]
        except KeyError:
            raise RpcFault(RpcStatus.nca_s_fault_context_mismatch, "unknown context handle") from None

    def close(self, raw: bytes) -> Any:
        """Forget ``raw`` and return its object; fault 0x1C00001A when unknown."""
        try:
            return self._objects.pop(bytes(raw))
        except KeyError:
            raise RpcFault(RpcStatus.nca_s_fault_context_mismatch, "unknown context handle") from None

    def __contains__(self, raw: object) -> bool:
        return isinstance(raw, (bytes, bytearray)) and bytes(raw) in self._objects

    def __len__(self) -> int:
        return len(self._objects)

    def clear(self) -> None:
        """Drop every handle (server restart)."""
        self._objects.clear()


@dataclass(slots=True, eq=False)
class AssociationGroup:
    """An association group (MS-RPCE 3.3.1.5.6): spans connections, owns handles."""

    id: int
    handles: HandleTable = field(default_factory=HandleTable)
    connections: int = 0
    data: dict[str, Any] = field(default_factory=dict)


class Actor(Protocol):
    """The object a server answers for (a GC, the Exchange server, an EPM host).

    The engine needs only its name; handlers narrow it to their own host protocol
    (:class:`fakegc.nspi.host.NspiHost`, :class:`fakegc.referral.host.ReferralHost`)
    after checking it provides what they read.
    """

    name: str


@dataclass(slots=True, eq=False)
class CallContext:
    """Everything an operation may know about the call it serves.

    ``actor`` is the actor object the server was created with (a GC, the Exchange
    server, the EPM host): it carries the world state handlers read.
    """

    actor: Actor | None
    actor_name: str
    interface: Interface
    opnum: int
    call_id: int
    ctx_id: int
    conn: int
    association: AssociationGroup
    auth: AuthInfo | None
    journal: Journal | None = None
    #: Set by an operation to add fields to the journal's response entry.
    notes: dict[str, Any] = field(default_factory=dict)
    #: Set by the fault injector (rule kind ``status``): the operation must answer
    #: with this interface-level return code (e.g. an NSPI error) instead of working.
    forced_status: int | None = None
    #: The RpcServer serving the call (EPM and the management interface read it).
    server: Any = None
    #: The presentation context's transfer syntax is NDR64 (MS-RPCE 2.2.5).
    ndr64: bool = False
    #: The request stub's integers are big-endian (drep 0x00, C706 §14.1).
    big_endian: bool = False

    @property
    def handles(self) -> HandleTable:
        """The association group's context handles."""
        return self.association.handles

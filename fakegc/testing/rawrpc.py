"""A raw, blocking DCE/RPC client for hand-built PDUs (tests, fuzzing, users' probes).

impacket is lenient and hides the wire; this client lets a test offer any set
of presentation contexts, flags, fragment sizes and association group, send
requests (optionally fragmented, pipelined, NTLM-signed or sealed, with a
verification trailer) and read back each PDU as it came.  MS-RPCE 2.2.2.
"""

from __future__ import annotations

import socket
import struct
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Self

from fakegc.rpc.registry import NDR20, NDR64
from fakegc.wire import pdu as P

__all__ = ["NDR20", "NDR64", "RawRpc", "Reply", "feature_syntax", "syntax"]


def syntax(uuid: str | uuidlib.UUID, major: int, minor: int = 0) -> tuple[uuidlib.UUID, int, int]:
    """A (uuid, major, minor) syntax tuple."""
    return (uuidlib.UUID(str(uuid)), major, minor)


def feature_syntax(bits: int) -> tuple[uuidlib.UUID, int, int]:
    """The bind-time feature negotiation transfer syntax carrying ``bits``."""
    raw = uuidlib.UUID("6cb71c2c-9812-4540-0000-000000000000").bytes_le[:8] + bits.to_bytes(8, "little")
    return (uuidlib.UUID(bytes_le=raw), 1, 0)


@dataclass
class Reply:
    """One PDU read back, with its decoded common header and body."""

    raw: bytes
    header: P.CommonHeader
    body: bytes = b""
    auth: bytes = b""
    trailer: P.SecTrailer | None = None

    @property
    def ptype(self) -> int:
        return self.header.ptype

    @property
    def call_id(self) -> int:
        return self.header.call_id

    @property
    def status(self) -> int:
        """Fault status (fault PDUs) or bind_nak reason (bind_nak PDUs)."""
        if self.ptype == P.PTYPE.FAULT:
            return int(struct.unpack_from("<I", self.raw, 24)[0])
        if self.ptype == P.PTYPE.BIND_NAK:
            return int(struct.unpack_from("<H", self.raw, 16)[0])
        raise ValueError(f"PDU type {self.ptype} has no status")

    def bind_ack(self) -> BindAck:
        """Decode a bind_ack / alter_context_resp."""
        assert self.ptype in (P.PTYPE.BIND_ACK, P.PTYPE.ALTER_CONTEXT_RESP), self.ptype
        d = self.raw
        max_xmit, max_recv, group, sec_len = struct.unpack_from("<HHIH", d, 16)
        sec_addr = d[26:26 + sec_len]
        off = 26 + sec_len
        off += (-off) % 4
        n = d[off]
        off += 4
        results = []
        for _ in range(n):
            result, reason = struct.unpack_from("<HH", d, off)
            tsyntax = d[off + 4: off + 24]
            results.append((result, reason, tsyntax))
            off += 24
        return BindAck(max_xmit, max_recv, group, sec_addr, results, self.header.flags)

    @property
    def stub(self) -> bytes:
        """Stub bytes of a response (auth pad removed)."""
        end = len(self.raw) - (self.header.auth_length + 8 if self.header.auth_length else 0)
        data = self.raw[24:end]
        if self.trailer is not None and self.trailer.pad_length:
            data = data[: len(data) - self.trailer.pad_length]
        return data


@dataclass
class BindAck:
    """A decoded bind_ack."""

    max_xmit: int
    max_recv: int
    assoc_group: int
    sec_addr: bytes
    results: list[tuple[int, int, bytes]]
    flags: int


@dataclass
class RawRpc:
    """A blocking TCP connection speaking raw PDUs."""

    host: str
    port: int
    timeout: float = 5.0
    sock: socket.socket = field(init=False)
    _buf: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ---------------------------------------------------------------
    @staticmethod
    def bind_pdu(contexts: list[tuple[int, tuple[uuidlib.UUID, int, int],
                                      list[tuple[uuidlib.UUID, int, int]]]],
                 call_id: int = 1, assoc_group: int = 0, max_xmit: int = 5840,
                 max_recv: int = 5840, flags: int = 3, alter: bool = False,
                 auth: tuple[int, int, int, bytes] | None = None) -> bytes:
        """A bind (or alter_context) PDU; ``auth`` = (type, level, context_id, token)."""
        body = struct.pack("<HHIBBH", max_xmit, max_recv, assoc_group, len(contexts), 0, 0)
        for ctx_id, abstract, transfers in contexts:
            body += struct.pack("<HBB", ctx_id, len(transfers), 0) + P.pack_syntax(abstract)
            body += b"".join(P.pack_syntax(t) for t in transfers)
        auth_part = b""
        auth_len = 0
        if auth is not None:
            pad = (-(16 + len(body))) % 4
            auth_part = b"\x00" * pad + P.pack_sec_trailer(auth[0], auth[1], pad, auth[2]) + auth[3]
            auth_len = len(auth[3])
        ptype = P.PTYPE.ALTER_CONTEXT if alter else P.PTYPE.BIND
        return P.pack_header(ptype, flags, 16 + len(body) + len(auth_part), auth_len, call_id) \
            + body + auth_part

    @staticmethod
    def request_pdu(call_id: int, ctx_id: int, opnum: int, stub: bytes, flags: int = 3,
                    alloc_hint: int | None = None) -> bytes:
        """An unauthenticated request fragment."""
        hint = len(stub) if alloc_hint is None else alloc_hint
        return (P.pack_header(P.PTYPE.REQUEST, flags, 24 + len(stub), 0, call_id)
                + struct.pack("<IHH", hint, ctx_id, opnum) + stub)

    # -- I/O -----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv(self) -> Reply:
        """Read one PDU."""
        head = self._read(16)
        hdr = P.parse_header(head)
        raw = head + self._read(hdr.frag_length - 16)
        trailer = None
        auth = b""
        if hdr.auth_length:
            off = len(raw) - hdr.auth_length - 8
            trailer = P.parse_sec_trailer(raw, off)
            auth = raw[off + 8:]
        return Reply(raw, hdr, raw[16:], auth, trailer)

    def closed_by_peer(self) -> bool:
        """True when the server has closed the connection (EOF or reset)."""
        try:
            self.sock.settimeout(self.timeout)
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
        return data == b""

    def bind(self, abstract: tuple[uuidlib.UUID, int, int], **kw: object) -> Reply:
        """Bind one context (id 0, NDR 2.0) and return the reply."""
        self.send(self.bind_pdu([(0, abstract, [NDR20])], **kw))  # type: ignore[arg-type]
        return self.recv()

    def call(self, opnum: int, stub: bytes, ctx_id: int = 0, call_id: int = 2) -> Reply:
        """One unauthenticated request; returns the (first) reply PDU."""
        self.send(self.request_pdu(call_id, ctx_id, opnum, stub))
        return self.recv()


class NtlmSession:
    """Client side of NTLM over a :class:`RawRpc` (MS-NLMP; impacket builds the messages).

    ``bind()`` runs NEGOTIATE / CHALLENGE / AUTH3; ``request()`` sends one signed or
    sealed request, optionally with a verification trailer appended to the stub or
    with a byte of the signed PDU flipped after signing (``tamper``).
    """

    def __init__(self, rpc: RawRpc, user: str, password: str, domain: str = "CONTOSO",
                 level: int = 6, context_id: int = 1) -> None:
        self.rpc = rpc
        self.user, self.password, self.domain = user, password, domain
        self.level = level
        self.context_id = context_id
        self.seq = 0
        self.flags = 0
        self._sign_key = b""
        self._seal: object = None
        self._server_sign_key = b""
        self._server_seal: object = None
        self.server_seq = 0

    def bind(self, abstract: tuple[uuidlib.UUID, int, int], flags: int = 3,
             extra_contexts: list[tuple[int, tuple[uuidlib.UUID, int, int],
                                        list[tuple[uuidlib.UUID, int, int]]]] | None = None,
             call_id: int = 1) -> Reply:
        """Bind context 0 with NTLM and finish with AUTH3; returns the bind_ack."""
        from Cryptodome.Cipher import ARC4
        from impacket import ntlm

        negotiate = ntlm.getNTLMSSPType1("", "", signingRequired=True, use_ntlmv2=True)
        contexts = [(0, abstract, [NDR20])] + (extra_contexts or [])
        self.rpc.send(RawRpc.bind_pdu(contexts, call_id=call_id, flags=flags,
                                      auth=(10, self.level, self.context_id, negotiate.getData())))
        ack = self.rpc.recv()
        if ack.ptype != P.PTYPE.BIND_ACK:
            return ack
        auth, key = ntlm.getNTLMSSPType3(negotiate, ack.auth, self.user, self.password,
                                         self.domain, use_ntlmv2=True)
        self.flags = auth["flags"]
        self._sign_key = ntlm.SIGNKEY(self.flags, key, "Client")
        self._seal = ARC4.new(ntlm.SEALKEY(self.flags, key, "Client")).encrypt
        self._server_sign_key = ntlm.SIGNKEY(self.flags, key, "Server")
        self._server_seal = ARC4.new(ntlm.SEALKEY(self.flags, key, "Server")).encrypt
        self.server_seq = 0
        token = auth.getData()
        body = b"\x00" * 4
        trailer = P.pack_sec_trailer(10, self.level, 0, self.context_id)
        self.rpc.send(P.pack_header(P.PTYPE.AUTH3, 3, 16 + 4 + 8 + len(token), len(token), call_id)
                      + body + trailer + token)
        return ack

    def request_pdu(self, call_id: int, opnum: int, stub: bytes, ctx_id: int = 0,
                    flags: int = 3, tamper: int | None = None) -> bytes:
        """One protected request fragment (pad to 16, sec_trailer, NTLM signature)."""
        from impacket import ntlm

        pad = (-len(stub)) % 16
        body = stub + b"\x00" * pad
        frag_len = 24 + len(body) + 8 + 16
        header = (P.pack_header(P.PTYPE.REQUEST, flags, frag_len, 16, call_id)
                  + struct.pack("<IHH", len(stub), ctx_id, opnum))
        trailer = P.pack_sec_trailer(10, self.level, pad, self.context_id)
        message = header + body + trailer
        if self.level == 6:
            sealed, sig = ntlm.SEAL(self.flags, self._sign_key, b"", message, body, self.seq,
                                    self._seal)
            body = sealed
        else:
            sig = ntlm.SIGN(self.flags, self._sign_key, message, self.seq, self._seal)
        self.seq += 1
        pdu = bytearray(header + body + trailer + sig.getData())
        if tamper is not None:
            pdu[tamper] ^= 0x01
        return bytes(pdu)

    def request(self, call_id: int, opnum: int, stub: bytes, **kw: object) -> Reply:
        """Send one protected request and read the first reply PDU."""
        self.rpc.send(self.request_pdu(call_id, opnum, stub, **kw))  # type: ignore[arg-type]
        return self.rpc.recv()

    def open(self, reply: Reply) -> bytes:
        """Verify (and at privacy unseal) a protected response; return its stub.

        Raises ValueError when the server's signature does not verify.
        """
        from impacket import ntlm

        hdr_len = 24
        auth_len = reply.header.auth_length
        end = len(reply.raw) - auth_len - 8
        body = reply.raw[hdr_len:end]
        trailer = reply.raw[end:end + 8]
        if self.level == 6:
            body = self._server_seal(body)  # type: ignore[operator]
        sig = ntlm.SIGN(self.flags, self._server_sign_key, reply.raw[:hdr_len] + body + trailer,
                        self.server_seq, self._server_seal)
        self.server_seq += 1
        if sig.getData() != reply.auth:
            raise ValueError("server signature does not verify")
        pad = reply.trailer.pad_length if reply.trailer else 0
        return body[: len(body) - pad] if pad else body

"""Requests shaped like one already read: layout caches for the KDC's hot path (PROTOCOL.md §7).

A client sends the same shape of KDC-REQ, AP-REQ and Authenticator again and again (same
options, realm, etypes, name lengths, ticket).  After one full read by
:mod:`fakegc.kdc.derread`, the next is recognised by one masked comparison of big integers
(C speed): every tag and length byte, and every leaf that stays constant for a client,
must match; only the variable leaves (names, times, nonce, padata values, authenticator
cipher, cusec, subkey...) are read, with the same checks the full reader applies.  The
result always equals the full reader's (property-tested in tests/unit/test_kdc_fastder.py
and tests/unit/test_kdc_derread.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakegc.kdc.apread import ApReq, AuthenticatorPart, EncData, parse_ap_req, parse_authenticator
from fakegc.kdc.derread import (
    MICROSECONDS,
    SIGNED_OR_UNSIGNED,
    DerError,
    Request,
    nonminimal,
    parse_kdc_req,
)
from fakegc.wire.der import tlv

__all__ = ["LayoutCache", "read_ap_req", "read_authenticator", "read_kdc_req"]


# -- layouts: requests shaped like one already read ------------------------------------------
_CNAME = (0xA1, 0x30, 0xA1, 0x30, 0x1B)
_SNAME = (0xA3, 0x30, 0xA1, 0x30, 0x1B)
_TIMES = {(0xA4, 0x18): "from", (0xA5, 0x18): "till", (0xA6, 0x18): "rtime"}
_NONCE = (0xA7, 0x02)


def _leaves(data: bytes, off: int, end: int, path: tuple[int, ...],
            out: list[tuple[tuple[int, ...], int, int]]) -> None:
    """Every primitive TLV under [off, end): (tag path, value start, value end)."""
    while off < end:
        tag, vs, ve = tlv(data, off, end)
        if tag & 0x20:
            _leaves(data, vs, ve, path + (tag,), out)
        else:
            out.append((path + (tag,), vs, ve))
        off = ve


class _Layout:
    """One DER layout of a KDC-REQ: every tag and length byte fixed, and the leaves that
    stay constant for a client (pvno, msg-type, options, realm, name types, etypes,
    padata types); the variable leaves (name components, times, nonce, padata values,
    anything the reader does not interpret) are read afresh from each request."""

    __slots__ = (
        "cname",
        "cname_der",
        "mask",
        "nonce",
        "sname",
        "sname_der",
        "template",
        "times",
        "value",
    )

    def __init__(self, data: bytes, req: Request) -> None:
        leaves: list[tuple[tuple[int, ...], int, int]] = []
        _leaves(data, 0, len(data), (), leaves)
        body = (data[0], 0x30, 0xA4, 0x30)
        pa_value = (data[0], 0x30, 0xA3, 0x30, 0x30, 0xA2, 0x04)
        mask = bytearray(b"\xff" * len(data))
        self.cname: list[tuple[int, int]] = []
        self.sname: list[tuple[int, int]] = []
        self.times: list[tuple[str, int, int]] = []
        self.nonce = (0, 0)
        for path, vs, ve in leaves:
            rel = path[4:] if path[:4] == body else None
            if path == pa_value:
                pass
            elif rel == _CNAME:
                self.cname.append((vs, ve))
            elif rel == _SNAME:
                self.sname.append((vs, ve))
            elif rel is not None and rel in _TIMES:
                self.times.append((_TIMES[rel], vs, ve))
            elif rel == _NONCE:
                self.nonce = (vs, ve)
            elif rel is not None and rel[0] >= 0xA9:
                pass  # addresses, enc-authorization-data, additional-tickets: not interpreted
            else:
                continue  # a constant leaf: part of the mask
            mask[vs:ve] = bytes(ve - vs)
        if self.nonce == (0, 0):
            raise DerError("no nonce")
        self.cname_der = req.cname_at if req.cname_der is not None else None
        self.sname_der = req.sname_at if req.sname_der is not None else None
        self.mask = int.from_bytes(mask, "big")
        self.value = int.from_bytes(data, "big") & self.mask
        self.template = req

    def read(self, data: bytes, wire: bytes) -> Request | None:
        """The request, when its variable leaves are valid; None sends it to the full reader."""
        t = self.template
        req = Request(t.msg, pvno=t.pvno)
        req.data, req.wire, req.realm = data, wire, t.realm
        req.kdc_options, req.etypes, req.padata, req.body = t.kdc_options, list(t.etypes), list(t.padata), t.body
        try:
            for name, vs, ve in self.times:
                text = data[vs:ve].decode("ascii")
                if text[14] != "Z" or not text[:14].isdigit():
                    return None
                if name == "till":
                    req.till = text
                elif name == "rtime":
                    req.rtime = text
            if self.cname_der is not None:
                names = [data[vs:ve].decode("utf-8") for vs, ve in self.cname]
                req.cname, req.cname_type = names, t.cname_type
                req.cname_der = data[self.cname_der[0]:self.cname_der[1]]
                req.cname_at = self.cname_der
                if t.msg == "AS":
                    req.client = "/".join(names)
            if self.sname_der is not None:
                names = [data[vs:ve].decode("utf-8") for vs, ve in self.sname]
                req.sname_components, req.sname_type = names, t.sname_type
                req.sname_der = data[self.sname_der[0]:self.sname_der[1]]
                req.sname_at = self.sname_der
                req.service = "/".join(names)
        except UnicodeDecodeError:
            return None
        vs, ve = self.nonce
        if nonminimal(data, vs, ve):
            return None
        req.nonce = int.from_bytes(data[vs:ve], "big", signed=True)
        if not SIGNED_OR_UNSIGNED[0] <= req.nonce <= SIGNED_OR_UNSIGNED[1]:
            return None
        req.ok = True
        return req


class _Shapes:
    """Known layouts of one message type, by length (see :class:`LayoutCache`)."""

    def __init__(self, per_length: int = 4, total: int = 512) -> None:
        self.per_length, self.total = per_length, total
        self.by_length: dict[int, tuple[Any, ...]] = {}
        self.count = 0

    def find(self, data: bytes) -> Any:
        candidates = self.by_length.get(len(data))
        if candidates:
            number = int.from_bytes(data, "big")
            for layout in candidates:
                if number & layout.mask == layout.value:
                    return layout
        return None

    def read(self, data: bytes, parse: Callable[[bytes], Any], layout_of: Callable[[bytes, Any], Any]) -> Any:
        """``data`` by a known layout, else ``parse(data)`` and learn ``layout_of(data, result)``."""
        layout = self.find(data)
        if layout is not None:
            out = layout.read(data)
            if out is not None:
                return out
        out = parse(data)
        try:
            self.add(data, layout_of(data, out))
        except (DerError, IndexError, ValueError):
            pass  # not plain DER all the way down: always read in full
        return out

    def add(self, data: bytes, layout: Any) -> None:
        if self.count >= self.total:
            self.by_length.clear()
            self.count = 0
        known = self.by_length.get(len(data), ())
        self.by_length[len(data)] = (layout,) + known[:self.per_length - 1]
        self.count += 1


class LayoutCache:
    """Layouts of requests already read, by length (PROTOCOL.md §7).

    A client sends the same shape of request again and again (same options, realm,
    etypes, name lengths); once one has been read in full, the next is recognised
    by one masked comparison of big integers (C speed) and only its variable leaves
    are read.  The result equals :func:`parse_kdc_req`'s (property-tested).
    """

    def __init__(self, per_length: int = 8, total: int = 1024) -> None:
        self.shapes = _Shapes(per_length, total)

    def read(self, data: bytes, wire: bytes | None = None) -> Request:
        """Like :func:`parse_kdc_req`, recognising known layouts first."""
        layout = self.shapes.find(data)
        if layout is not None:
            req = layout.read(data, data if wire is None else wire)
            if req is not None:
                return req  # type: ignore[no-any-return]
        req = parse_kdc_req(data, wire)
        try:
            self.shapes.add(data, _Layout(data, req))
        except (DerError, IndexError, ValueError):
            pass  # not plain DER all the way down (e.g. odd addresses): always read in full
        return req

    def clear(self) -> None:
        """Forget every layout."""
        self.shapes.by_length.clear()
        self.shapes.count = 0


_CACHE = LayoutCache()


def read_kdc_req(data: bytes, wire: bytes | None = None) -> Request:
    """Read an AS-REQ/TGS-REQ: a known layout (:class:`LayoutCache`) or :func:`parse_kdc_req`."""
    return _CACHE.read(data, wire)


# -- layouts of AP-REQs and Authenticators (the TGS-REQ's inner messages) --------------------
def _masked(data: bytes, variable: Callable[[tuple[int, ...]], bool]) -> tuple[int, int, list[tuple[tuple[int, ...], int, int]]]:
    """(mask, masked value, leaves): leaves for which ``variable(path)`` is true are masked out."""
    leaves: list[tuple[tuple[int, ...], int, int]] = []
    _leaves(data, 0, len(data), (), leaves)
    mask = bytearray(b"\xff" * len(data))
    for path, vs, ve in leaves:
        if variable(path):
            mask[vs:ve] = bytes(ve - vs)
    m = int.from_bytes(mask, "big")
    return m, int.from_bytes(data, "big") & m, leaves


_AP_CIPHER = (0x6E, 0x30, 0xA4, 0x30, 0xA2, 0x04)


class _ApLayout:
    __slots__ = ("cipher", "mask", "template", "value")

    def __init__(self, data: bytes, ap: ApReq) -> None:
        self.mask, self.value, leaves = _masked(data, lambda path: path == _AP_CIPHER)
        spans = [(vs, ve) for path, vs, ve in leaves if path == _AP_CIPHER]
        if len(spans) != 1:
            raise DerError("no authenticator cipher")
        self.cipher = spans[0]
        self.template = ap

    def read(self, data: bytes) -> ApReq:
        t = self.template
        auth = t.authenticator
        return ApReq(t.options, t.ticket, EncData(auth.etype, auth.kvno, data[self.cipher[0]:self.cipher[1]]))


_AUTH_VAR = {(0x62, 0x30, 0xA3, 0x30, 0xA1, 0x04): "checksum", (0x62, 0x30, 0xA4, 0x02): "cusec",
             (0x62, 0x30, 0xA5, 0x18): "ctime", (0x62, 0x30, 0xA6, 0x30, 0xA1, 0x04): "subkey",
             (0x62, 0x30, 0xA7, 0x02): "seq"}


def _auth_variable(path: tuple[int, ...]) -> bool:
    return path in _AUTH_VAR or path[:3] == (0x62, 0x30, 0xA8)  # authorization-data: not read


class _AuthLayout:
    __slots__ = ("mask", "spans", "template", "value")

    def __init__(self, data: bytes, part: AuthenticatorPart) -> None:
        self.mask, self.value, leaves = _masked(data, _auth_variable)
        self.spans = [(_AUTH_VAR[path], vs, ve) for path, vs, ve in leaves if path in _AUTH_VAR]
        self.template = part

    def read(self, data: bytes) -> AuthenticatorPart | None:
        t = self.template
        out = AuthenticatorPart()
        out.crealm, out.cname, out.cksumtype = t.crealm, t.cname, t.cksumtype
        for name, vs, ve in self.spans:
            if name == "ctime":
                text = data[vs:ve].decode("ascii", "replace")
                if text[14] != "Z" or not text[:14].isdigit():
                    return None
                out.ctime = text
            elif name == "checksum":
                out.checksum = data[vs:ve]
            elif name == "subkey":
                assert t.subkey is not None
                out.subkey = (t.subkey[0], data[vs:ve])
            else:
                if nonminimal(data, vs, ve):
                    return None
                value = int.from_bytes(data[vs:ve], "big", signed=True)
                bounds = MICROSECONDS if name == "cusec" else SIGNED_OR_UNSIGNED
                if not bounds[0] <= value <= bounds[1]:
                    return None
                if name == "cusec":
                    out.cusec = value
                else:
                    out.seq_number = value
        return out


_AP_SHAPES = _Shapes()
_AUTH_SHAPES = _Shapes()


def read_ap_req(data: bytes) -> ApReq:
    """An AP-REQ [APPLICATION 14]: a known layout (same ticket, same authenticator size) or
    :func:`parse_ap_req`; equal results either way (property-tested)."""
    return _AP_SHAPES.read(data, parse_ap_req, _ApLayout)  # type: ignore[no-any-return]


def read_authenticator(data: bytes) -> AuthenticatorPart:
    """Authenticator [APPLICATION 2]: a known layout or :func:`parse_authenticator`."""
    return _AUTH_SHAPES.read(data, parse_authenticator, _AuthLayout)  # type: ignore[no-any-return]

"""A strict DER reader for the Kerberos messages a KDC receives (RFC 4120 §5).

The KDC's hot path (PROTOCOL.md §7) reads requests without pyasn1: :func:`parse_kdc_req`
walks an AS-REQ/TGS-REQ (§5.4.1) into a :class:`Request`, one reader per member;
:mod:`fakegc.kdc.apread` takes apart what sits inside one (EncryptedData, AP-REQ,
Ticket, EncTicketPart, Authenticator) with the primitives here.  Each is strict: definite minimal lengths, context tags in ascending
order, the universal types the ASN.1 module names.  Anything else raises
:class:`DerError` and the caller hands the bytes to pyasn1 (the reference codec),
which either normalises them to DER or rejects them.  tests/unit/test_kdc_derread.py
proves the readers agree with pyasn1 for random valid messages; :mod:`fakegc.kdc.layouts`
recognises requests shaped like one already read.
"""

from __future__ import annotations

from fakegc.wire.der import DerError, tlv

__all__ = [
    "INT32",
    "MICROSECONDS",
    "NT_PRINCIPAL",
    "NT_SRV_INST",
    "SIGNED_OR_UNSIGNED",
    "UINT32",
    "DerError",
    "Request",
    "app_fields",
    "bits32",
    "fields",
    "inner",
    "integer",
    "nonminimal",
    "parse_kdc_req",
    "principal",
]

NT_PRINCIPAL = 1
NT_SRV_INST = 2


def fields(data: bytes, off: int, end: int, top: int) -> list[tuple[int, int] | None]:
    """Context-tagged members [0]..[top] of a SEQUENCE's content: (start, end) of each
    member's inner TLV, None when absent; tags must ascend."""
    out: list[tuple[int, int] | None] = [None] * (top + 1)
    last = -1
    while off < end:
        tag, s, e = tlv(data, off, end)
        n = tag - 0xA0
        if n <= last or n > top or n < 0:
            raise DerError(f"unexpected tag {tag:#x}")
        last = n
        out[n] = (s, e)
        off = e
    return out


def app_fields(data: bytes, app: int, top: int, what: str) -> list[tuple[int, int] | None]:
    """Members [0]..[top] of ``[APPLICATION n] SEQUENCE {...}`` filling all of ``data``."""
    tag, s, e = tlv(data, 0, len(data))
    if tag != app or e != len(data):
        raise DerError(f"not {what}")
    s, e = inner(data, (s, e), 0x30)
    return fields(data, s, e, top)


def inner(data: bytes, span: tuple[int, int] | None, want: int) -> tuple[int, int]:
    if span is None:
        raise DerError("required member missing")
    tag, s, e = tlv(data, span[0], span[1])
    if tag != want or e != span[1]:
        raise DerError(f"expected tag {want:#x}")
    return s, e


INT32 = (-2**31, 2**31 - 1)
UINT32 = (0, 2**32 - 1)
SIGNED_OR_UNSIGNED = (-2**31, 2**32 - 1)  # nonce, seq-number: UInt32, but Heimdal sends Int32
MICROSECONDS = (0, 999999)


def nonminimal(data: bytes, s: int, e: int) -> bool:
    """True when the INTEGER content at [s, e) has a shorter DER form (X.690 §8.3.2).

    pyasn1 0.6 (so impacket) writes -2**(8k-1) with a needless leading 0xFF (-128 as
    FF 80); that one form is read as sent, since real impacket clients send it.
    """
    if e - s < 2:
        return False
    b0, b1 = data[s], data[s + 1]
    if b0 == 0:
        return b1 < 0x80
    if b0 == 0xFF and b1 >= 0x80:
        return not (b1 == 0x80 and not any(data[s + 2:e]))
    return False


def integer(data: bytes, span: tuple[int, int] | None, bounds: tuple[int, int] = INT32) -> int:
    """An INTEGER member within ``bounds`` (Int32 unless told: RFC 4120 §5.2.4)."""
    s, e = inner(data, span, 0x02)
    if e == s or e - s > 5:
        raise DerError("integer size")
    if nonminimal(data, s, e):
        raise DerError("non-minimal integer")
    value = int.from_bytes(data[s:e], "big", signed=True)
    if not bounds[0] <= value <= bounds[1]:
        raise DerError("integer out of range")
    return value


def bits32(data: bytes, s: int, e: int) -> int:
    """BIT STRING content at [s, e) as a 32-bit int, bit 0 the MSB; the unused bits of the
    last octet (X.690 §8.6.2) are not flags and read as clear, as pyasn1 reads them."""
    if e == s:
        raise DerError("bit string without its unused-bits octet")
    unused = data[s]
    if unused > 7 or (unused and e == s + 1):
        raise DerError("bit string unused-bits octet")
    raw = data[s + 1:e]
    if unused:
        raw = raw[:-1] + bytes((raw[-1] & (0xFF << unused) & 0xFF,))
    raw = raw[:4]
    return int.from_bytes(raw + bytes(4 - len(raw)), "big")


def principal(data: bytes, span: tuple[int, int] | None) -> tuple[list[str], int, bytes]:
    """PrincipalName (§5.2.2): (components, name-type, its exact DER)."""
    s, e = inner(data, span, 0x30)
    f = fields(data, s, e, 1)
    name_type = integer(data, f[0])
    ss, se = inner(data, f[1], 0x30)
    names = []
    off = ss
    while off < se:
        tag, vs, ve = tlv(data, off, se)
        if tag != 0x1B:
            raise DerError("name component is not a GeneralString")
        names.append(data[vs:ve].decode("utf-8"))
        off = ve
    assert span is not None
    return names, name_type, data[span[0]:span[1]]


class Request:
    """What the KDC knows of one AS-REQ/TGS-REQ (RFC 4120 §5.4.1).

    Filled by :func:`parse_kdc_req` (or a known layout); ``client`` of a TGS-REQ is set once the TGT is
    open.  ``data`` is the DER the offsets refer to (the wire bytes, or pyasn1's
    re-encoding of odd input); ``wire`` is what arrived (the body checksum covers it).
    """

    __slots__ = (
        "body",
        "client",
        "cname",
        "cname_at",
        "cname_der",
        "cname_type",
        "data",
        "etypes",
        "kdc_options",
        "msg",
        "nonce",
        "ok",
        "padata",
        "pvno",
        "realm",
        "rtime",
        "service",
        "sname_at",
        "sname_components",
        "sname_der",
        "sname_type",
        "till",
        "wire",
    )

    def __init__(self, msg: str = "?", client: str | None = None, service: str | None = None,
                 pvno: int = 5) -> None:
        self.msg = msg
        self.pvno = pvno
        self.data = b""
        self.wire = b""
        self.ok = False  # True when every field below was read
        self.realm: str | None = None
        self.client = client
        self.service = service
        self.cname: list[str] | None = None
        self.cname_type = NT_PRINCIPAL
        self.cname_der: bytes | None = None
        self.sname_components: list[str] = []
        self.sname_type = NT_SRV_INST
        self.sname_der: bytes | None = None
        self.etypes: list[int] = []
        self.nonce: int | None = None
        self.padata: list[tuple[int, int, int]] = []
        self.kdc_options = 0
        self.till: str | None = None
        self.rtime: str | None = None
        self.body = (0, 0)
        self.cname_at = (0, 0)  # where cname_der / sname_der sit in ``data``
        self.sname_at = (0, 0)

    @property
    def padata_types(self) -> list[int]:
        """padata-type of each PA-DATA, in order."""
        return [t for t, _, _ in self.padata]

    def pa_value(self, kind: int) -> bytes | None:
        """padata-value of the first PA-DATA of ``kind``."""
        for t, s, e in self.padata:
            if t == kind:
                return self.data[s:e]
        return None

    def option(self, bit: int) -> bool:
        """KDCOptions bit ``bit`` (RFC 4120 §5.4.1 numbering: 1 forwardable, 8 renewable, 30 renew)."""
        return bool(self.kdc_options & (0x80000000 >> bit))

    def __repr__(self) -> str:
        return f"Request({self.msg}, client={self.client!r}, service={self.service!r})"


def _names(data: bytes, off: int, end: int) -> tuple[list[str], int]:
    """PrincipalName content at [off, end): (components, name-type)."""
    # name-type [0] INTEGER (Int32)
    if data[off] != 0xA0 or data[off + 2] != 0x02:
        raise DerError("PrincipalName name-type")
    n = data[off + 3]
    if data[off + 1] != n + 2 or not 0 < n <= 5:
        raise DerError("PrincipalName name-type")
    vs = off + 4
    off = vs + n
    if nonminimal(data, vs, off):
        raise DerError("non-minimal integer")
    name_type = int.from_bytes(data[vs:off], "big", signed=True)
    if not INT32[0] <= name_type <= INT32[1]:
        raise DerError("name-type out of range")
    tag, s, e = tlv(data, off, end)
    if tag != 0xA1 or e != end:
        raise DerError("PrincipalName name-string")
    tag, s, e = tlv(data, s, e)
    if tag != 0x30 or e != end:
        raise DerError("PrincipalName name-string")
    names = []
    while s < e:
        n = data[s + 1]
        if data[s] != 0x1B:
            raise DerError("name component is not a GeneralString")
        if n < 0x80:
            vs = s + 2
            s = vs + n
            if s > e:
                raise DerError("value runs past its container")
        else:
            _, vs, s = tlv(data, s, e)
        names.append(data[vs:s].decode("utf-8"))
    return names, name_type


def _kdc_req_top(data: bytes) -> tuple[bool, int, tuple[int, int] | None, tuple[int, int] | None]:
    """KDC-REQ [APPLICATION 10/12] SEQUENCE: (is AS, pvno, padata span, req-body span)."""
    end = len(data)
    app, s, e = tlv(data, 0, end)
    if (app != 0x6A and app != 0x6C) or e != end:
        raise DerError("not a KDC-REQ")
    tag, s, e = tlv(data, s, e)
    if tag != 0x30 or e != end:
        raise DerError("KDC-REQ is not a SEQUENCE")
    is_as = app == 0x6A
    msg_type = 10 if is_as else 12
    # pvno [1] and msg-type [2]: small INTEGERs in every real request
    if data[s:s + 4] != b"\xa1\x03\x02\x01" or data[s + 5:s + 9] != b"\xa2\x03\x02\x01":
        top = fields(data, s, e, 4)
        pvno = integer(data, top[1])
        if integer(data, top[2]) != msg_type or top[0] is not None:
            raise DerError("msg-type does not match the application tag")
        return is_as, pvno, top[3], top[4]
    pvno = data[s + 4]
    if pvno >= 0x80 or data[s + 9] != msg_type:
        raise DerError("pvno/msg-type")
    off = s + 10
    pa_span = body_span = None
    while off < e:
        tag, vs, ve = tlv(data, off, e)
        if tag == 0xA3 and pa_span is None and body_span is None:
            pa_span = (vs, ve)
        elif tag == 0xA4 and body_span is None:
            body_span = (vs, ve)
        else:
            raise DerError(f"unexpected tag {tag:#x}")
        off = ve
    return is_as, pvno, pa_span, body_span


def _small_int(data: bytes, off: int, what: str) -> tuple[int, int]:
    """An explicitly tagged Int32 ``[n] INTEGER`` of 1-5 octets at ``off``: (value, end)."""
    n = data[off + 3]
    if data[off + 2] != 0x02 or data[off + 1] != n + 2 or not 0 < n <= 5:
        raise DerError(what)
    vs = off + 4
    value = int.from_bytes(data[vs:vs + n], "big", signed=True)
    if not INT32[0] <= value <= INT32[1]:
        raise DerError(f"{what} out of range")
    return value, vs + n


def _read_padata(data: bytes, span: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    """METHOD-DATA: (padata-type, value start, value end) of each PA-DATA (RFC 4120 §5.2.7)."""
    padata: list[tuple[int, int, int]] = []
    if span is None:
        return padata
    ps, pe = inner(data, span, 0x30)
    while ps < pe:
        tag, vs, ve = tlv(data, ps, pe)
        # PA-DATA ::= SEQUENCE { padata-type [1] Int32, padata-value [2] OCTET STRING }
        if tag != 0x30 or data[vs] != 0xA1:
            raise DerError("PA-DATA")
        kind, off = _small_int(data, vs, "PA-DATA type")
        tag, cs, ce = tlv(data, off, ve)
        if tag != 0xA2 or ce != ve:
            raise DerError("PA-DATA value")
        tag, cs, ce = tlv(data, cs, ce)
        if tag != 0x04 or ce != ve:
            raise DerError("PA-DATA value")
        padata.append((kind, cs, ce))
        ps = ve
    return padata


def _member(data: bytes, s: int, e: int) -> tuple[int, int, int, int, int]:
    """One ``[k] EXPLICIT`` member of KDC-REQ-BODY at ``s``: (k, inner tag, member start,
    content start, end).  Short-form TLVs are read inline (the hot path); long forms via
    :func:`tlv`."""
    tag = data[s]
    n = data[s + 1]
    if n < 0x80:
        vs = s + 2
        ve = vs + n
        if ve > e:
            raise DerError("value runs past its container")
    else:
        tag, vs, ve = tlv(data, s, e)
    inner = data[vs]
    n = data[vs + 1]
    if n < 0x80:
        cs = vs + 2
        if cs + n != ve:
            raise DerError("member length")
    else:
        inner, cs, ce = tlv(data, vs, ve)
        if ce != ve:
            raise DerError("member length")
    return tag - 0xA0, inner, vs, cs, ve


# -- KDC-REQ-BODY members (RFC 4120 §5.4.1), one reader each: (req, data, k, inner, vs, cs, ve)
def _kdc_options(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    if inner != 0x03:
        raise DerError("KDCOptions")
    req.kdc_options = bits32(data, cs, ve)


def _principal(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    if inner != 0x30:
        raise DerError("PrincipalName")
    names, name_type = _names(data, cs, ve)
    if k == 1:  # cname
        req.cname, req.cname_type, req.cname_der = names, name_type, data[vs:ve]
        req.cname_at = (vs, ve)
        if req.msg == "AS":
            req.client = "/".join(names)
    else:  # sname
        req.sname_components, req.sname_type, req.sname_der = names, name_type, data[vs:ve]
        req.sname_at = (vs, ve)
        req.service = "/".join(names)


def _realm(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    if inner != 0x1B:
        raise DerError("Realm")
    req.realm = data[cs:ve].decode("utf-8")


def _time(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    text = data[cs:ve].decode("ascii")
    if inner != 0x18 or len(text) != 15 or text[14] != "Z" or not text[:14].isdigit():
        raise DerError("KerberosTime form")
    if k == 5:
        req.till = text
    elif k == 6:
        req.rtime = text


def _nonce(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    n = ve - cs
    if inner != 0x02 or not 0 < n <= 5 or nonminimal(data, cs, ve):
        raise DerError("nonce")
    nonce = int.from_bytes(data[cs:ve], "big", signed=True)  # signed: Heimdal's krb5int32
    if not SIGNED_OR_UNSIGNED[0] <= nonce <= SIGNED_OR_UNSIGNED[1]:
        raise DerError("nonce out of range")
    req.nonce = nonce


def _etypes(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    if inner != 0x30:
        raise DerError("etype list")
    etypes = []
    while cs < ve:
        n = data[cs + 1]
        if data[cs] != 0x02 or not 0 < n <= 5:
            raise DerError("etype")
        cs += 2
        etype = int.from_bytes(data[cs:cs + n], "big", signed=True)
        if not INT32[0] <= etype <= INT32[1]:
            raise DerError("etype out of range")
        etypes.append(etype)
        cs += n
    if cs != ve:
        raise DerError("etype list")
    req.etypes = etypes


def _not_read(req: Request, data: bytes, k: int, inner: int, vs: int, cs: int, ve: int) -> None:
    """addresses [9], enc-authorization-data [10], additional-tickets [11]: not used."""


_BODY_READERS = (_kdc_options, _principal, _realm, _principal, _time, _time, _time, _nonce,
                 _etypes, _not_read, _not_read, _not_read)
#: realm [2], till [5], nonce [7] and etype [8] must be present
_REQUIRED = (1 << 2) | (1 << 5) | (1 << 7) | (1 << 8)


def _read_body(req: Request, data: bytes, span: tuple[int, int]) -> None:
    """KDC-REQ-BODY: each member by its reader, tags strictly ascending."""
    bs, be = span
    tag, s, e = tlv(data, bs, be)
    if tag != 0x30 or e != be:
        raise DerError("req-body is not a SEQUENCE")
    last = -1
    seen = 0
    while s < e:
        k, inner, vs, cs, ve = _member(data, s, e)
        if k <= last or k > 11:
            raise DerError(f"unexpected tag {k + 0xA0:#x}")
        last = k
        seen |= 1 << k
        _BODY_READERS[k](req, data, k, inner, vs, cs, ve)
        s = ve
    if seen & _REQUIRED != _REQUIRED:
        raise DerError("required req-body member missing")


def parse_kdc_req(data: bytes, wire: bytes | None = None) -> Request:
    """Walk an AS-REQ (0x6A) or TGS-REQ (0x6C) (RFC 4120 §5.4.1); raises :class:`DerError`
    (or IndexError, UnicodeDecodeError) on anything it does not take."""
    is_as, pvno, pa_span, body_span = _kdc_req_top(data)
    padata = _read_padata(data, pa_span)
    if body_span is None:
        raise DerError("no req-body")
    req = Request("AS" if is_as else "TGS")
    req.data = data
    req.wire = data if wire is None else wire
    req.pvno = pvno
    req.padata = padata
    req.body = body_span
    _read_body(req, data, body_span)
    req.ok = True
    return req

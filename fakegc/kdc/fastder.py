"""Hand-written DER for the KDC's hot paths (DESIGN.md §7): no pyasn1 on error replies.

* :func:`encode_krb_error` builds KRB-ERROR (RFC 4120 §5.9.1) byte-identical to
  pyasn1's encoding of impacket's ``KRB_ERROR`` (proven by a property test).
* :func:`walk_kdc_req` reads what the KDC needs from an AS-REQ/TGS-REQ (RFC 4120
  §5.4.1) — realm, cname, sname, nonce, etypes, padata types — with a strict DER
  walker; it returns None on anything unusual, and the caller then falls back to
  pyasn1, so odd input is judged by the reference codec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["encode_krb_error", "walk_kdc_req", "KdcReqSummary", "der", "der_int",
           "principal_name"]


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der(tag: int, value: bytes) -> bytes:
    """One TLV (single-byte tags only)."""
    return bytes([tag]) + _len(len(value)) + value


def der_int(n: int) -> bytes:
    """DER INTEGER (X.690 §8.3: minimal two's complement)."""
    if n == 0:
        return b"\x02\x01\x00"
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)
    return der(0x02, raw)


def _gstr(text: str) -> bytes:
    return der(0x1B, text.encode("utf-8"))  # GeneralString (KerberosString, Realm)


def principal_name(components: list[str], name_type: int) -> bytes:
    """PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }."""
    names = der(0x30, b"".join(_gstr(c) for c in components))
    return der(0x30, der(0xA0, der_int(name_type)) + der(0xA1, names))


def encode_krb_error(code: int, realm: str, sname: list[str], sname_type: int, stime: str,
                     e_text: str | None = None, e_data: bytes | None = None,
                     cname: list[str] | None = None, crealm: str | None = None,
                     cname_type: int = 1) -> bytes:
    """KRB-ERROR ::= [APPLICATION 30] SEQUENCE {...} with ``stime`` as "YYYYMMDDHHMMSSZ", susec 0."""
    parts = [der(0xA0, der_int(5)), der(0xA1, der_int(30)),
             der(0xA4, der(0x18, stime.encode())), der(0xA5, der_int(0)),
             der(0xA6, der_int(code))]
    if crealm and cname:
        parts.append(der(0xA7, _gstr(crealm)))
        parts.append(der(0xA8, principal_name(cname, cname_type)))
    parts.append(der(0xA9, _gstr(realm)))
    parts.append(der(0xAA, principal_name(sname, sname_type)))
    if e_text:
        parts.append(der(0xAB, _gstr(e_text)))
    if e_data is not None:
        parts.append(der(0xAC, der(0x04, e_data)))
    return der(0x7E, der(0x30, b"".join(parts)))


@dataclass(slots=True)
class KdcReqSummary:
    """What :func:`walk_kdc_req` found."""

    msg: str
    pvno: int
    realm: str
    nonce: int
    etypes: list[int]
    padata_types: list[int] = field(default_factory=list)
    cname: list[str] | None = None
    cname_type: int = 1
    sname: list[str] | None = None
    sname_type: int = 2


class _Bad(Exception):
    pass


def _tlv(data: bytes, off: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the TLV at ``off``; strict DER lengths."""
    if off + 2 > end:
        raise _Bad
    tag = data[off]
    first = data[off + 1]
    off += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 3 or off + n > end or data[off] == 0:
            raise _Bad
        length = int.from_bytes(data[off:off + n], "big")
        if length < 0x80:
            raise _Bad  # non-minimal: let pyasn1 judge it
        off += n
    if off + length > end:
        raise _Bad
    return tag, off, off + length


def _int(data: bytes, start: int, end: int) -> int:
    tag, s, e = _tlv(data, start, end)
    if tag != 0x02 or e == s or e != end or e - s > 5:
        raise _Bad
    return int.from_bytes(data[s:e], "big", signed=True)


def _string(data: bytes, start: int, end: int) -> str:
    tag, s, e = _tlv(data, start, end)
    if tag != 0x1B or e != end:
        raise _Bad
    return data[s:e].decode("utf-8")


def _principal(data: bytes, start: int, end: int) -> tuple[list[str], int]:
    tag, s, e = _tlv(data, start, end)
    if tag != 0x30 or e != end:
        raise _Bad
    t0, s0, e0 = _tlv(data, s, e)
    if t0 != 0xA0:
        raise _Bad
    name_type = _int(data, s0, e0)
    t1, s1, e1 = _tlv(data, e0, e)
    if t1 != 0xA1 or e1 != e:
        raise _Bad
    ts, ss, es = _tlv(data, s1, e1)
    if ts != 0x30 or es != e1:
        raise _Bad
    names = []
    off = ss
    while off < es:
        tg, vs, ve = _tlv(data, off, es)
        if tg != 0x1B:
            raise _Bad
        names.append(data[vs:ve].decode("utf-8"))
        off = ve
    return names, name_type


def walk_kdc_req(data: bytes) -> KdcReqSummary | None:
    """Summarise an AS-REQ (0x6A) or TGS-REQ (0x6C); None when anything is unusual."""
    try:
        return _walk(data)
    except (_Bad, IndexError, UnicodeDecodeError, ValueError):
        return None


def _walk(data: bytes) -> KdcReqSummary:
    end = len(data)
    app, s, e = _tlv(data, 0, end)
    if app not in (0x6A, 0x6C) or e != end:
        raise _Bad
    tag, s, e = _tlv(data, s, e)
    if tag != 0x30 or e != end:
        raise _Bad
    off = s
    fields: dict[int, tuple[int, int]] = {}
    last = -1
    while off < e:
        tag, vs, ve = _tlv(data, off, e)
        n = tag - 0xA0
        if not 1 <= n <= 4 or n <= last:
            raise _Bad
        last = n
        fields[n] = (vs, ve)
        off = ve
    if 1 not in fields or 2 not in fields or 4 not in fields:
        raise _Bad
    pvno = _int(data, *fields[1])
    msg_type = _int(data, *fields[2])
    if msg_type != (10 if app == 0x6A else 12):
        raise _Bad
    padata_types: list[int] = []
    if 3 in fields:
        ps, pe = fields[3]
        tag, s2, e2 = _tlv(data, ps, pe)
        if tag != 0x30 or e2 != pe:
            raise _Bad
        off = s2
        while off < e2:
            tag, vs, ve = _tlv(data, off, e2)
            if tag != 0x30:
                raise _Bad
            t1, s1, e1 = _tlv(data, vs, ve)
            t2, s3, e3 = _tlv(data, e1, ve)
            if t1 != 0xA1 or t2 != 0xA2 or e3 != ve:
                raise _Bad
            tv, _, ev = _tlv(data, s3, e3)
            if tv != 0x04 or ev != e3:
                raise _Bad
            padata_types.append(_int(data, s1, e1))
            off = ve
    bs, be = fields[4]
    tag, s, e = _tlv(data, bs, be)
    if tag != 0x30 or e != be:
        raise _Bad
    body: dict[int, tuple[int, int]] = {}
    off = s
    last = -1
    while off < e:
        tag, vs, ve = _tlv(data, off, e)
        n = tag - 0xA0
        if not 0 <= n <= 11 or n <= last:
            raise _Bad
        last = n
        body[n] = (vs, ve)
        off = ve
    for required in (0, 2, 5, 7, 8):
        if required not in body:
            raise _Bad
    tag, _, ke = _tlv(data, *body[0])
    if tag != 0x03 or ke != body[0][1]:
        raise _Bad
    realm = _string(data, *body[2])
    nonce = _int(data, *body[7])
    if nonce < 0:
        raise _Bad
    tag, s8, e8 = _tlv(data, *body[8])
    if tag != 0x30 or e8 != body[8][1]:
        raise _Bad
    etypes = []
    off = s8
    while off < e8:
        tag, vs, ve = _tlv(data, off, e8)
        if tag != 0x02 or ve == vs or ve - vs > 5:
            raise _Bad
        etypes.append(int.from_bytes(data[vs:ve], "big", signed=True))
        off = ve
    summary = KdcReqSummary("AS" if app == 0x6A else "TGS", pvno, realm, nonce, etypes, padata_types)
    if 1 in body:
        summary.cname, summary.cname_type = _principal(data, *body[1])
    if 3 in body:
        summary.sname, summary.sname_type = _principal(data, *body[3])
    return summary

"""General DER (X.690) helpers shared by the KDC and the GSS/SPNEGO acceptors.

Two readers: :func:`tlv` is strict (definite, minimal lengths of at most 3 octets, as
the KDC's hot-path reader takes them, PROTOCOL.md §7) and :func:`read_tlv` /
:func:`length_at` are lenient (any definite length of 1-4 octets, as pyasn1 accepts),
for bytes a reference codec has already accepted or for tokens from other peers.
Every read is bounded by its container and raises :class:`DerError` past it.
Writers: :func:`der_len`, :func:`der` (one TLV) and :func:`der_int`, byte-identical to
pyasn1's DER (tests/unit/test_kdc_fastrep.py).
"""

from __future__ import annotations

__all__ = ["DerError", "der", "der_int", "der_len", "length_at", "read_tlv", "tlv"]


class DerError(ValueError):
    """The bytes are not the DER the reader takes (truncated, or a length form refused)."""


def tlv(data: bytes, off: int, end: int) -> tuple[int, int, int]:
    """Strict: (tag, value start, value end) of the TLV at ``off``, which must end by ``end``."""
    tag = data[off]
    n = data[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 1:
            n = data[off]
            if n < 0x80:
                raise DerError("non-minimal length")
        elif k == 2:
            n = (data[off] << 8) | data[off + 1]
            if n < 0x100:
                raise DerError("non-minimal length")
        elif k == 3:
            n = (data[off] << 16) | (data[off + 1] << 8) | data[off + 2]
            if n < 0x10000:
                raise DerError("non-minimal length")
        else:
            raise DerError("length form not taken")
        off += k
    e = off + n
    if e > end:
        raise DerError("value runs past its container")
    return tag, off, e


def length_at(data: bytes, off: int) -> tuple[int, int]:
    """Lenient: (content length, octets the length takes) for the length octets at ``off``."""
    if off >= len(data):
        raise DerError("truncated DER length")
    first = data[off]
    if first < 0x80:
        return first, 1
    n = first & 0x7F
    if n == 0 or n > 4 or off + 1 + n > len(data):
        raise DerError("bad DER length")
    return int.from_bytes(data[off + 1:off + 1 + n], "big"), 1 + n


def read_tlv(data: bytes, off: int = 0) -> tuple[int, bytes, int]:
    """Lenient: (tag, value, next offset) of the TLV at ``off``, bounded by ``data``."""
    if off + 2 > len(data):
        raise DerError("truncated DER")
    length, hl = length_at(data, off + 1)
    start = off + 1 + hl
    if start + length > len(data):
        raise DerError("DER value runs past the data")
    return data[off], data[start:start + length], start + length


def der_len(n: int) -> bytes:
    """The DER length octets of ``n`` (X.690 8.1.3: the short form below 128)."""
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der(tag: int, value: bytes) -> bytes:
    """One TLV (single-byte tags only)."""
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    if n < 0x100:
        return bytes((tag, 0x81, n)) + value
    if n < 0x10000:
        return bytes((tag, 0x82, n >> 8, n & 0xFF)) + value
    return bytes((tag,)) + der_len(n) + value


def der_int(n: int) -> bytes:
    """DER INTEGER (X.690 8.3: minimal two's complement)."""
    if n == 0:
        return b"\x02\x01\x00"
    # minimal two's complement (pyasn1 0.6 writes -2**(8k-1) one octet longer)
    raw = n.to_bytes(((n if n >= 0 else ~n).bit_length() + 8) // 8, "big", signed=True)
    return der(0x02, raw)

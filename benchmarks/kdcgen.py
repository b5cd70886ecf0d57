"""Cheap distinct Kerberos requests for the KDC benchmarks, made lazily.

Building a TGS-REQ through impacket/pyasn1 costs ~1.4 ms, so 20 000 of them took longer than
the benchmark itself.  Here one request of each kind is built the ordinary way (impacket's
classes, pyasn1's DER) and then copied with only the varying leaves rewritten at fixed
offsets, keeping every length: the nonce of an AS-REQ (a 4-byte INTEGER), the client name of
an unknown-client AS-REQ (a fixed-width name), the cusec of a TGS-REQ's authenticator (a
3-byte INTEGER, re-encrypted with the session key).  Every request is distinct, so a
lookaside cache (MIT's) cannot answer from memory and the KDC's replay cache sees a fresh
authenticator each time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

NONCE0 = 0x40000000  # a 4-byte DER INTEGER for every nonce NONCE0 + i, i < 2**30
CUSEC0 = 0x10000  # a 3-byte DER INTEGER for every cusec CUSEC0 + i, i < 0x700000
_counter = [0]  # cusecs run on across calls, so two loads in one second never repeat one


def _patch_int(blob: bytes, value: int, width: int, start: int) -> bytes:
    field = b"\x02" + bytes([width]) + value.to_bytes(width, "big")
    return blob[:start] + field + blob[start + len(field):]


def as_reqs(user: str, realm: str, key: Any = None, *, distinct_names: bool = False,
            limit: int | None = None) -> Iterator[bytes]:
    """AS-REQs for ``user`` (with PA-ENC-TIMESTAMP when ``key``), each with its own nonce; with
    ``distinct_names`` the client is ``user`` + an 8-digit number (an unknown client each time)."""
    from fakegc.kdc.requests import as_req

    name = f"{user}00000000" if distinct_names else user
    template = as_req(name, realm, key, nonce=NONCE0)
    at = template.find(b"\x02\x04" + NONCE0.to_bytes(4, "big"))
    name_at = template.find(name.encode()) if distinct_names else -1
    i = 0
    while limit is None or i < limit:
        blob = _patch_int(template, NONCE0 + (i & 0x3FFFFFFF), 4, at)
        if distinct_names:
            digits = f"{i % 100_000_000:08d}".encode()
            pos = name_at + len(user)
            blob = blob[:pos] + digits + blob[pos + 8:]
        yield blob
        i += 1


def tgs_reqs(tgt_reply: bytes, key: Any, user: str, realm: str, spn: str, *,
             checksum: bool = False, limit: int | None = None) -> Iterator[bytes]:
    """TGS-REQs with the TGT in ``tgt_reply`` (an AS-REP opened with ``key``), each with a fresh
    authenticator (cusec counts up across calls; ctime is the time of making, re-read every
    100 000)."""
    from impacket.krb5.asn1 import AP_REQ, TGS_REQ
    from pyasn1.codec.der import decoder

    from fakegc import crypto as kcrypto
    from fakegc.kdc.requests import open_as_rep, tgs_req

    rep, _enc, session = open_as_rep(tgt_reply, key)
    i = 0
    while limit is None or i < limit:
        template = tgs_req(rep, session, user, realm, spn, body_checksum=checksum, nonce=NONCE0,
                           cusec=CUSEC0, ctime=dt.datetime.now(dt.UTC))
        req = decoder.decode(template, asn1Spec=TGS_REQ())[0]
        ap = decoder.decode(bytes(req["padata"][0]["padata-value"]), asn1Spec=AP_REQ())[0]
        cipher = bytes(ap["authenticator"]["cipher"])
        cipher_at = template.find(cipher)
        plain = kcrypto.decrypt(session, 7, cipher)
        cusec_at = plain.find(b"\x02\x03" + CUSEC0.to_bytes(3, "big"))
        for _ in range(100_000):
            if limit is not None and i >= limit:
                return
            j = _counter[0] = (_counter[0] + 1) % 0x700000
            fresh = kcrypto.encrypt(session, 7, _patch_int(plain, CUSEC0 + j, 3, cusec_at))
            yield template[:cipher_at] + fresh + template[cipher_at + len(cipher):]
            i += 1

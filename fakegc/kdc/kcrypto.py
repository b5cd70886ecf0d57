"""RFC 3961 encrypt/decrypt with cached key derivation (a thin wrapper over impacket.krb5.crypto).

impacket derives Ke and Ki (RFC 3961 §5.3, n-fold + AES) on every call; long-term
keys (krbtgt, services, users) are used with the same few usages over and over, so
the derived keys are cached per (etype, key, usage).  Output is identical to
``_enctype_table[etype].encrypt/decrypt`` (tested); rc4-hmac has no derivation and
goes straight to impacket.
"""

from __future__ import annotations

import hmac as hmaclib
import os
import struct
from typing import Any

from Cryptodome.Hash import HMAC
from impacket.krb5.crypto import Key, _enctype_table

__all__ = ["encrypt", "decrypt"]

_CACHE: dict[tuple[int, bytes, int], tuple[Any, Any]] = {}
_MAX = 4096


def _derived(profile: Any, key: Key, usage: int) -> tuple[Any, Any]:
    ck = (key.enctype, key.contents, usage)
    hit = _CACHE.get(ck)
    if hit is None:
        hit = (profile.derive(key, struct.pack(">IB", usage, 0xAA)),
               profile.derive(key, struct.pack(">IB", usage, 0x55)))
        if len(_CACHE) >= _MAX:
            _CACHE.clear()
        _CACHE[ck] = hit
    return hit


def encrypt(key: Key, usage: int, plaintext: bytes, confounder: bytes | None = None) -> bytes:
    """RFC 3961 §5.3 encryption (simplified profile) or RFC 4757 for rc4-hmac."""
    profile = _enctype_table[key.enctype]
    if key.enctype not in (17, 18):
        return bytes(profile.encrypt(key, usage, plaintext, confounder))
    ke, ki = _derived(profile, key, usage)
    basic = (confounder if confounder is not None else os.urandom(profile.blocksize)) + plaintext
    mac = HMAC.new(ki.contents, basic, profile.hashmod).digest()[:profile.macsize]
    return bytes(profile.basic_encrypt(ke, basic)) + mac


def decrypt(key: Key, usage: int, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt`; raises ValueError on a bad checksum (wrong key, tampering)."""
    profile = _enctype_table[key.enctype]
    if key.enctype not in (17, 18):
        return bytes(profile.decrypt(key, usage, ciphertext))
    if len(ciphertext) < profile.blocksize + profile.macsize:
        raise ValueError("ciphertext too short")
    ke, ki = _derived(profile, key, usage)
    basic = profile.basic_decrypt(ke, bytes(ciphertext[:-profile.macsize]))
    mac = HMAC.new(ki.contents, basic, profile.hashmod).digest()[:profile.macsize]
    if not hmaclib.compare_digest(mac, bytes(ciphertext[-profile.macsize:])):
        raise ValueError("ciphertext integrity failure")
    return bytes(basic[profile.blocksize:])

"""The crypto floor under the RPC engine and the KDC (docs/ARCHITECTURE.md, layer 3).

Keys: RFC 3962 AES string-to-key (PBKDF2 on ``hashlib``, PROTOCOL.md §6.10), RFC 4757
rc4-hmac = the NT hash (MS-NLMP 3.3.1), HMAC-MD5.  Ciphers: RFC 3961/3962 encrypt/decrypt
for the hot paths, with cached key derivation and long-lived OpenSSL cipher contexts.

impacket derives Ke and Ki (RFC 3961 §5.3, n-fold + AES) on every call and runs
AES through a fresh Cryptodome object per message; long-term keys (krbtgt,
services, users) are used with the same few usages over and over, so the derived
keys are cached per (etype, key, usage) and AES-CTS (RFC 3962 §5: CBC with the
last two blocks swapped, zero IV) runs on ``cryptography``'s OpenSSL ciphers with
``hmac.digest`` for the HMAC-SHA1-96.  Output is byte-identical to impacket's
``_enctype_table[etype].encrypt/decrypt`` (property-tested in
tests/unit/test_kdc_fastder.py); rc4-hmac has no derivation and goes straight
to impacket.
"""

from __future__ import annotations

import hashlib
import hmac as hmaclib
import os
import struct
import threading

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from impacket import ntlm
from impacket.krb5.crypto import Key, _checksum_table, _enctype_table

__all__ = [
    "AES128",
    "AES256",
    "RC4",
    "Hmac",
    "arc4",
    "checksum",
    "checksum_key",
    "cts_decrypt",
    "cts_encrypt",
    "cts_encrypt_parts",
    "decrypt",
    "derived_keys",
    "encrypt",
    "hmac_md5",
    "nt_hash",
    "random_bytes",
    "rc4",
    "rc4_checksum",
    "rc4_kcrypt",
    "rc4_kseq",
    "string_to_key",
    "verify_checksum",
]

AES256 = 18
AES128 = 17
RC4 = 23

_CACHE: dict[tuple[int, bytes, int, int], bytes] = {}
_MAX = 4096
_ZERO_IV = modes.CBC(bytes(16))
_ECB = modes.ECB()
_MACSIZE = 12


class _Contexts:
    """Long-lived OpenSSL contexts for one AES key: CBC encrypt, CBC decrypt, ECB decrypt.

    A CBC context carries its chaining block from one ``update`` to the next; instead of a
    new context (and IV) per message, the carried block ``X`` is cancelled on the first
    block: encrypt feeds P1 XOR X, decrypt XORs X back out of its first output block.
    The result is CBC with a zero IV, as RFC 3962 asks, without per-message set-up.
    """

    __slots__ = ("dec", "dec_x", "ecb", "enc", "enc_x")

    def __init__(self, key: bytes) -> None:
        aes = algorithms.AES(key)
        self.enc = Cipher(aes, _ZERO_IV).encryptor()
        self.enc_x = 0
        self.dec = Cipher(aes, _ZERO_IV).decryptor()
        self.dec_x = 0
        self.ecb = Cipher(aes, _ECB).decryptor()

    def cbc_encrypt(self, padded: bytes) -> bytes:
        x = self.enc_x
        if x:
            first = (int.from_bytes(padded[:16], "big") ^ x).to_bytes(16, "big")
            padded = first + padded[16:]
        out = self.enc.update(padded)
        self.enc_x = int.from_bytes(out[-16:], "big")
        return out

    def cbc_decrypt(self, blocks: bytes) -> bytes:
        x = self.dec_x
        out = self.dec.update(blocks)
        self.dec_x = int.from_bytes(blocks[-16:], "big")
        if x:
            out = (int.from_bytes(out[:16], "big") ^ x).to_bytes(16, "big") + out[16:]
        return out


_LOCAL = threading.local()
_POOL_SIZE = 1 << 16


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the OS CSPRNG, drawn 64 KiB at a time (one syscall for thousands of
    confounders and session keys instead of one each)."""
    pool: bytes | None = getattr(_LOCAL, "pool", None)
    at: int = getattr(_LOCAL, "at", 0)
    if pool is None or at + n > len(pool):
        pool = _LOCAL.pool = os.urandom(max(_POOL_SIZE, n))
        at = 0
    _LOCAL.at = at + n
    return pool[at:at + n]


def _contexts(key: bytes) -> _Contexts:
    cache: dict[bytes, _Contexts] | None = getattr(_LOCAL, "contexts", None)
    if cache is None:
        cache = _LOCAL.contexts = {}
    hit = cache.get(key)
    if hit is None:
        if len(cache) >= _MAX:
            cache.clear()
        hit = cache[key] = _Contexts(key)
    return hit


def cts_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """AES-CTS encryption of RFC 3962 §5 (zero IV; ``plaintext`` at least one block)."""
    n = len(plaintext)
    if n < 16:
        raise ValueError("AES-CTS needs at least 16 bytes")
    lastlen = n % 16 or 16
    padded = plaintext + bytes(16 - lastlen) if lastlen != 16 else plaintext
    c = _contexts(key).cbc_encrypt(padded)
    if n == 16:
        return c
    return c[:-32] + c[-16:] + c[-32:-32 + lastlen]


def cts_encrypt_parts(key: bytes, first: bytes, middle: bytes | memoryview, last: bytes,
                      out: memoryview) -> tuple[bytes, bytes]:
    """AES-CTS (RFC 3962 §5) of ``first + middle + last``, each a whole number of blocks,
    ``first`` one block and ``last`` two, without joining them: the middle's ciphertext is
    written to ``out`` (at least ``len(middle) + 15`` bytes: OpenSSL's room rule; only
    ``len(middle)`` are written) and (first's, last's) returned, ``last``'s two blocks
    already swapped as CTS swaps the final two.  The same bytes as :func:`cts_encrypt`.
    """
    ctx = _contexts(key)
    x = ctx.enc_x
    if x:
        first = (int.from_bytes(first, "big") ^ x).to_bytes(16, "big")
    enc = ctx.enc
    c_first = enc.update(first)
    if middle:
        enc.update_into(middle, out)
    c_last = enc.update(last)
    ctx.enc_x = int.from_bytes(c_last[16:], "big")
    return c_first, c_last[16:] + c_last[:16]


def cts_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`cts_encrypt`."""
    n = len(ciphertext)
    if n < 16:
        raise ValueError("AES-CTS needs at least 16 bytes")
    ctx = _contexts(key)
    if n == 16:
        return ctx.ecb.update(ciphertext)
    lastlen = n % 16 or 16
    cut = n - lastlen
    last_full = ciphertext[cut - 16:cut]          # CBC's final block C(m)
    partial = ciphertext[cut:]                    # the first lastlen bytes of C(m-1)
    dx = ctx.ecb.update(last_full)
    prev = partial + dx[lastlen:]                 # C(m-1) restored
    blocks = ciphertext[:cut - 16] + prev + last_full
    return ctx.cbc_decrypt(blocks)[:n]


def _derive(key: Key, usage: int, const: int) -> bytes:
    """DK(key, usage | const) of RFC 3961 §5.3 (0xAA: Ke, 0x55: Ki, 0x99: Kc), derived once."""
    ck = (key.enctype, key.contents, usage, const)
    hit = _CACHE.get(ck)
    if hit is None:
        if len(_CACHE) >= _MAX:
            _CACHE.clear()
        hit = _CACHE[ck] = _enctype_table[key.enctype].derive(key, struct.pack(">IB", usage, const)).contents
    return hit


def _derived(key: Key, usage: int) -> tuple[bytes, bytes]:
    return _derive(key, usage, 0xAA), _derive(key, usage, 0x55)


def derived_keys(key: Key, usage: int) -> tuple[bytes, bytes]:
    """(Ke, Ki) of an AES key for ``usage`` (RFC 3961 §5.3), derived once and cached."""
    return _derived(key, usage)


def encrypt(key: Key, usage: int, plaintext: bytes, confounder: bytes | None = None) -> bytes:
    """RFC 3961 §5.3 encryption (simplified profile) or RFC 4757 for rc4-hmac."""
    if key.enctype not in (17, 18):
        return bytes(_enctype_table[key.enctype].encrypt(key, usage, plaintext, confounder))
    ke, ki = _derived(key, usage)
    basic = (confounder if confounder is not None else random_bytes(16)) + plaintext
    mac = hmaclib.digest(ki, basic, "sha1")[:_MACSIZE]
    return cts_encrypt(ke, basic) + mac


def decrypt(key: Key, usage: int, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt`; raises ValueError on a bad checksum (wrong key, tampering)."""
    if key.enctype not in (17, 18):
        return bytes(_enctype_table[key.enctype].decrypt(key, usage, ciphertext))
    if len(ciphertext) < 16 + _MACSIZE:
        raise ValueError("ciphertext too short")
    ke, ki = _derived(key, usage)
    basic = cts_decrypt(ke, bytes(ciphertext[:-_MACSIZE]))
    mac = hmaclib.digest(ki, basic, "sha1")[:_MACSIZE]
    if not hmaclib.compare_digest(mac, bytes(ciphertext[-_MACSIZE:])):
        raise ValueError("ciphertext integrity failure")
    return basic[16:]


_CKSUM_ETYPE = {15: 17, 16: 18}  # hmac-sha1-96-aes128 / -aes256 (RFC 3962 §7)


def checksum_key(key: Key, usage: int) -> bytes:
    """Kc = DK(key, usage | 0x99) of an AES key (RFC 3961 §5.3), derived once and cached: the
    key of its hmac-sha1-96-aes checksum (RFC 3962 §7)."""
    return _derive(key, usage, 0x99)


def checksum(key: Key, usage: int, data: bytes, cksumtype: int) -> bytes:
    """RFC 3961 keyed checksum; hmac-sha1-96-aes with Kc (usage | 0x99) derived once per key.

    Byte-identical to impacket's ``_checksum_table[cksumtype].checksum`` (tested), which
    derives Kc on every call (~90 us); other types go to impacket.
    """
    etype = _CKSUM_ETYPE.get(cksumtype)
    if etype is None or key.enctype != etype:
        return bytes(_checksum_table[cksumtype].checksum(key, usage, data))
    return hmaclib.digest(_derive(key, usage, 0x99), data, "sha1")[:_MACSIZE]


def verify_checksum(key: Key, usage: int, data: bytes, cksumtype: int, expected: bytes) -> bool:
    """True when ``expected`` is the checksum of ``data`` (constant-time comparison)."""
    return hmaclib.compare_digest(checksum(key, usage, data, cksumtype), expected)


# -- long-term keys ------------------------------------------------------------------------
def nt_hash(password: str) -> bytes:
    """NTOWFv1: MD4 of the UTF-16LE password (MS-NLMP 3.3.1); also the rc4-hmac key (RFC 4757)."""
    return bytes(ntlm.compute_nthash(password))


def hmac_md5(key: bytes, data: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104), NTLMv2's one-way function (MS-NLMP 3.3.2): one-shot on OpenSSL,
    no Python hmac object per PDU."""
    return hmaclib.digest(key, data, "md5")


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class Hmac:
    """HMAC (RFC 2104 §2) with MD5 or SHA-1 under one fixed key, for a key that signs every
    PDU of a connection (NTLM's SigningKey, MS-NLMP 3.4.4.2; a Kerberos Ki, RFC 3961 §5.3).

    The hash states after the key XOR ipad / opad block are computed once; each MAC copies
    them (``EVP_MD_CTX_copy``) and feeds its parts one ``update`` each, so no message is
    joined first and no key is set up per PDU.  ``hmac.digest`` sets the key up on every call
    (~0.8 us of a 6 us HMAC-MD5 over a 4 KiB fragment here: benchmarks/bench_protect.py).
    Byte-identical to ``hmac.digest(key, b"".join(parts), name)`` (tests/unit/test_crypto.py).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, name: str = "md5") -> None:
        new = hashlib.md5 if name == "md5" else hashlib.sha1  # both: 64-byte blocks
        if len(key) > 64:  # RFC 2104 §2: a key longer than the block is hashed first
            key = new(key).digest()
        key = key.ljust(64, b"\x00")
        self._inner = new(key.translate(_IPAD))
        self._outer = new(key.translate(_OPAD))

    def digest(self, *parts: bytes | bytearray | memoryview) -> bytes:
        """The MAC (16 bytes for MD5, 20 for SHA-1) of the concatenation of ``parts``."""
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def rc4(key: bytes) -> CipherContext:
    """An RC4 keystream on OpenSSL (RFC 4757; NTLM sealing, MS-NLMP 3.4.4.2): one context per
    direction, reused for every PDU (the seal handle carries on across messages)."""
    return Cipher(ARC4(key), mode=None).encryptor()


# -- RFC 4757 per-message keys and checksum (GSS rc4-hmac wrap / MIC, MS-KILE) --------------
def _rc4_bases(key: bytes) -> tuple[bytes, bytes, bytes]:
    """The per-key HMAC-MD5 outputs of RFC 4757 §7.3, computed once per session key: Ksign =
    HMAC(key, "signaturekey\\0"), HMAC(key, 0) (under Kseq) and HMAC(key XOR F0, 0) (under
    Kcrypt)."""
    hit = _RC4_BASES.get(key)
    if hit is None:
        if len(_RC4_BASES) >= 4096:
            _RC4_BASES.clear()
        zero = b"\0\0\0\0"
        hit = _RC4_BASES[key] = (hmaclib.digest(key, b"signaturekey\0", "md5"),
                                 hmaclib.digest(key, zero, "md5"),
                                 hmaclib.digest(key.translate(_XOR_F0), zero, "md5"))
    return hit


_RC4_BASES: dict[bytes, tuple[bytes, bytes, bytes]] = {}
_XOR_F0 = bytes(b ^ 0xF0 for b in range(256))


def rc4_checksum(key: bytes, usage: int, data: bytes) -> bytes:
    """RFC 4757 SGN_CKSUM: HMAC-MD5 under Ksign of MD5(usage || data), first 8 bytes.

    On ``hmac.digest`` / ``hashlib`` (OpenSSL) with the per-key parts cached: Cryptodome's
    HMAC objects cost ~70 us a 4 KiB fragment in cffi calls; the same bytes
    (tests/unit/test_crypto.py checks them against Cryptodome's HMAC).
    """
    inner = hashlib.md5(struct.pack("<L", usage))
    inner.update(data)
    return hmaclib.digest(_rc4_bases(key)[0], inner.digest(), "md5")[:8]


def rc4_kseq(key: bytes, cksum: bytes) -> bytes:
    """RFC 4757 key for SND_SEQ: HMAC-MD5(HMAC-MD5(key, 0), SGN_CKSUM)."""
    return hmaclib.digest(_rc4_bases(key)[1], cksum, "md5")


def rc4_kcrypt(key: bytes, seq4: bytes) -> bytes:
    """RFC 4757 key for the confounder and data: from key XOR F0 and the sequence number."""
    return hmaclib.digest(_rc4_bases(key)[2], seq4, "md5")


def arc4(key: bytes, data: bytes) -> bytes:
    """RC4 under a per-message key (RFC 4757 §7.3), on OpenSSL through ``cryptography``."""
    return rc4(key).update(data)


def string_to_key(etype: int, password: str, salt: bytes) -> Key:
    """The long-term key of ``etype`` for ``password``: RFC 3962 §4 for AES (PBKDF2-HMAC-SHA1,
    4096 iterations, then DK(random-to-key(seed), "kerberos")), RFC 4757 for rc4-hmac.

    PBKDF2 runs on ``hashlib`` (PROTOCOL.md §6.10); the result equals impacket's
    ``string_to_key`` for the same etype, password and salt.
    """
    if etype == RC4:
        return Key(RC4, nt_hash(password))
    profile = _enctype_table[etype]
    seed = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt, 4096, profile.seedsize)
    key: Key = profile.derive(profile.random_to_key(seed), b"kerberos")
    return key

"""Server-side protection of one sealed answer, in process: this tree against a git ref (#19.6).

    .venv/bin/python benchmarks/bench_protect.py [--base main] [-s 26516] [-x 4280] [-r 7]

``protect_response`` (fakegc/rpc/auth/legs.py) on a ``-s``-byte stub at max_xmit ``-x``
(impacket's max_xmit_frag 4280 by default: 7 fragments for NspiQueryRows 50x8), for NTLM
and Kerberos AES256 (RFC 4121) at PKT_PRIVACY and PKT_INTEGRITY, Kerberos rc4-hmac (RFC
4757) at PKT_PRIVACY, and the request side (verify + unseal of a 112-byte sealed request).
The ``--base`` ref's legs / ntlm / kerberos modules are loaded from git beside the working
tree's (A), and both run in A-B-B-A rounds; median [range] of this thread's CPU
microseconds per answer.

The floor printed beside each is the OpenSSL work the specs require, timed in the same
process: NTLM (MS-NLMP 3.4.4.2) one HMAC-MD5 per fragment over seq + header + body +
trailer, RC4 over the body and the checksum; ``hmac.digest`` sets up its key per call, the
"MD5 states" floor copies precomputed ipad/opad states instead.  Kerberos (RFC 3961 §5.3):
HMAC-SHA1 and AES-CBC over confounder + body + filler + token header.
"""

from __future__ import annotations

import argparse
import hmac
import os
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from impacket import ntlm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FLAGS = (ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH
          | ntlm.NTLMSSP_NEGOTIATE_128 | ntlm.NTLMSSP_NEGOTIATE_SIGN | ntlm.NTLMSSP_NEGOTIATE_SEAL)
_HEADER = bytes(24)
_TRAILER = b"\x0a\x06\x00\x00\x00\x00\x00\x00"  # sec_trailer: NTLM, privacy, no pad


def _load(ref: str, path: str, name: str) -> types.ModuleType:
    """``path`` as of git ``ref`` as a module (imports resolve against this tree)."""
    source = subprocess.run(["git", "-C", ROOT, "show", f"{ref}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    mod = types.ModuleType(name)
    mod.__file__ = f"{ref}:{path}"
    sys.modules[name] = mod
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)  # noqa: S102 - our own history
    return mod


def _ntlm(mod: Any, key: bytes) -> Any:
    ctx = mod.NtlmContext(mod.NtlmProvider(None))
    ctx.flags, ctx.session_key = _FLAGS, key
    ctx._derive()
    ctx.complete = True
    return ctx


def _kerberos(mod: Any, key: bytes, etype: int = 18) -> Any:
    from impacket.krb5.crypto import Key

    from fakegc.rpc.auth.simple import SimpleCredentials

    ctx = mod.KerberosContext(mod.KerberosProvider(SimpleCredentials(), []))
    ctx.key = Key(etype, key if etype == 18 else key[:16])
    ctx.complete = True
    return ctx


def _requests(key: bytes, n: int) -> list[tuple[bytes, bytes]]:
    """``n`` sealed 112-byte request bodies + signatures as impacket's client seals them
    (``ntlm.SEAL``, MS-NLMP 3.4.4.2), sequence 0 to n-1."""
    from Cryptodome.Cipher import ARC4

    sign = ntlm.SIGNKEY(_FLAGS, key, "Client")
    handle = ARC4.new(ntlm.SEALKEY(_FLAGS, key, "Client")).encrypt
    out = []
    for seq in range(n):
        body = os.urandom(112)
        sealed, sig = ntlm.SEAL(_FLAGS, sign, None, _HEADER + body + _TRAILER, body, seq, handle)
        out.append((sealed, sig.getData()))
    return out


def _time(fn: Callable[[], object], n: int) -> float:
    """CPU microseconds of this thread per call: time preempted by other load is not counted."""
    t0 = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - t0) / n * 1e6


def _floors(size: int, max_xmit: int, n: int) -> dict[str, float]:
    from fakegc.crypto import Hmac, cts_encrypt, rc4

    key = os.urandom(16)
    seal = rc4(key)
    mac = Hmac(key)
    room = max_xmit - 24 - 8 - 16
    room -= room % 16
    frags = [os.urandom(24 + min(room, size - off) + 8) for off in range(0, size, room)] or [b""]

    def digest() -> None:
        for f in frags:
            hmac.digest(key, f, "md5")
            seal.update(f[24:-8])
            seal.update(f[:8])

    def states() -> None:
        for f in frags:
            mac.digest(f)
            seal.update(f[24:-8])
            seal.update(f[:8])

    kroom = max_xmit - 24 - 8 - 76
    kroom -= kroom % 16
    kfrags = [os.urandom(16 + min(kroom, size - off) + 32) for off in range(0, size, kroom)]
    ki, ke = os.urandom(32), os.urandom(32)

    def kerberos() -> None:
        for f in kfrags:
            hmac.digest(ki, f, "sha1")
            cts_encrypt(ke, f)

    return {"ntlm": _time(digest, n), "ntlm states": _time(states, n), "kerberos": _time(kerberos, n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="main", help="git ref to compare against (default main)")
    ap.add_argument("-s", "--size", type=int, default=26516, help="answer stub bytes")
    ap.add_argument("-x", "--max-xmit", type=int, default=4280)
    ap.add_argument("-r", "--rounds", type=int, default=7)
    ap.add_argument("-n", type=int, default=400, help="answers per timing")
    args = ap.parse_args()
    from benchmarks.stats import interleaved, load, spread
    from fakegc.rpc.auth import kerberos, legs
    from fakegc.rpc.auth import ntlm as ntlm_auth

    base = {"legs": _load(args.base, "fakegc/rpc/auth/legs.py", "_base_legs"),
            "ntlm": _load(args.base, "fakegc/rpc/auth/ntlm.py", "_base_ntlm"),
            "kerberos": _load(args.base, "fakegc/rpc/auth/kerberos.py", "_base_kerberos")}
    tree = {"legs": legs, "ntlm": ntlm_auth, "kerberos": kerberos}
    stub = os.urandom(args.size)
    nkey, kkey = os.urandom(16), os.urandom(32)
    requests = _requests(nkey, args.n)

    def cases(mods: dict[str, Any]) -> dict[str, Callable[[], object]]:
        resp = mods["legs"].protect_response
        auth_ctx = mods["legs"].AuthCtx
        priv = auth_ctx(_ntlm(mods["ntlm"], nkey), 10, 6, 0)
        integ = auth_ctx(_ntlm(mods["ntlm"], nkey), 10, 5, 0)
        krb = auth_ctx(_kerberos(mods["kerberos"], kkey), 16, 6, 0)
        krb_mic = auth_ctx(_kerberos(mods["kerberos"], kkey), 16, 5, 0)
        krb_rc4 = auth_ctx(_kerberos(mods["kerberos"], kkey, 23), 16, 6, 0)
        verify_ctx = [_ntlm(mods["ntlm"], nkey)]

        def request() -> None:  # a fresh context each time over, as the sequence starts at 0
            server = verify_ctx[0]
            if server._recv_seq == len(requests):
                server = verify_ctx[0] = _ntlm(mods["ntlm"], nkey)
            sealed, sig = requests[server._recv_seq]
            server.verify(6, _HEADER, sealed, _TRAILER, sig, False)

        return {
            "NTLM privacy": lambda: resp(priv, stub, 1, 0, args.max_xmit, False),
            "NTLM integrity": lambda: resp(integ, stub, 1, 0, args.max_xmit, False),
            "Kerberos AES256 privacy": lambda: resp(krb, stub, 1, 0, args.max_xmit, False),
            "Kerberos AES256 integrity": lambda: resp(krb_mic, stub, 1, 0, args.max_xmit, False),
            "Kerberos rc4-hmac privacy": lambda: resp(krb_rc4, stub, 1, 0, args.max_xmit, False),
            "NTLM request verify+unseal (112 B)": request,
        }

    runs = {"A": cases(tree), "B": cases(base)}
    names = list(runs["A"])
    figures: dict[tuple[str, str], list[float]] = {(s, c): [] for s in runs for c in names}
    floors: list[dict[str, float]] = []
    for _r, side in interleaved(["A", "B"], args.rounds):
        for name in names:
            figures[side, name].append(_time(runs[side][name], args.n))
        if side == "A":
            floors.append(_floors(args.size, args.max_xmit, args.n))
    print(f"protect_response, {args.size} B stub at max_xmit {args.max_xmit}: CPU us per answer, "
          f"median [range] of {args.rounds} A-B-B-A rounds; {load()}")
    print(f"  A = working tree, B = {args.base}")
    for name in names:
        a, b = figures["A", name], figures["B", name]
        print(f"  {name:<42} A {spread(a, '.1f'):>18}   B {spread(b, '.1f'):>18}")
    for key in floors[0]:
        print(f"  floor {key:<36}   {spread([f[key] for f in floors], '.1f'):>18}")


if __name__ == "__main__":
    main()

"""The principal database: users, services and krbtgt with lazily derived keys.

Implements :class:`fakegc.rpc.auth.base.Credentials` so NTLM and Kerberos share
one source of secrets.  Keys (RFC 3962 AES string-to-key, RFC 4757 RC4 = NT hash)
are derived on first use and cached, with ``hashlib.pbkdf2_hmac`` for the
PBKDF2 step (PROTOCOL.md §6.10: impacket's pure-Python path takes 130–380 ms a
key), so a cluster with hundreds of users starts in milliseconds.  Salt = realm +
name components (``CONTOSO.TESTalice``); rc4-hmac has none (§6.3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from impacket.krb5.crypto import Key

from fakegc.crypto import AES128, AES256, RC4, string_to_key

__all__ = ["AES128", "AES256", "ETYPES", "ETYPE_NAMES", "RC4", "Principal", "PrincipalDb"]

ETYPES = (AES256, AES128, RC4)
ETYPE_NAMES = {AES256: "aes256-cts-hmac-sha1-96", AES128: "aes128-cts-hmac-sha1-96", RC4: "rc4-hmac"}


@dataclass(eq=False)
class Principal:
    """One principal: name components, its secret, its kvno and cached keys."""

    components: tuple[str, ...]
    password: str | None = None
    random_keys: dict[int, bytes] | None = None
    kvno: int = 1
    service: bool = False
    etypes: tuple[int, ...] = ETYPES  # what the account supports (msDS-SupportedEncryptionTypes)
    _keys: dict[int, Key] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``a/b`` form without the realm."""
        return "/".join(self.components)


def _checked(etypes: tuple[int, ...]) -> tuple[int, ...]:
    bad = [e for e in etypes if e not in ETYPES]
    if not etypes or bad:
        raise ValueError(f"supported etypes must be a non-empty subset of {ETYPES}, not {etypes}")
    return tuple(etypes)


class PrincipalDb:
    """Principals of one realm; lookups are case-insensitive on the name."""

    def __init__(self, realm: str = "CONTOSO.TEST", netbios_domain: str = "CONTOSO") -> None:
        self.realm = realm.upper()
        self.netbios_domain = netbios_domain
        # the names a client may give for this realm: the DNS realm and the NetBIOS domain
        # (AD KDCs accept both, PROTOCOL.md §12); compared upper-case
        self.realm_names = frozenset({self.realm, netbios_domain.upper()})
        self._principals: dict[str, Principal] = {}
        #: users made on first lookup from an account source (see :meth:`add_users_from`)
        self._account: Callable[[str], tuple[str, str] | None] | None = None
        self._accounts: Callable[[], Iterable[tuple[str, str]]] | None = None
        self._removed: set[str] = set()
        self.add_service(f"krbtgt/{self.realm}")

    # -- building ----------------------------------------------------------------
    def add_user(self, name: str, password: str, etypes: tuple[int, ...] = ETYPES) -> Principal:
        """Add (or replace) a user with a password (keys of ``etypes`` only)."""
        p = Principal(tuple(name.split("/")), password=password,
                      etypes=ETYPES if etypes is ETYPES else _checked(etypes))
        self._principals[name.lower()] = p  # == p.name.lower(): the components joined back
        return p

    def add_users_from(self, account: Callable[[str], tuple[str, str] | None],
                       accounts: Callable[[], Iterable[tuple[str, str]]]) -> None:
        """Users from an account source, each made a principal the first time it is looked
        up, as :meth:`add_user` would (a 100k-user directory starts without 100k principals).

        ``account(name)`` answers (account name as stored, password) for a case-insensitive
        name, or None; ``accounts()`` lists them all (for :meth:`names`).  The source must
        not change afterwards (the cluster passes its parsed, never written, directory).
        """
        self._account, self._accounts = account, accounts

    def add_service(self, spn: str, password: str | None = None,
                    etypes: tuple[int, ...] = ETYPES) -> Principal:
        """Add a service principal (random keys unless a password is given).

        ``etypes`` plays AD's msDS-SupportedEncryptionTypes: the KDC issues tickets for the
        service under its first etype and session keys only of these (``(RC4,)`` makes an
        rc4-hmac-only service, as old Exchange accounts were).
        """
        keys = None if password is not None else {
            AES256: os.urandom(32), AES128: os.urandom(16), RC4: os.urandom(16)}
        p = Principal(tuple(spn.split("/")), password=password, random_keys=keys, service=True,
                      etypes=_checked(etypes))
        self._principals[p.name.lower()] = p
        return p

    def remove(self, name: str) -> None:
        """Forget a principal."""
        self._principals.pop(name.lower(), None)
        self._removed.add(name.lower())

    # -- lookups -----------------------------------------------------------------
    def is_local(self, realm: str) -> bool:
        """Does ``realm`` name this realm (DNS name or NetBIOS alias, any case)?"""
        return realm.upper() in self.realm_names

    def get(self, name: str) -> Principal | None:
        """The principal ``name`` (``alice``, ``exchangeAB/gc01.contoso.test``), realm stripped.

        ``krbtgt/<NetBIOS domain>`` is the realm's own krbtgt (the alias of :meth:`is_local`).
        """
        base = name.split("@", 1)[0]
        low = base.lower()
        hit = self._principals.get(low)
        if hit is None and self._account is not None and low not in self._removed:
            found = self._account(base)
            if found is not None and found[0].lower() == low:
                hit = self.add_user(found[0], found[1])
        if hit is None and base[:7].lower() == "krbtgt/" and self.is_local(base[7:]):
            hit = self._principals.get(f"krbtgt/{self.realm}".lower())
        return hit

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def names(self) -> list[str]:
        """Every principal name."""
        out = [p.name for p in self._principals.values()]
        if self._accounts is not None:
            out += [user for user, _ in self._accounts()
                    if user.lower() not in self._principals and user.lower() not in self._removed]
        return out

    def salt(self, p: Principal) -> bytes:
        """RFC 4120 default salt: realm + components (PROTOCOL.md §6.3)."""
        return (self.realm + "".join(p.components)).encode()

    def key(self, p: Principal, etype: int) -> Key | None:
        """The principal's long-term key of ``etype`` (derived once, then cached)."""
        cached = p._keys.get(etype)
        if cached is not None:
            return cached
        if etype not in p.etypes:
            return None
        if p.random_keys is not None:
            key = Key(etype, p.random_keys[etype])
        else:
            assert p.password is not None
            key = string_to_key(etype, p.password, self.salt(p))
        p._keys[etype] = key
        return key

    # -- Credentials protocol (fakegc.rpc.auth.base) --------------------------------
    def nt_hash(self, user: str) -> bytes | None:
        """NT hash of a user principal (for NTLM)."""
        p = self.get(user)
        if p is None or p.password is None or p.service:
            return None
        key = self.key(p, RC4)
        return key.contents if key else None

    def service_keys(self, principal: str) -> dict[int, bytes]:
        """{etype: key bytes} of a service principal."""
        p = self.get(principal)
        if p is None:
            return {}
        out = {}
        for etype in ETYPES:
            key = self.key(p, etype)
            if key is not None:
                out[etype] = key.contents
        return out

    def check_password(self, user: str, password: str) -> bool:
        """For HTTP Basic and similar: does ``password`` match?"""
        p = self.get(user)
        return p is not None and p.password is not None and p.password == password

"""A minimal in-memory :class:`~fakegc.rpc.auth.base.Credentials` (users and passwords).

The cluster uses the KDC's principal database; this one serves engine tests and
embedders that want NTLM only.
"""

from __future__ import annotations

from fakegc.crypto import nt_hash

__all__ = ["SimpleCredentials"]


class SimpleCredentials:
    """Users by sAMAccountName (case-insensitive) with passwords; no service keys."""

    def __init__(self, users: dict[str, str] | None = None, realm: str = "CONTOSO.TEST",
                 netbios_domain: str = "CONTOSO") -> None:
        self.realm = realm
        self.netbios_domain = netbios_domain
        self._hashes: dict[str, bytes] = {}
        for user, password in (users or {}).items():
            self.add_user(user, password)

    def add_user(self, user: str, password: str) -> None:
        """Add or replace a user."""
        self._hashes[user.lower()] = nt_hash(password)

    def nt_hash(self, user: str) -> bytes | None:
        """NT hash of ``user`` or None."""
        return self._hashes.get(user.lower())

    def service_keys(self, principal: str) -> dict[int, bytes]:
        """No Kerberos keys here."""
        return {}

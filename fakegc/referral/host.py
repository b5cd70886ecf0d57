"""What the referral service reads from the Exchange actor (MS-OXABREF 3.1.4)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ReferralHost", "ReferralRefused"]


class ReferralRefused(Exception):
    """The referral cannot name a GC; ``status`` is what RfrGetNewDSA returns."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(reason or f"referral refused 0x{status:08X}")
        self.status = status
        self.reason = reason


class ReferralHost(Protocol):
    """The Exchange server as the RFR handlers see it."""

    name: str
    fqdn: str

    def referral_target(self, user_dn: str) -> str | None:
        """FQDN (lower case) of a responsive GC for this user, or None when none is.

        May raise :class:`ReferralRefused` with the status to return (e.g. LogonFailed
        when the Exchange server's own ticket for the candidate GC fails).
        """
        ...

    def fqdn_for_server_dn(self, dn: str) -> str | None:
        """FQDN of the Exchange server whose legacy DN is ``dn``, or None."""
        ...

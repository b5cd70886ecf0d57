"""What the referral service reads from the Exchange actor (MS-OXABREF 3.1.4)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ReferralHost"]


class ReferralHost(Protocol):
    """The Exchange server as the RFR handlers see it."""

    name: str
    fqdn: str

    def referral_target(self, user_dn: str) -> str | None:
        """FQDN (lower case) of a responsive GC for this user, or None when none is."""
        ...

    def fqdn_for_server_dn(self, dn: str) -> str | None:
        """FQDN of the Exchange server whose legacy DN is ``dn``, or None."""
        ...

"""The Exchange referral service (MS-OXABREF)."""

from fakegc.referral.host import ReferralHost
from fakegc.referral.ops import RFR

__all__ = ["RFR", "ReferralHost"]

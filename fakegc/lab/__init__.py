"""Lab network: every actor at its own address on the standard ports (docs/PROTOCOL.md "Lab network")."""

from fakegc.lab.plan import LabConfig, LabPlan

__all__ = ["LabConfig", "LabPlan"]

"""Lab network: every actor at its own address on the standard ports (PROTOCOL.md §12)."""

from fakegc.lab.plan import LabConfig, LabPlan

__all__ = ["LabConfig", "LabPlan"]

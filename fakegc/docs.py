"""Generate the supported-operations table from the interface registry (never hand-kept).

``python -m fakegc.docs > docs/operations.md`` (``make docs``); ``fakegc docs`` prints it.
"""

from __future__ import annotations

from fakegc.nspi import NSPI
from fakegc.referral import RFR
from fakegc.rpc.epm import EPM
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.registry import Interface

__all__ = ["INTERFACES", "render"]

INTERFACES: list[Interface] = [NSPI, RFR, EPM, MGMT]


def render() -> str:
    """Markdown: one section per interface, one row per registered opnum."""
    out = ["# Supported operations", "",
           "Generated from the interface registry by `python -m fakegc.docs`; do not edit.", ""]
    for iface in INTERFACES:
        out.append(f"## {iface.name.upper()} — {iface.uuid} v{iface.version[0]}.{iface.version[1]} "
                   f"({iface.spec})")
        out.append("")
        out.append("| opnum | operation | spec | request type | notes |")
        out.append("|---:|---|---|---|---|")
        highest = max(iface.operations) if iface.operations else -1
        for opnum in range(highest + 1):
            op = iface.operations.get(opnum)
            if op is None:
                out.append(f"| {opnum} | — | | | not served: fault nca_s_op_rng_error (0x1C010002) |")
                continue
            req = getattr(op.request, "__name__", "") if op.request is not None else ""
            doc = op.doc.splitlines()[0] if op.doc else ""
            out.append(f"| {opnum} | {op.name} | {op.spec} | {req} | {doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render())

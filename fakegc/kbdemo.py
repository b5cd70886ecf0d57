"""The KB 929439 matrix: the emulated provider in every cell of R × U × mode (``make demo``).

For each cell the embedded cluster is reset to HEALTHY, the provider logs on
(RfrGetNewDSA → TGS-REQ exchangeAB/gc01 → EPM → NspiBind), and one address-book
call (ResolveName) is made in each phase of the scenario (kb929439.toml: HEALTHY,
then after each step: SHUTTING_DOWN, DOWN, NEW_GC), plus a retry.  The codes seen
are printed next to what the KB article states; any disagreement → exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from fakegc.client.machine import Mode, State
from fakegc.client.provider import AddressBook, Profile
from fakegc.client.transport import Credentials, Endpoints
from fakegc.codes import MapiCode
from fakegc.scenario.cluster import ClusterThread
from fakegc.scenario.model import Scenario, load_scenario

__all__ = ["CELLS", "Cell", "CellResult", "expected", "main", "render", "run_cell", "run_matrix"]

OK, NE, EOS, CANCEL = "SUCCESS", "NETWORK_ERROR", "END_OF_SESSION", "USER_CANCEL"


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix (``cancel``: the interactive prompt is cancelled)."""

    reconnect: bool
    user_auth_credentials: bool
    mode: str
    cancel: bool = False

    @property
    def label(self) -> str:
        base = f"R={int(self.reconnect)} U={int(self.user_auth_credentials)} {self.mode}"
        return base + (" (prompt cancelled)" if self.cancel else "")


CELLS = [Cell(r, u, m) for r in (False, True) for u in (False, True) for m in ("service", "interactive")]
CELLS.append(Cell(True, False, "interactive", cancel=True))


def expected(cell: Cell) -> tuple[list[str], str, str]:
    """What KB 929439 (and PROTOCOL.md §3) says: codes per phase, final state, the article's words."""
    if not cell.reconnect:
        return ([OK, NE, NE, NE, NE], State.DEAD.value,
                "without reconnect: MAPI_E_NETWORK_ERROR until the program restarts")
    if cell.user_auth_credentials:
        return ([OK, NE, NE, EOS, OK], State.BOUND.value,
                ("EMSAB_UserAuth_Credentials=1: NETWORK_ERROR while the GC shuts down, then "
                 "END_OF_SESSION once a new GC is reached"))
    if cell.mode == "service":
        return ([OK, NE, NE, NE, NE], State.USERCRED.value,
                "the bug: user-credentials state a service cannot leave, NETWORK_ERROR until restart")
    if cell.cancel:
        return ([OK, CANCEL, CANCEL, CANCEL, CANCEL], State.USERCRED.value,
                "interactive, prompt cancelled: MAPI_E_USER_CANCEL")
    return ([OK, NE, NE, EOS, OK], State.BOUND.value,
            "interactive: prompts for credentials, then END_OF_SESSION and OK on the new GC")


@dataclass
class CellResult:
    """What one cell saw."""

    cell: str
    phases: list[str]
    codes: list[str]
    final_state: str
    expected_codes: list[str]
    expected_state: str
    kb: str
    gc: str | None
    seconds: float
    journal: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.codes == self.expected_codes and self.final_state == self.expected_state


def run_cell(ct: ClusterThread, cell: Cell, scenario: Scenario, keep_journal: bool = False) -> CellResult:
    """Reset the cluster and run one cell through the scenario's steps."""
    ct.reset()
    started = time.perf_counter()
    ep = Endpoints.from_cluster(ct.endpoints())
    prompt = (lambda: None) if cell.cancel else (lambda: Credentials("alice", "Passw0rd!"))
    profile = Profile(allow_reconnect=cell.reconnect, user_auth_credentials=cell.user_auth_credentials,
                      mode=Mode(cell.mode), prompt=prompt)
    ab = AddressBook(profile, ep, ct.journal, name=cell.label.replace(" ", "_"))
    phases = [ct.cluster.state.value]
    codes = []
    try:
        logon = ab.logon()
        if logon is not MapiCode.SUCCESS:
            raise RuntimeError(f"logon failed on a healthy cluster: {logon.name}")
        codes.append(ab.resolve_name("alice")[0].name)
        for step in scenario.steps:
            if step.on_demand:
                continue
            ct.fire(step.event, **step.args)
            phases.append(ct.cluster.state.value)
            codes.append(ab.resolve_name("alice")[0].name)
        phases.append("retry")
        codes.append(ab.resolve_name("alice")[0].name)
    finally:
        ab.close()
    want_codes, want_state, kb = expected(cell)
    journal = [e.to_dict() for e in ct.journal] if keep_journal else []
    return CellResult(cell.label, phases, codes, ab.state.value, want_codes, want_state, kb, ab.gc,
                      time.perf_counter() - started, journal)


def run_matrix(scenario: str = "kb929439", cells: list[Cell] | None = None) -> list[CellResult]:
    """Start the embedded cluster and run every cell."""
    sc = load_scenario(scenario)
    ct = ClusterThread(sc.cluster_config())
    try:
        return [run_cell(ct, cell, sc) for cell in (cells or CELLS)]
    finally:
        ct.close()


def render(results: list[CellResult]) -> str:
    """The human-readable table."""
    short = {OK: "OK", NE: "NETWORK_ERROR", EOS: "END_OF_SESSION", CANCEL: "USER_CANCEL"}
    phases = results[0].phases if results else []
    head = ["cell"] + phases + ["final", "KB 929439", "verdict"]
    rows = []
    for r in results:
        cells = [short.get(c, c) for c in r.codes]
        rows.append([r.cell] + cells + [r.final_state, r.kb, "PASS" if r.passed else
                                         f"FAIL (KB: {' '.join(short.get(c, c) for c in r.expected_codes)}"
                                         f", {r.expected_state})"])
    widths = [max(len(str(x[i])) for x in [head] + rows) for i in range(len(head) - 2)]
    lines = ["KB 929439: a MAPI program's GC shuts down (scenario kb929439; one ResolveName per phase)", ""]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines.append(fmt.format(*head[:-2]) + "  verdict")
    lines.append("-" * (sum(widths) + 2 * len(widths) + 7))
    for row in rows:
        lines.append(fmt.format(*row[:-2]) + "  " + row[-1])
        lines.append("    KB: " + row[-2])
    passed = sum(r.passed for r in results)
    lines += ["", (f"{passed}/{len(results)} cells agree with KB 929439"
                   f" ({sum(r.seconds for r in results):.1f}s)")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry (``fakegc kb929439``): non-zero exit when a cell disagrees with the KB."""
    ap = argparse.ArgumentParser(prog="fakegc kb929439", description=__doc__)
    ap.add_argument("--scenario", default="kb929439")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = run_matrix(args.scenario)
    if args.json:
        print(json.dumps([{**{k: v for k, v in asdict(r).items() if k != "journal"},
                           "passed": r.passed} for r in results], indent=2))
    else:
        print(render(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

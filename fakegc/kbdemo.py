"""The KB 929439 matrix: the emulated provider in every cell of R × U × mode (``make demo``).

For each cell the embedded cluster is reset to HEALTHY, the provider logs on
(RfrGetNewDSA → TGS-REQ exchangeAB/gc01 → EPM → NspiBind), and one address-book
call (ResolveName) is made in each phase of the scenario (kb929439.toml: HEALTHY,
then after each step: SHUTTING_DOWN, DOWN, NEW_GC), plus a retry.

Verdicts judge only what the article states (:func:`article`): the reconnect-enabled
service without the hotfix (NETWORK_ERROR from the shutdown on, until restart; the
user-credentials state) and the hotfix (EMSAB_UserAuth_Credentials=1: NETWORK_ERROR while
the GC shuts down, END_OF_SESSION once a new GC is reached, never the user-credentials
state).  Other cells and phases are shown without a verdict; any disagreement → exit 1.
With another scenario the codes per phase are printed, without verdicts.
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

__all__ = ["ARTICLE", "CELLS", "Cell", "CellResult", "Statement", "article", "expected", "main",
           "render", "run_cell", "run_matrix"]

ARTICLE = "kb929439"  # the scenario the article describes; verdicts only for it

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


@dataclass(frozen=True)
class Statement:
    """What the article states about a cell: a code per phase of kb929439 (HEALTHY,
    SHUTTING_DOWN, DOWN, NEW_GC, retry; None = not stated), the final state it names or the
    state it says is never entered, and its words."""

    codes: tuple[str | None, ...]
    state: str | None
    never: str | None
    words: str

    def judge(self, codes: list[str], final_state: str) -> list[str]:
        """The disagreements (empty: the cell agrees with the article)."""
        out = [f"{phase}: {got} (KB: {want})" for phase, want, got in
               zip(("HEALTHY", "SHUTTING_DOWN", "DOWN", "NEW_GC", "retry"), self.codes, codes)
               if want is not None and got != want]
        if len(codes) != len(self.codes):
            out.append(f"{len(codes)} phases (KB 929439 has {len(self.codes)})")
        if self.state is not None and final_state != self.state:
            out.append(f"final {final_state} (KB: {self.state})")
        if self.never is not None and final_state == self.never:
            out.append(f"final {final_state} (KB: never {self.never})")
        return out


def article(cell: Cell) -> Statement | None:
    """What KB 929439 states about ``cell``, or None where it says nothing.

    The article speaks of a program with the reconnect logic (R=1): as a service without
    the hotfix, "all address book lookup calls ... fail ... MAPI_E_NETWORK_ERROR ... until
    the MAPI program is restarted" and the connection enters "a user credentials state";
    with EMSAB_UserAuth_Credentials=1, NETWORK_ERROR "when the global catalog server is still
    shutting down", END_OF_SESSION once "the Exchange 2003 server has established a
    connection with a new global catalog server", and "the MAPI provider will never enter
    the user credential state".  It says nothing of R=0, nor of interactive programs'
    codes without the hotfix, nor of the phase between shutdown and the new GC for the
    hotfix, nor of calls after END_OF_SESSION.
    """
    if not cell.reconnect or cell.cancel:
        return None
    if cell.user_auth_credentials:
        return Statement((None, NE, None, EOS, None), None, State.USERCRED.value,
                         "EMSAB_UserAuth_Credentials=1: NETWORK_ERROR while the GC is shutting "
                         "down, END_OF_SESSION once a new GC is reached; never the user "
                         "credential state")
    if cell.mode == "service":
        return Statement((None, NE, NE, NE, NE), State.USERCRED.value, None,
                         "a service: every address-book call fails with NETWORK_ERROR until "
                         "restart; the connection enters the user credentials state")
    return None


def expected(cell: Cell) -> tuple[list[str], str, str]:
    """The emulated provider's designed behaviour in every phase (docs/PROTOCOL.md §3): codes per
    phase, final state, a summary; it extends :func:`article` to the cells and phases the
    article leaves open (the cell tests hold the provider to it)."""
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
    verdict: str | None = None  # PASS / FAIL against the article; None: the article is silent
    disagreements: list[str] = field(default_factory=list)


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
    result = CellResult(cell.label, phases, codes, ab.state.value, want_codes, want_state, kb,
                        ab.gc, time.perf_counter() - started, journal)
    stated = article(cell) if scenario.name == ARTICLE else None
    if stated is not None:
        result.kb = stated.words
        result.disagreements = stated.judge(codes, ab.state.value)
        result.verdict = "FAIL" if result.disagreements else "PASS"
    elif scenario.name == ARTICLE:
        result.kb = "the article does not state this cell"
    else:
        result.kb = ""
    return result


def run_matrix(scenario: str = "kb929439", cells: list[Cell] | None = None,
               lab: str | None = None) -> list[CellResult]:
    """Start the embedded cluster and run every cell (``lab``: on the lab network NET, or
    the default one when "", with the client resolving hosts through the lab DNS)."""
    sc = load_scenario(scenario)
    config = sc.cluster_config()
    if lab is not None:
        from fakegc.lab.plan import LabConfig

        config.lab = LabConfig.from_dict({"network": lab} if lab else {}, "--lab")
    ct = ClusterThread(config)
    try:
        return [run_cell(ct, cell, sc) for cell in (cells or CELLS)]
    finally:
        ct.close()


def render(results: list[CellResult], scenario: str = ARTICLE) -> str:
    """The human-readable table (verdict column only for the article's scenario)."""
    short = {OK: "OK", NE: "NETWORK_ERROR", EOS: "END_OF_SESSION", CANCEL: "USER_CANCEL"}
    judged = scenario == ARTICLE
    phases = results[0].phases if results else []
    head = ["cell", *phases, "final"]
    rows = [[r.cell, *(short.get(c, c) for c in r.codes), r.final_state] for r in results]
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    if judged:
        title = (f"scenario {scenario}: KB 929439, a MAPI program's GC shuts down "
                 "(one ResolveName per phase; verdicts where the article states the outcome)")
    else:
        title = (f"scenario {scenario}: codes per phase (one ResolveName per phase; no verdicts: "
                 f"KB 929439 describes scenario {ARTICLE} only)")
    lines = [title, "", fmt.format(*head) + ("  verdict" if judged else "")]
    lines.append("-" * (sum(widths) + 2 * len(widths) + (7 if judged else -2)))
    for r, row in zip(results, rows):
        line = fmt.format(*row)
        if judged:
            verdict = r.verdict or "-"
            if r.disagreements:
                verdict += " (" + "; ".join(r.disagreements) + ")"
            line += "  " + verdict
            lines += [line, "    KB: " + r.kb]
        else:
            lines.append(line.rstrip())
    seconds = sum(r.seconds for r in results)
    if judged:
        stated = [r for r in results if r.verdict is not None]
        agree = sum(r.verdict == "PASS" for r in stated)
        lines += ["", (f"{agree}/{len(stated)} cells the article states agree with KB 929439; "
                       f"{len(results) - len(stated)} cells it does not state ({seconds:.1f}s)")]
    else:
        lines += ["", f"{len(results)} cells ran scenario {scenario} ({seconds:.1f}s)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry (``fakegc kb929439``): non-zero exit when a cell disagrees with the KB."""
    ap = argparse.ArgumentParser(prog="fakegc kb929439", description=__doc__)
    ap.add_argument("--scenario", default="kb929439")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--lab", nargs="?", const="", default=None, metavar="NET")
    args = ap.parse_args(argv)
    try:
        name = load_scenario(args.scenario).name
    except ValueError as exc:  # ScenarioError: names the file, line and key
        print(f"fakegc kb929439: {exc}", file=sys.stderr)
        return 2
    if args.lab is not None:
        from fakegc.lab import netns

        if not netns.inside():
            return netns.reexec_in_namespace(["kb929439", *(argv or sys.argv[1:])])
        netns.loopback_up()
    results = run_matrix(args.scenario, lab=args.lab)
    if args.json:
        print(json.dumps({"scenario": name, "judged": name == ARTICLE,
                          "cells": [{k: v for k, v in asdict(r).items()
                                     if k not in ("journal", "expected_codes", "expected_state")}
                                    for r in results]}, indent=2))
    else:
        print(render(results, name))
    return 1 if any(r.verdict == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

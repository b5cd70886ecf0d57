"""`fakegc kb929439` (the README's main job): verdicts only where KB 929439 states the outcome.

Oracle: the article's own sentences (quoted in fakegc.kbdemo.article): a reconnect-enabled
service without the hotfix gets MAPI_E_NETWORK_ERROR on every address-book call "until the
MAPI program is restarted" and enters "a user credentials state"; with
EMSAB_UserAuth_Credentials=1 it gets MAPI_E_NETWORK_ERROR "when the global catalog server is
still shutting down", then MAPI_E_END_OF_SESSION once a new GC is reached, and "will never
enter the user credential state".  Nothing else is stated, so nothing else is judged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fakegc.kbdemo import CELLS, Cell, article

FAKEGC = [sys.executable, "-m", "fakegc.cli"]
NE, EOS = "NETWORK_ERROR", "END_OF_SESSION"


def test_only_the_cells_the_article_states_are_judged():
    stated = {c.label for c in CELLS if article(c) is not None}
    assert stated == {"R=1 U=0 service", "R=1 U=1 service", "R=1 U=1 interactive"}
    bug = article(Cell(True, False, "service"))
    assert bug is not None and bug.judge(["SUCCESS", NE, NE, NE, NE], "USERCRED") == []
    # restarting the program is the only way out: a recovery would contradict the article
    assert bug.judge(["SUCCESS", NE, NE, EOS, "SUCCESS"], "BOUND") == [
        "NEW_GC: END_OF_SESSION (KB: NETWORK_ERROR)", "retry: SUCCESS (KB: NETWORK_ERROR)",
        "final BOUND (KB: USERCRED)"]
    fix = article(Cell(True, True, "service"))
    assert fix is not None
    # the phase between "finished shutting down" and "a new GC" is not stated: any code passes
    assert fix.judge(["SUCCESS", NE, "ANYTHING", EOS, "SUCCESS"], "BOUND") == []
    assert fix.judge(["SUCCESS", NE, NE, NE, NE], "USERCRED") == [
        "NEW_GC: NETWORK_ERROR (KB: END_OF_SESSION)", "final USERCRED (KB: never USERCRED)"]


def test_demo_judges_the_stated_cells():
    done = subprocess.run(FAKEGC + ["kb929439"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("scenario kb929439: KB 929439")
    assert "3/3 cells the article states agree with KB 929439; 6 cells it does not state" in out
    assert out.count("PASS") == 3 and "FAIL" not in out
    row = next(line for line in out.splitlines() if line.startswith("R=1 U=0 service"))
    assert row.split()[3:9] == ["OK", NE, NE, NE, NE, "USERCRED"]
    row = next(line for line in out.splitlines() if line.startswith("R=1 U=1 service"))
    assert row.split()[4] == NE and row.split()[6] == EOS
    row = next(line for line in out.splitlines() if line.startswith("R=0 U=0 service"))
    assert row.split()[-1] == "-"  # no verdict where the article is silent


def test_demo_json():
    done = subprocess.run(FAKEGC + ["kb929439", "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["scenario"] == "kb929439" and doc["judged"] is True
    verdicts = {c["cell"]: c["verdict"] for c in doc["cells"]}
    assert verdicts["R=1 U=0 service"] == "PASS" and verdicts["R=0 U=0 service"] is None
    bug = next(c for c in doc["cells"] if c["cell"] == "R=1 U=0 service")
    assert bug["final_state"] == "USERCRED" and bug["codes"][-1] == NE


def test_another_scenario_prints_codes_without_verdicts():
    done = subprocess.run(FAKEGC + ["kb929439", "--scenario", "flapping_gc"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("scenario flapping_gc: codes per phase")
    assert "PASS" not in out and "FAIL" not in out
    assert "agree with KB" not in out
    # flapping_gc.toml: gc_down, gc_restart, gc_down, gc_restart -> six phases with the retry
    header = next(line for line in out.splitlines() if line.startswith("cell"))
    assert header.split()[1:] == ["HEALTHY", "DOWN", "HEALTHY", "DOWN", "HEALTHY", "retry", "final"]  # no verdict column


def test_unknown_scenario_is_one_line():
    done = subprocess.run(FAKEGC + ["kb929439", "--scenario", "no-such"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "no scenario 'no-such'" in done.stderr


def test_makefile_demo_target_runs_the_demo():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "demo: $(STAMP)\n\t$(BIN)/fakegc kb929439" in makefile

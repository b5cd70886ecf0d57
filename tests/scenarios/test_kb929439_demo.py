"""`fakegc kb929439` (the README's main job) prints a table that matches the KB for every cell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FAKEGC = [sys.executable, "-m", "fakegc.cli"]


def test_demo_table_matches_kb():
    done = subprocess.run(FAKEGC + ["kb929439"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "9/9 cells agree with KB 929439" in out
    assert out.count("PASS") == 9 and "FAIL" not in out
    row = next(line for line in out.splitlines() if line.startswith("R=1 U=0 service"))
    assert row.split()[3:8] == ["OK", "NETWORK_ERROR", "NETWORK_ERROR", "NETWORK_ERROR", "NETWORK_ERROR"]
    row = next(line for line in out.splitlines() if line.startswith("R=1 U=1 service"))
    assert row.split()[3:8] == ["OK", "NETWORK_ERROR", "NETWORK_ERROR", "END_OF_SESSION", "OK"]


def test_demo_json():
    done = subprocess.run(FAKEGC + ["kb929439", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cells = json.loads(done.stdout)
    assert len(cells) == 9 and all(c["passed"] for c in cells)
    bug = next(c for c in cells if c["cell"] == "R=1 U=0 service")
    assert bug["final_state"] == "USERCRED" and bug["codes"][-1] == "NETWORK_ERROR"


def test_makefile_demo_target_runs_the_demo():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "demo: $(STAMP)\n\t$(BIN)/fakegc kb929439" in makefile

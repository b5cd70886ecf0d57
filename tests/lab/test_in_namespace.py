"""Runs tests/lab/inner in a lab namespace of its own (ports 135/88/53 collide otherwise).

Needs root or unprivileged user namespaces; in CI (CI=true, root) it must run, never skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakegc.lab import netns

ROOT = Path(__file__).resolve().parents[2]


def test_lab_suite_in_its_own_namespace():
    if not netns.can_create():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must be able to create network namespaces (root)")
        pytest.skip("cannot create a network namespace here (not root, no user namespaces)")
    env = {**os.environ, "FAKEGC_LAB_SUITE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "fakegc.cli", "lab", "--no-cluster", "--", sys.executable, "-m",
         "pytest", "-q", "-p", "no:xdist", "-p", "no:randomly", "--fakegc-lab",
         str(ROOT / "tests" / "lab" / "inner")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]

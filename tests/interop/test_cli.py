"""The fakegc command line: serve + ctl, directory generate/check, docs, help for every subcommand."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FAKEGC = [sys.executable, "-m", "fakegc.cli"]
ROOT = Path(__file__).resolve().parents[2]


def test_serve_publishes_endpoints_and_ctl_drives_it(tmp_path):
    ep_path = tmp_path / "endpoints.json"
    proc = subprocess.Popen(FAKEGC + ["serve", "--endpoints-json", str(ep_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ep_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        doc = json.loads(ep_path.read_text())
        assert doc["realm"] == "CONTOSO.TEST" and doc["host"] == "127.0.0.1"
        assert {"gc01", "gc02", "ex01"} <= set(doc["actors"])
        assert all(isinstance(doc["actors"]["gc01"][k], int) for k in ("nspi", "epm"))
        assert doc["kdc"]["udp"] and doc["users"][0] == {"name": "alice", "password": "Passw0rd!"}
        ctl = FAKEGC + ["ctl", "--endpoints-json", str(ep_path)]
        fired = subprocess.run(ctl + ["fire", "shutdown_begin", "gc=gc01", "--json"],
                               capture_output=True, text=True, timeout=30)
        assert fired.returncode == 0, fired.stderr
        assert json.loads(fired.stdout)["gc"] == "gc01"
        state = json.loads(subprocess.run(ctl + ["state", "--json"], capture_output=True, text=True,
                                          timeout=30).stdout)
        assert state["state"] == "SHUTTING_DOWN" and state["gcs"]["gc01"]["state"] == "shutting_down"
        bad = subprocess.run(ctl + ["fire", "no_such_event"], capture_output=True, text=True, timeout=30)
        assert bad.returncode == 1 and "unknown event" in bad.stderr
        reset = subprocess.run(ctl + ["reset"], capture_output=True, text=True, timeout=30)
        assert json.loads(reset.stdout)["state"] == "HEALTHY"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "fakegc cluster ready" in out and "gc01.contoso.test" in out
    assert "fakegc stopped" in err


def test_directory_generate_and_check(tmp_path):
    out = tmp_path / "big.json"
    done = subprocess.run(FAKEGC + ["directory", "generate", "--users", "2000", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "generating users" in done.stderr  # progress output
    check = subprocess.run(FAKEGC + ["directory", "check", str(out), "--json"], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["user"] == 2000
    broken = tmp_path / "broken.yaml"
    broken.write_text("users:\n  - {alias: a}\n  - {alias: b, colour: red}\n")
    bad = subprocess.run(FAKEGC + ["directory", "check", str(broken)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and f"{broken}:3: unknown field(s) colour" in bad.stderr


def test_docs_are_generated_from_the_registry():
    done = subprocess.run(FAKEGC + ["docs"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "| 20 | NspiResolveNamesW |" in done.stdout and "| 0 | RfrGetNewDSA |" in done.stdout
    assert (ROOT / "docs" / "operations.md").read_text().strip() == done.stdout.strip()


@pytest.mark.parametrize("sub", [[], ["serve"], ["kb929439"], ["directory", "generate"], ["ctl"], ["docs"]])
def test_help_for_every_subcommand(sub):
    done = subprocess.run(FAKEGC + sub + ["--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: fakegc" in done.stdout


def test_serve_runs_a_scenario_timeline(tmp_path):
    ep_path = tmp_path / "endpoints.json"
    proc = subprocess.Popen(FAKEGC + ["serve", "--scenario", "kb929439", "--time-scale", "0.01",
                                      "--endpoints-json", str(ep_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        state = None
        while time.monotonic() < deadline:
            if ep_path.exists():
                ctl = FAKEGC + ["ctl", "--endpoints-json", str(ep_path), "state", "--json"]
                out = subprocess.run(ctl, capture_output=True, text=True, timeout=30)
                if out.returncode == 0:
                    state = json.loads(out.stdout)
                    if state["state"] == "NEW_GC":
                        break
            time.sleep(0.1)
        assert state is not None and state["state"] == "NEW_GC" and state["referral"] == "gc02"
        assert state["gcs"]["gc01"]["state"] == "down"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)

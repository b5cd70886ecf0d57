"""The fakegc command line: serve + ctl, directory generate/check, docs, help for every subcommand."""

from __future__ import annotations

import json
import re
import shlex
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
        assert bad.returncode == 2 and "unknown event" in bad.stderr  # named before sending
        # the server says no (a GC it does not have): exit 1, the server's reason shown
        no = subprocess.run(ctl + ["fire", "shutdown_begin", "gc=tokyo"], capture_output=True,
                            text=True, timeout=30)
        assert no.returncode == 1 and "no GC named 'tokyo'" in no.stderr
        readable = subprocess.run(ctl + ["state"], capture_output=True, text=True, timeout=30)
        assert readable.stdout.startswith("state SHUTTING_DOWN  referral gc01")
        # journal --follow: the entries so far, then new ones as they come, until Ctrl-C
        follower = subprocess.Popen(ctl + ["journal", "state", "--follow"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        first = follower.stdout.readline()
        assert re.match(r"^#\d+ +\d+\.\d{3} kdc state state=listening", first), first
        subprocess.run(ctl + ["fire", "gc_down", "gc=gc01"], capture_output=True, timeout=30)
        while "state=DOWN" not in (line := follower.stdout.readline()) and line:
            pass
        assert "scenario state previous=SHUTTING_DOWN state=DOWN gc=gc01" in line
        follower.send_signal(signal.SIGINT)
        try:
            code = follower.wait(30)
        except subprocess.TimeoutExpired:  # say why before failing: signal masks and state
            status = Path(f"/proc/{follower.pid}/status").read_text()
            follower.kill()
            pytest.fail("ctl journal --follow ignored SIGINT for 30 s:\n" + "\n".join(
                ln for ln in status.splitlines() if ln.startswith(("State", "Sig", "Shd", "Threads"))))
        assert code == 0 and "Traceback" not in follower.stderr.read()
        follower.stdout.close()
        follower.stderr.close()
        reset = subprocess.run(ctl + ["reset", "--json"], capture_output=True, text=True, timeout=30)
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


@pytest.mark.parametrize("sub", [[], ["serve"], ["kb929439"], ["directory"], ["directory", "generate"],
                                 ["directory", "check"], ["ctl"], ["docs"]])
def test_help_for_every_subcommand_has_examples_that_parse(sub):
    from fakegc.cli import build_parser

    done = subprocess.run(FAKEGC + sub + ["--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: fakegc" in done.stdout
    assert "example" in done.stdout
    # every example in the epilog is a command line the parser accepts
    examples = [shlex.split(ln.split(">")[0], comments=True)
                for ln in done.stdout.split("example", 1)[1].splitlines()
                if ln.strip().startswith("fakegc ")]
    assert examples
    for argv in examples:
        args = build_parser().parse_args(argv[1:])
        assert args.command == argv[1]


def test_help_texts_are_true():
    from fakegc.cli import build_parser
    from fakegc.scenario.model import shipped

    serve = subprocess.run(FAKEGC + ["serve", "--help"], capture_output=True, text=True,
                           timeout=60).stdout
    assert "JSON" in serve and "(YAML or LDIF)" not in serve  # JSON directories load too
    for path in shipped():  # the scenarios it names are the shipped ones
        assert path.stem in " ".join(serve.split())
    ctl = subprocess.run(FAKEGC + ["ctl", "--help"], capture_output=True, text=True,
                         timeout=60).stdout
    from fakegc.scenario.events import EVENTS, RULE_FIELDS

    for name in [*EVENTS, *RULE_FIELDS]:
        assert name in ctl
    assert build_parser().parse_args(["serve", "--scenario", "kb929439", "--quiet"]).quiet


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
        out, _ = proc.communicate(timeout=30)
    # the steps show as they fire, in the scenario's order (fixtures/scenarios/kb929439.toml)
    live = [ln.split("] ", 1)[1] for ln in out.splitlines() if ln.startswith("[")]
    assert live[:7] == ["scenario kb929439 started",
                        "fired shutdown_begin gc=gc01",
                        "state HEALTHY -> SHUTTING_DOWN (referral gc01)",
                        "fired gc_down gc=gc01",
                        "state SHUTTING_DOWN -> DOWN (referral gc01)",
                        "fired new_gc_ready gc=gc02",
                        "state DOWN -> NEW_GC (referral gc02)"]


def test_serve_quiet_and_follow(tmp_path):
    def run(*extra: str) -> str:
        ep_path = tmp_path / f"ep{len(extra)}.json"
        proc = subprocess.Popen(FAKEGC + ["serve", "--scenario", "kb929439", "--time-scale", "0.001",
                                          "--endpoints-json", str(ep_path), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ctl = FAKEGC + ["ctl", "--endpoints-json", str(ep_path), "journal", "event", "--json"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = subprocess.run(ctl, capture_output=True, text=True, timeout=30) \
                    if ep_path.exists() else None
                if done is not None and "timeline_done" in done.stdout:
                    break
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        return out

    quiet = run("--quiet")
    assert "fired" not in quiet and "fakegc cluster ready" in quiet
    followed = run("--quiet", "--follow")
    # --follow: every entry, as Entry prints it (#seq t actor kind fields)
    assert re.search(r"^#\d+ \d+\.\d{4} scenario event event=shutdown_begin gc=gc01$", followed, re.MULTILINE)
    assert re.search(r"^#\d+ \d+\.\d{4} gc01 state state=not_listening", followed, re.MULTILINE)

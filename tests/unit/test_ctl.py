"""`fakegc ctl`: command lines checked before sending, HTTPie-style values, exit statuses,
errors that say what to do, and a start that does not load the cluster stack.

Oracles: HTTPie's documented request items (``key=value`` a string field, ``key:=json`` a raw
JSON field); the shell convention for exit statuses (0 success, 1 failure, 2 misuse: Bash
manual §3.7.5 and argparse's own usage errors); the cluster's own events and FaultRule
fields, which the ctl vocabulary must equal (checked against their signatures).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys

import pytest

from fakegc.scenario import events
from fakegc.scenario.cluster import Cluster
from fakegc.scenario.ctl import UsageError, parse_pairs, plan
from fakegc.scenario.rules import FaultRule

FAKEGC = [sys.executable, "-m", "fakegc.cli"]


def ctl(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FAKEGC, "ctl", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, check=False)


def test_the_vocabulary_is_the_clusters():
    for event, params in events.EVENT_PARAMS.items():
        handler = getattr(Cluster, f"_on_{event}")
        declared = [p for p in inspect.signature(handler).parameters.values()
                    if p.name != "self" and p.kind is not p.VAR_KEYWORD]
        assert [p.name for p in declared] == list(params), event
    fields = {f.name for f in dataclasses.fields(FaultRule) if not f.name.startswith("_")}
    assert fields - {"id", "seen", "fired"} == set(events.RULE_FIELDS)


def test_values_stay_strings_unless_typed():
    # the example: "tokyo" starts with t, which the old parser took for JSON
    assert plan("fire", ["shutdown_begin", "gc=tokyo"])[2] == {"event": "shutdown_begin",
                                                              "gc": "tokyo"}
    assert plan("fire", ["pin_referral", "gc=true"])[2]["gc"] == "true"
    assert plan("fire", ["shutdown_begin", "code=6"])[2]["code"] == 6   # declared an int
    assert plan("fire", ["shutdown_begin", "code:=6"])[2]["code"] == 6
    assert plan("fire", ["gc_restart", "keep_guid=true"])[2]["keep_guid"] is True
    assert plan("fire", ["kdc_skew", "seconds=-600"])[2]["seconds"] == -600.0
    custom = plan("fire", ["custom", "label=007", "n:=[1, 2]"])[2]
    assert custom == {"event": "custom", "label": "007", "n": [1, 2]}  # free-form: as typed
    assert parse_pairs(["a=b=c", "x:={\"k\": 1}"], None) == {"a": "b=c", "x": {"k": 1}}
    rule = plan("add-rule", ["kind=rpc_fault", "actor=gc01", "op=NspiQueryRows",
                             "value=0x1C00001A", "times=1"])[2]
    assert rule["value"] == 0x1C00001A and rule["times"] == 1 and rule["actor"] == "gc01"


@pytest.mark.parametrize("action,args,message", [
    ("fire", [], "fire needs an event: one of shutdown_begin"),
    ("fire", ["shutdown_begn"], "unknown event 'shutdown_begn'"),
    ("fire", ["shutdown_begin", "gcc=gc01"], "unknown argument 'gcc' (known: gc, code)"),
    ("fire", ["shutdown_begin", "code=seven"], "code=seven: code is an integer"),
    ("fire", ["shutdown_begin", "gc01"], "expected key=value or key:=json"),
    ("fire", ["shutdown_begin", "code:=[1"], "not JSON after ':='"),
    ("add-rule", ["actor=gc01"], "add-rule needs kind=KIND"),
    ("add-rule", ["kind=explode"], "unknown rule kind 'explode'"),
    ("add-rule", ["kind=drop", "colour=red"], "unknown argument 'colour'"),
    ("remove-rule", [], "remove-rule needs one rule id"),
    ("journal", ["state", "event"], "journal takes one KIND"),
])
def test_wrong_command_lines_are_named_before_sending(action, args, message):
    with pytest.raises(UsageError) as err:
        plan(action, args)
    assert message in str(err.value)


def test_usage_errors_exit_2_without_contacting_anything(tmp_path):
    # port 9 (discard) on loopback: nothing may be sent, so no connection error may appear
    done = ctl("--url", "http://127.0.0.1:9", "fire", "shutdown_begin", "gcc=gc01")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "fakegc ctl: unknown argument 'gcc' (known: gc, code)\n"


def test_missing_endpoints_file_is_one_line(tmp_path):
    done = ctl("--endpoints-json", "fakegc.json", "state", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        ("fakegc ctl: fakegc.json: no such file; start the server with `fakegc serve "
         "--endpoints-json fakegc.json` (it writes the file)")]
    (tmp_path / "bad.json").write_text("{not json")
    bad = ctl("--endpoints-json", "bad.json", "state", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert bad.stderr.startswith("fakegc ctl: bad.json: not an endpoints document")
    none = ctl("state")
    assert none.returncode == 2 and "--endpoints-json FILE" in none.stderr


def test_connection_refused_names_the_url_and_how_to_start(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        done = ctl("--url", f"http://127.0.0.1:{port}", "state")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"http://127.0.0.1:{port}" in done.stderr
    assert "fakegc serve --endpoints-json" in done.stderr


def test_ctl_does_not_load_the_cluster_stack():
    probe = ("import sys, runpy\nsys.argv = ['fakegc', 'ctl', '--url', 'http://127.0.0.1:9', "
             "'fire', 'nope']\ntry:\n    runpy.run_module('fakegc.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "import json\nprint(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    heavy = {"asyncio", "impacket", "cryptography", "yaml", "fakegc.scenario.cluster",
             "fakegc.rpc.server", "fakegc.directory.model", "fakegc.kdc.server"}
    assert not heavy & loaded, sorted(heavy & loaded)
    assert "fakegc.scenario.ctl" in loaded  # it did get as far as checking the command


def test_readable_answers_and_json_for_anything_unexpected():
    """What `ctl` prints for each action's answer (the admin server's JSON shapes); an answer of
    an unexpected shape is printed as JSON rather than misread."""
    from fakegc.cli_ctl import render

    state = {"state": "DOWN", "referral": "gc01", "pinned": None, "kdc_clock_offset": 0.0,
             "gcs": {"gc02": {"state": "up", "server_guid": "g2"},
                     "gc01": {"state": "down", "server_guid": "g1"}}}
    lines = render("state", state, []).splitlines()
    assert lines[0] == "state DOWN  referral gc01  pinned -  kdc clock offset 0.0s"
    assert [ln.split()[0] for ln in lines[1:]] == ["gc01", "gc02"]
    assert render("fire", {"connections_cut": 2}, ["gc_down"]) == "fired gc_down: connections_cut=2"
    assert render("fire", {}, ["reset"]) == "fired reset"
    assert render("journal", [], []) == "(no entries)"
    assert render("rules", [{"id": 3, "kind": "refuse", "actor": "gc02", "op": "*"}], []) == \
        "#3 kind=refuse actor=gc02"
    assert render("add-rule", {"id": 4}, []) == "rule #4 added"
    assert render("remove-rule", None, ["4"]) == "rule #4 removed"
    assert render("reset", {"state": "HEALTHY"}, []) == "reset: HEALTHY"
    assert json.loads(render("state", ["not", "a", "dict"], [])) == ["not", "a", "dict"]
    assert json.loads(render("endpoints", {"a": 1}, [])) == {"a": 1}

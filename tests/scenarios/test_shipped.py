"""Every shipped scenario loads and runs; malformed scenarios are refused with clear errors."""

from __future__ import annotations

import time

import pytest

from fakegc.scenario.model import ScenarioError, load_scenario, parse_scenario


def test_kb929439_is_the_articles_timeline():
    sc = load_scenario("kb929439")
    assert [s.event for s in sc.steps] == ["shutdown_begin", "gc_down", "new_gc_ready"]
    assert [s.expect for s in sc.steps] == ["NETWORK_ERROR", "NETWORK_ERROR", "END_OF_SESSION"]
    assert sc.cluster["principal_unknown_code"] == 7


@pytest.mark.parametrize("text,message", [
    ("[scenario]\nname='x'\n[[step]]\nevent='shutdown_begn'\n", r"x.toml:4: \[\[step\]\] #1: unknown event 'shutdown_begn'"),
    ("[scenario]\nname='x'\n[[step]]\nevent='gc_down'\nwhen=3\n", r"x.toml:5: \[\[step\]\] #1: unknown key 'when'"),
    ("[scenario]\nname='x'\n[[fault]]\nkind='explode'\n", r"x.toml:4: \[\[fault\]\] #1: unknown kind 'explode'"),
    ("[scenario]\nname='x'\n[[step]]\nevent='gc_down'\nat=-1\n", r"x.toml:5: .*at must be a non-negative"),
    ("[scenario]\nname='x'\n[cluster]\ngcz=['a']\n", r"x.toml:4: gcz: unknown \[cluster\] key"),
    ("[scenario]\nname = 'x\n", r"x.toml:2: not valid TOML"),
    ("[scenario]\ndescription='no name'\n", r"x.toml: \[scenario\] needs a name"),
    ("[scenario]\nname='x'\n[[step]]\nevent='gc_down'\nat=1\non_demand=true\n", r"give one of at / after / on_demand"),
])
def test_malformed_scenarios(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, "x.toml")


def test_unknown_scenario_name_lists_shipped():
    with pytest.raises(ScenarioError, match="kb929439"):
        load_scenario("no-such-scenario")


def test_count_triggered_step(ct):
    text = """[scenario]
name = "count"
[[step]]
event = "custom"
label = "after three binds"
after = { kind = "response", op = "NspiBind", count = 3 }
"""
    from impacket.dcerpc.v5 import nspi

    from tests.scenarios.test_timeline import dce

    ct.run_scenario(parse_scenario(text, "count.toml"))
    ep = ct.endpoints()
    d = dce(ep["actors"]["gc01"]["nspi"], nspi.MSRPC_UUID_NSPI)
    for _ in range(3):
        nspi.hNspiBind(d)
    deadline = time.monotonic() + 5
    while not ct.journal.count("event", event="custom") and time.monotonic() < deadline:
        time.sleep(0.02)
    ct.journal.expect("event", event="custom", label="after three binds")

"""Bad fixture, scenario and config files: one line naming file:line: key, exit status 2.

Issue #18 item 8.  Every case here printed a traceback, or loaded silently, before.
The oracles for what is "bad" are the formats' own specs, named per case.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from fakegc import cli

USER = "  - {alias: alice, display_name: Alice, password: 'Pw1!'}\n"


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err
    return code, err


def _one_line(err: str, where: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert where in lines[0], err


YAML_CASES = {
    # a display name is a string (MS-OXOABK 2.2.3.1 PidTagDisplayName is PtypString)
    "display_list": ("users:\n  - alias: bob\n    display_name: [a, b]\n", 2, "display_name"),
    # a password is text (RFC 4120 3.1.1: string-to-key takes a string)
    "password_int": ("users:\n  - alias: bob\n    password: 1234\n", 2, "password"),
    # YAML 1.2 3.2.1.1: mapping keys are unique
    "duplicate_key": ("users:\n  - alias: bob\n    title: a\n    title: b\n", 4, "title"),
    # RFC 8259 9: a parser may limit nesting depth (one line, not a RecursionError)
    "deep_yaml": ("users: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nested deeper"),
    # an integer CPython cannot convert (sys.get_int_max_str_digits)
    "huge_int": ("users:\n  - alias: bob\n    capacity: " + "9" * 100_000 + "\n", 3, "4300 digits"),
}


@pytest.mark.parametrize("name", sorted(YAML_CASES))
def test_bad_yaml_fixture_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      name: str) -> None:
    text, line, key = YAML_CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    code, err = _run(capsys, ["directory", "check", str(path)])
    assert code == 2
    _one_line(err, f"{path}:{line}: ")
    assert key in err


def test_bad_json_fixtures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"users":\n' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err = _run(capsys, ["directory", "check", str(deep)])
    assert code == 2  # RFC 8259 9: nesting limits are the parser's; we report where
    _one_line(err, f"{deep}:2: nested deeper")
    huge = tmp_path / "huge.json"
    huge.write_text('{"organization": "x",\n "n": ' + "1" * 100_000 + "}")
    code, err = _run(capsys, ["directory", "check", str(huge)])
    assert code == 2
    _one_line(err, f"{huge}:2: integer longer")


def test_encoding_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"organization: x\nusers:\n  - {alias: s\xf8ren}\n")  # RFC 3629: 0xF8 never occurs
    code, err = _run(capsys, ["directory", "check", str(path)])
    assert code == 2
    _one_line(err, f"{path}:3: not UTF-8")


def _ldif(guid_b64: str) -> str:
    return ("dn: CN=bob,DC=contoso,DC=test\nobjectClass: user\nsAMAccountName: bob\n"
            f"objectGUID:: {guid_b64}\n\n")


def test_ldif_bad_base64_and_short_guid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ldif"
    bad.write_text(_ldif("!!!not-base64"))  # RFC 2849: "::" introduces a BASE64-STRING
    code, err = _run(capsys, ["directory", "check", str(bad)])
    assert code == 2
    _one_line(err, f"{bad}:4: objectGUID: bad base64")
    short = tmp_path / "short.ldif"
    short.write_text(_ldif(base64.b64encode(b"\x01\x02\x03\x04").decode()))
    code, err = _run(capsys, ["directory", "check", str(short)])
    assert code == 2  # MS-ADA3 2.44 objectGUID: a 16-byte GUID
    _one_line(err, f"{short}:1: objectGUID")
    good = tmp_path / "good.ldif"
    raw = bytes(range(16))
    good.write_text(_ldif(base64.b64encode(raw).decode()))
    code, err = _run(capsys, ["directory", "check", str(good)])
    assert code == 0, err


CONFIG_CASES = {
    # RFC 793 3.1: ports are 16 bits
    "admin_port": ("[cluster]\nadmin_port = 70000\n", 2, "admin_port"),
    "ports": ("[cluster]\ngcs = ['gc01']\nports = {kdc = 70000}\n", 3, "ports"),
    # gcs is a list of GC names (a string would become g, c, 0, 1)
    "gcs_string": ("[cluster]\n\ngcs = \"gc01\"\n", 3, "gcs"),
    "bool_as_text": ("[cluster]\nallow_anonymous = \"yes\"\n", 2, "allow_anonymous"),
    # TOML 1.0: a key defined twice is invalid
    "dup_toml": ("[cluster]\nrealm = 'A'\nrealm = 'B'\n", 3, "not valid TOML"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_bad_config_stops_serve_before_listening(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 name: str) -> None:
    text, line, key = CONFIG_CASES[name]
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    code, err = _run(capsys, ["serve", "--config", str(path)])
    assert code == 2
    _one_line(err, f"{path}:{line}: ")
    assert key in err


def test_serve_bad_directory_and_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = tmp_path / "d.yaml"
    fixture.write_text("users:\n  - alias: bob\n    display_name: [a]\n")
    code, err = _run(capsys, ["serve", "--directory", str(fixture)])
    assert code == 2
    _one_line(err, f"{fixture}:2: display_name")
    scenario = tmp_path / "s.toml"
    scenario.write_text("[scenario]\nname = 'x'\n\n[[step]]\nevent = 'gc_down'\ngc = 'gc99'\nat = 1\n")
    code, err = _run(capsys, ["serve", "--scenario", str(scenario)])
    assert code == 2  # the default cluster has gc01 and gc02 only
    _one_line(err, f"{scenario}:6: gc: ")
    assert "gc99" in err
    code, err = _run(capsys, ["serve", "--scenario", str(tmp_path / "missing.toml")])
    assert code == 2
    _one_line(err, "missing.toml")


def test_scenario_unknown_actor_fails_at_run_scenario() -> None:
    from fakegc.runner import BackgroundLoop
    from fakegc.scenario.cluster import Cluster
    from fakegc.scenario.model import ScenarioError, parse_scenario

    sc = parse_scenario("[scenario]\nname='x'\n[[step]]\nevent='gc_down'\ngc='gc99'\nat=0\n", "s.toml")
    loop = BackgroundLoop().start()
    try:
        cluster = loop.run(Cluster.start())
        try:
            with pytest.raises(ScenarioError, match=r"s.toml:5: gc: .*gc99"):
                loop.run(cluster.run_scenario(sc))
        finally:
            loop.run(cluster.close())
    finally:
        loop.stop()
    with pytest.raises(ScenarioError, match=r"s.toml:7: gc: "):
        parse_scenario("[scenario]\nname='x'\n[cluster]\ngcs=['gc01']\n[[step]]\nevent='gc_down'\n"
                       "gc='gc02'\nat=0\n", "s.toml")


def test_limits_tables_are_typed(tmp_path: Path) -> None:
    from fakegc.scenario.cluster import ClusterConfig
    from fakegc.scenario.configcheck import ConfigError

    good = tmp_path / "good.toml"
    good.write_text("[cluster]\n[cluster.limits]\nidle_timeout = 5\n[cluster.kdc_tcp]\n"
                    "read_timeout = 2.5\n")
    cfg = ClusterConfig.load(good)
    assert cfg.limits.idle_timeout == 5 and cfg.kdc_tcp.read_timeout == 2.5
    bad = tmp_path / "bad.toml"
    bad.write_text("[cluster]\n[cluster.limits]\nidle_timeout = 'soon'\n")
    with pytest.raises(ConfigError, match=r"bad.toml:3: idle_timeout: must be a number"):
        ClusterConfig.load(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[cluster]\n[cluster.kdc_tcp]\nidle = 1\n")
    with pytest.raises(ConfigError, match=r"typo.toml:3: idle: unknown \[cluster.kdc_tcp\] key"):
        ClusterConfig.load(typo)

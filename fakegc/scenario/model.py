"""Scenarios as data: TOML files validated on load, errors naming the key and line.

Layout (see ``fixtures/scenarios/*.toml``)::

    [scenario]
    name = "kb929439"
    description = "..."
    seed = 1

    [cluster]                # optional ClusterConfig overrides
    gcs = ["gc01", "gc02"]
    principal_unknown_code = 7
    service_etypes = { gc02 = [23] }   # gc02's accounts: rc4-hmac only

    [[step]]                 # the timeline, in order
    event = "shutdown_begin" # one of fakegc.scenario.events.EVENTS
    gc = "gc01"              # event arguments
    at = 1.0                 # seconds after start ...
    # after = { kind = "request", op = "NspiQueryRows", count = 3 }   ... or after N matching
    #                                                                  journal entries ...
    # on_demand = true                                                  ... or only when fired
    expect = "NETWORK_ERROR" # optional: what a client should see in this phase (documentation
                             # and the KB demo's reference column)

    [[fault]]                # fault rules installed when the scenario starts
    kind = "rpc_fault"       # fakegc.scenario.rules.KINDS
    actor = "gc01"
    op = "NspiQueryRows"
    value = 0x1C00001A
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakegc.resources import shipped as shipped_data
from fakegc.scenario.config import ClusterConfig
from fakegc.scenario.events import EVENTS
from fakegc.scenario.rules import KINDS, FaultRule

__all__ = [
    "SHIPPED_DIR",
    "Scenario",
    "ScenarioError",
    "Step",
    "load_scenario",
    "parse_scenario",
    "shipped",
]

SHIPPED_DIR = shipped_data("scenarios")
_STEP_KEYS = {"event", "at", "after", "on_demand", "expect", "note", "gc", "code", "keep_guid",
              "seconds", "label", "deregister"}
_AFTER_KEYS = {"kind", "count", "op", "actor", "interface", "code", "event", "msg", "service"}
_FAULT_KEYS = {"kind", "actor", "interface", "opnum", "op", "principal", "service", "msg", "value",
               "delay", "after", "times", "probability", "seed", "name"}


class ScenarioError(ValueError):
    """A scenario file that does not validate; the message names the key and line."""


@dataclass
class Step:
    """One timeline entry."""

    event: str
    args: dict[str, Any] = field(default_factory=dict)
    at: float | None = None
    after: dict[str, Any] | None = None
    on_demand: bool = False
    expect: str | None = None
    note: str = ""
    line: int | None = None  # where the step's ``gc`` (or its table) is in the file


@dataclass
class Scenario:
    """A parsed scenario."""

    name: str
    description: str = ""
    seed: int = 0
    cluster: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    source: str = "<scenario>"

    def cluster_config(self, base: ClusterConfig | None = None) -> ClusterConfig:
        """The ClusterConfig this scenario asks for."""
        cfg = base or ClusterConfig()
        merged = ClusterConfig.from_dict(self.cluster, self.source) if self.cluster else ClusterConfig()
        for key in self.cluster:
            setattr(cfg, key, getattr(merged, key))
        return cfg

    def check_actors(self, gcs: Any) -> None:
        """Every step's ``gc`` must name one of ``gcs`` (checked at load, not mid-run)."""
        known = list(gcs)
        for i, step in enumerate(self.steps):
            gc = step.args.get("gc")
            if gc is not None and gc not in known:
                where = f"{self.source}:{step.line}" if step.line else self.source
                raise ScenarioError(f"{where}: gc: [[step]] #{i + 1} names unknown GC {gc!r} "
                                    f"(the cluster has {', '.join(known)})")

    def fault_rules(self) -> list[FaultRule]:
        """Fresh FaultRule objects for the ``[[fault]]`` tables."""
        return [FaultRule(**{"seed": self.seed, **f}) for f in self.faults]


def _line_of(text: str, table: str, index: int, key: str | None = None) -> int | None:
    """Best-effort line number of the ``index``-th ``[[table]]`` (and ``key`` inside it)."""
    headers = [m.start() for m in re.finditer(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]", text, re.MULTILINE)]
    if index >= len(headers):
        return None
    start = headers[index]
    line = text.count("\n", 0, start) + 1
    if key:
        end = headers[index + 1] if index + 1 < len(headers) else len(text)
        m = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text[start:end], re.MULTILINE)
        if m:
            line = text.count("\n", 0, start + m.start()) + 1
    return line


def _line_of_key(text: str, key: str) -> int | None:
    m = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML; every error names file:line (and the key)."""

    def fail(message: str, line: int | None = None) -> ScenarioError:
        where = f"{source}:{line}" if line else source
        return ScenarioError(f"{where}: {message}")

    doc = _toml(text, fail)
    unknown = set(doc) - {"scenario", "cluster", "step", "fault"}
    if unknown:
        raise fail(f"unknown top-level table(s): {', '.join(sorted(unknown))}")
    head = doc.get("scenario", {})
    if not isinstance(head, dict) or "name" not in head:
        raise fail("[scenario] needs a name")
    if not isinstance(head.get("seed", 0), int) or isinstance(head.get("seed"), bool):
        raise fail("seed: must be a whole number", _line_of_key(text, "seed"))
    sc = Scenario(str(head["name"]), str(head.get("description", "")), int(head.get("seed", 0)),
                  source=source)
    cluster = doc.get("cluster", {})
    try:
        ClusterConfig.from_dict(cluster, source, text)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    sc.cluster = cluster
    for section in ("step", "fault"):
        if not isinstance(doc.get(section, []), list) or not all(
                isinstance(t, dict) for t in doc.get(section, [])):
            raise fail(f"{section}: must be an array of tables [[{section}]]")
    sc.steps = [_step(text, i, raw, fail) for i, raw in enumerate(doc.get("step", []))]
    sc.faults = [_fault(text, i, raw, fail) for i, raw in enumerate(doc.get("fault", []))]
    if "gcs" in cluster:
        sc.check_actors(cluster["gcs"])
    return sc


_Fail = Callable[..., ScenarioError]


def _toml(text: str, fail: _Fail) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else (text.rstrip("\n").count("\n") + 1
                                          if "end of document" in str(exc) else None)
        raise fail(f"not valid TOML: {exc}", line) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer over 4300 digits
        raise fail(f"not valid TOML: {str(exc).splitlines()[0][:120]}", 1) from None


_STEP_TYPES: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("gc", str, "text"), ("code", int, "a whole number"), ("keep_guid", bool, "true/false"),
    ("seconds", (int, float), "a number"), ("label", str, "text"), ("on_demand", bool, "true/false"),
    ("expect", str, "text"), ("note", str, "text"), ("deregister", bool, "true/false"))


def _step(text: str, i: int, raw: dict[str, Any], fail: _Fail) -> Step:
    """One ``[[step]]``: its event, one trigger (at / after / on_demand), typed arguments."""
    bad = set(raw) - _STEP_KEYS
    if bad:
        key = min(bad)
        raise fail(f"[[step]] #{i + 1}: unknown key {key!r}", _line_of(text, "step", i, key))
    event = raw.get("event")
    if event not in EVENTS:
        raise fail(f"[[step]] #{i + 1}: unknown event {event!r} (one of {', '.join(EVENTS)})",
                   _line_of(text, "step", i, "event"))
    triggers = [k for k in ("at", "after", "on_demand") if k in raw]
    if len(triggers) > 1:
        raise fail(f"[[step]] #{i + 1}: give one of at / after / on_demand, not {triggers}",
                   _line_of(text, "step", i, triggers[1]))
    after = _after(text, i, raw.get("after"), fail)
    at = raw.get("at")
    if at is not None and (not isinstance(at, (int, float)) or at < 0):
        raise fail(f"[[step]] #{i + 1}: at must be a non-negative number of seconds",
                   _line_of(text, "step", i, "at"))
    for key, types_, what in _STEP_TYPES:
        if key in raw and (not isinstance(raw[key], types_)
                           or (types_ is not bool and isinstance(raw[key], bool))):
            raise fail(f"{key}: [[step]] #{i + 1}: must be {what}", _line_of(text, "step", i, key))
    args = {k: v for k, v in raw.items() if k in ("gc", "code", "keep_guid", "seconds", "label",
                                                   "deregister")}
    return Step(str(event), args, float(at) if at is not None else None, after,
                bool(raw.get("on_demand", False)), raw.get("expect"), str(raw.get("note", "")),
                _line_of(text, "step", i, "gc" if "gc" in raw else None))


def _after(text: str, i: int, after: Any, fail: _Fail) -> dict[str, Any] | None:
    """A step's ``after`` trigger: a table naming a journal kind (and entry fields)."""
    if after is None:
        return None
    if not isinstance(after, dict) or "kind" not in after:
        raise fail(f"[[step]] #{i + 1}: after needs a table with a journal kind",
                   _line_of(text, "step", i, "after"))
    bad = set(after) - _AFTER_KEYS
    if bad:
        raise fail(f"[[step]] #{i + 1}: unknown after key {min(bad)!r}",
                   _line_of(text, "step", i, "after"))
    return after


def _fault(text: str, i: int, raw: dict[str, Any], fail: _Fail) -> dict[str, Any]:
    """One ``[[fault]]``: a known kind whose fields build a :class:`FaultRule`."""
    bad = set(raw) - _FAULT_KEYS
    if bad:
        key = min(bad)
        raise fail(f"[[fault]] #{i + 1}: unknown key {key!r}", _line_of(text, "fault", i, key))
    if raw.get("kind") not in KINDS:
        raise fail(f"[[fault]] #{i + 1}: unknown kind {raw.get('kind')!r} (one of {', '.join(KINDS)})",
                   _line_of(text, "fault", i, "kind"))
    try:
        FaultRule(**raw)
    except (TypeError, ValueError) as exc:
        raise fail(f"[[fault]] #{i + 1}: {exc}", _line_of(text, "fault", i)) from None
    return dict(raw)


def shipped() -> list[Path]:
    """The scenario files shipped with the package (``fixtures/scenarios``)."""
    return sorted(SHIPPED_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``kb929439``) or a TOML file by path."""
    p = Path(name_or_path)
    if not p.exists():
        candidate = SHIPPED_DIR / f"{name_or_path}.toml"
        if not candidate.exists():
            names = ", ".join(x.stem for x in shipped())
            raise ScenarioError(f"no scenario {name_or_path!r} (shipped: {names})")
        p = candidate
    try:
        data = p.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(f"{p}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    return parse_scenario(text, str(p))

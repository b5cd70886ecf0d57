"""The line of a JSON fixture's entry without a second parse for marks (fakegc/directory/jsonlines.py).

Oracles: PyYAML's node marks — JSON is YAML, and the loader used to re-parse a refused JSON
fixture as YAML to get exactly these lines — and the json module (RFC 8259) for the entry's
bytes.  The loader's messages for a refused JSON fixture must equal the ones the YAML route
gives for the same text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fakegc.directory import jsonlines, loader
from fakegc.directory.errors import FixtureError

_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=6)
_VALUE = st.recursive(_TEXT | st.integers(-1000, 1000) | st.booleans(),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                      max_leaves=6)
_ENTRY = st.one_of(st.dictionaries(_TEXT, _VALUE, max_size=4), _VALUE)
_SECTIONS = st.dictionaries(st.sampled_from(["users", "groups", "servers", "x"]),
                            st.lists(_ENTRY, min_size=1, max_size=5), min_size=1)


def _yaml_lines(text: str, section: str) -> list[int]:
    """PyYAML's start line of every entry of ``section`` (the last key of that name)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    value = [v for k, v in root.value if k.value == section][-1]
    return [node.start_mark.line + 1 for node in value.value]


@settings(max_examples=200, deadline=None)
@given(doc=_SECTIONS, indent=st.sampled_from([None, 0, 1, 2]), data=st.data())
def test_locate_agrees_with_yaml_marks(doc: dict[str, Any], indent: int | None, data: st.DataObject) -> None:
    text = json.dumps({"organization": "x", **doc}, indent=indent)  # ASCII: \\u escapes only
    section = data.draw(st.sampled_from(sorted(doc)))
    index = data.draw(st.integers(0, len(doc[section]) - 1))
    found = jsonlines.locate(text.encode(), section, index)
    assert found is not None
    line, piece = found
    assert line == _yaml_lines(text, section)[index]  # oracle: PyYAML's mark for the node
    assert json.loads(piece) == doc[section][index]  # oracle: json (RFC 8259)


def test_identical_entries_are_told_apart() -> None:
    text = '{"users": [\n{"alias": "a"},\n{"alias": "a"},\n  {"alias": "a"}]}'
    # PyYAML's marks give lines 2, 3, 4: the search resumes after the previous entry
    assert [jsonlines.locate(text, "users", i)[0] for i in range(3)] == _yaml_lines(text, "users")  # type: ignore[index]


def test_shapes_it_cannot_place() -> None:
    assert jsonlines.locate(b'{"users": [{}]}', "groups", 0) is None
    assert jsonlines.locate(b'{"users": [{}]}', "users", 1) is None
    assert jsonlines.locate(b'{"users": {"a": 1}}', "users", 0) is None
    assert jsonlines.locate(b"[1, 2]", "users", 0) is None


def _fixture(users: list[Any], groups: list[Any] | None = None, lists: list[Any] | None = None) -> str:
    doc: dict[str, Any] = {"organization": "x", "servers": [{"name": "ex01"}], "users": users}
    if groups is not None:
        doc["groups"] = groups
    if lists is not None:
        doc["address_lists"] = lists
    return json.dumps(doc, indent=1)


_GOOD = [{"alias": f"u{i}", "display_name": f"U {i}"} for i in range(40)]
_BAD = {
    "type": _fixture([*_GOOD[:30], {"alias": 7}, *_GOOD[30:]]),
    "duplicate": _fixture([*_GOOD, {"alias": "U3"}]),
    "unknown field": _fixture([*_GOOD[:5], {"alias": "z", "colour": "red"}]),
    "member": _fixture(_GOOD, [{"alias": "g1", "members": ["u1"]}, {"alias": "g2", "members": ["ghost"]}]),
    "list": _fixture(_GOOD, None, [{"name": "L", "title": "x"}, {"name": "M", "shade": "y"}]),
    "server": json.dumps({"servers": [{"name": "ex01"}, {"fqdn": "x"}], "users": _GOOD}, indent=1),
}


@pytest.mark.parametrize("case", sorted(_BAD))
def test_json_errors_match_the_yaml_route(case: str) -> None:
    text = _BAD[case]
    with pytest.raises(FixtureError) as by_yaml:
        loader.load_yaml_text(text, "f.json")  # JSON is YAML: the route the loader took before
    with pytest.raises(FixtureError) as by_json:
        loader.load_json_text(text.encode(), "f.json")
    assert str(by_json.value) == str(by_yaml.value)
    assert not str(by_json.value).startswith("f.json:1:")  # a real line, not the fallback


def test_a_non_mapping_entry_is_placed_too() -> None:
    text = _fixture([*_GOOD[:3], 5])
    with pytest.raises(FixtureError) as err:
        loader.load_json_text(text.encode(), "f.json")
    line = _yaml_lines(text, "users")[3]  # oracle: PyYAML's mark of the fourth entry
    assert str(err.value) == f"f.json:{line}: each entry of users must be a mapping"

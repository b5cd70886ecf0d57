"""The JSON loader's faster build (issue #19, 1M users in under 10 s) against what it replaced.

* msgspec parses JSON fixtures; the json module (the parser before) is the oracle: whatever
  msgspec accepts it must give json's value for, and whatever it refuses is parsed again by
  json, so the errors are json's, naming the line.
* the all-text entry shortcut in ``_add_entry`` and ``Directory.add``'s inlined body: a
  directory built with the shortcut disabled (every entry through the full checks) is the
  oracle, object by object, properties in the same order.
* objectGUIDs are derived on first read: RFC 4122 §4.3 uuid5(NAMESPACE_DNS, alias.domain),
  computed by Python's uuid module, is the oracle (the value the loader stored before).
* the depth walk skips recipient entries: a too-deep entry still gives the one-line
  "nested deeper" error naming its line (issue #18), now through the YAML re-parse.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakegc.directory import loader, typed
from fakegc.directory.errors import FixtureError
from fakegc.directory.generate import generate_text
from fakegc.directory.model import Directory

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@given(_JSON, st.sampled_from([None, 1]))
@settings(max_examples=300, deadline=None)
def test_msgspec_gives_json_modules_values(doc: Any, indent: int | None) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    # oracle: the json module (RFC 8259), the parser the loader used before
    assert msgspec.json.decode(text.encode()) == json.loads(text)


def test_refused_by_msgspec_reported_by_json() -> None:
    # RFC 8259 6: NaN is not JSON, but Python's json reads it; the loader keeps json's reading
    d = loader.load_json_text(b'{"users": [{"alias": "a", "title": NaN}]}', "nan.json")
    a = d.find_alias("a")
    assert a is not None and a.props[loader.P.PR_TITLE] == str(json.loads("NaN"))
    cases = [
        # RFC 8259 9: a parser may limit integers; CPython's limit is 4300 digits
        ('{"organization": "x",\n "n": ' + "1" * 5000 + "}", 2, "integer longer"),
        # RFC 8259 2: a trailing comma is not JSON; json's message names the line
        ('{"organization": "x",\n "users": [],\n}', 3, "not valid JSON"),
    ]
    for bad, at, expect in cases:
        with pytest.raises(FixtureError) as err:
            loader.load_json_text(bad.encode(), "bad.json")
        assert expect in str(err.value)
        if at is not None:
            assert str(err.value).startswith(f"bad.json:{at}:")


def test_json_from_bytes_names_a_non_utf8_line() -> None:
    # RFC 3629: 0xFF never occurs in UTF-8; the message is read_text's (issue #18)
    with pytest.raises(FixtureError) as err:
        loader.load_json_text(b'{"organization": "x",\n "users": [{"alias": "s\xffren"}]}', "l1.json")
    assert str(err.value).startswith("l1.json:2: not UTF-8")


def _general(text: str | bytes, source: str) -> Directory:
    """The loader with both fast paths off: no typed decoding, every entry through the full
    checks (the oracle the fast paths are held to)."""
    shortcut, decode = loader._LIST_KEYS, typed.decode

    def refuse(data: str | bytes) -> Any:
        raise typed.Fallback

    loader._LIST_KEYS = frozenset(loader._KNOWN)  # no entry takes the all-text shortcut
    typed.decode = refuse  # type: ignore[assignment]
    try:
        return loader.load_json_text(text, source)
    finally:
        loader._LIST_KEYS, typed.decode = shortcut, decode


def _snapshot(d: Directory) -> list[tuple[Any, ...]]:
    return [(o.mid, o.kind, o.alias, o.dn, o.display_name, o.guid_le, list(o.props.items()),
             o.members, o.member_of, o.password, o.in_gal, o.line, o.fqdn) for o in d]


def _random_fixture(rng: random.Random) -> str:
    users = []
    for i in range(rng.randrange(1, 40)):
        entry: dict[str, Any] = {"alias": rng.choice([f"u{i}", f"U{i}", f"Σσ{i}", f"ü{i}"])}
        for key in rng.sample(sorted(loader._USER_FIELDS) + ["display_name", "password", "smtp",
                                                            "home_server", "dn", "guid"],
                              rng.randrange(0, 8)):
            entry[key] = {"home_server": rng.choice(["ex02", "EX01", "nope"]),
                          "dn": f"/o=Other/cn=x{i}", "guid": str(uuid.UUID(int=i + 1)),
                          "smtp": f"s{i}@example.test"}.get(key, rng.choice(["Sales", "Å b", "", None]))
        if rng.random() < 0.2:
            entry["proxies"] = [f"smtp:p{i}@example.test"]
        if rng.random() < 0.1:
            entry["title"] = rng.choice([3, 1.5])
        if users and rng.random() < 0.02:
            entry["alias"] = users[-1]["alias"].upper()  # a duplicate: the same error either way
        users.append(entry)
    return json.dumps({"organization": rng.choice(["Contoso", "ΑΣ"]), "servers": [{"name": "ex01"}, {"name": "ex02"}],
                       "users": users, "rooms": [{"alias": "r1", "capacity": 4}],
                       "groups": [{"alias": "g", "members": [users[0]["alias"]]}]})


@pytest.mark.parametrize("seed", range(4))
def test_shortcut_builds_what_the_full_checks_build(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        text = _random_fixture(rng)
        try:
            fast: Any = _snapshot(loader.load_json_text(text, "r.json"))
        except FixtureError as exc:
            fast = str(exc)
        try:
            full: Any = _snapshot(_general(text, "r.json"))
        except FixtureError as exc:
            full = str(exc)
        assert fast == full  # oracle: the full checks and _entry_props (harden's rules)


def test_a_generated_fixture_builds_the_same_either_way() -> None:
    text = generate_text(300, seed=3, fmt="json")
    assert isinstance(typed.decode(text)["users"][0], typed.Entry)  # the typed path takes it
    assert _snapshot(loader.load_json_text(text, "g.json")) == _snapshot(_general(text, "g.json"))


def test_derived_guid_is_uuid5_of_alias_and_domain() -> None:
    d = loader.load_json_text(generate_text(50, fmt="json"), "g.json")
    given_guid = uuid.UUID(int=7)
    explicit = d.add("user", "explicit", "Explicit", object_guid=given_guid)
    for obj in d:
        if obj is explicit:
            assert obj.guid_le == given_guid.bytes_le
            continue
        # oracle: RFC 4122 §4.3 through Python's uuid module (what the loader stored before)
        want = uuid.uuid5(uuid.NAMESPACE_DNS, f"{obj.alias}.{d.dns_domain}")
        assert isinstance(obj.guid_src, str)  # not derived yet
        assert obj.object_guid == want and obj.guid_le == want.bytes_le
        assert obj.guid_src == want.bytes_le  # kept
    view = d.copy()
    alice = view.writable(view.find_alias("u000001") or explicit)
    assert alice.guid_le == uuid.uuid5(uuid.NAMESPACE_DNS, f"{alice.alias}.{d.dns_domain}").bytes_le
    # MS-OXNSPI 3.1.4.1.13: a /guid= DN names the object by its objectGUID
    assert d.find_dn(f"/guid={alice.guid_le.hex()}") is not None


def _deep(depth: int) -> Any:
    node: Any = "x"
    for _ in range(depth):
        node = [node]
    return node


@pytest.mark.parametrize("where", ["entry", "field", "members", "proxies", "line", "unknown"])
def test_deep_recipient_entry_names_its_line(where: str) -> None:
    deep = _deep(loader.MAX_DEPTH + 3)
    entry: Any = {"alias": "bob", "display_name": "Bob"}
    section = "users"
    if where == "entry":
        entry = deep
    elif where == "field":
        entry["title"] = deep
    elif where == "members":
        section, entry = "groups", {"alias": "g", "members": deep}
    elif where == "proxies":
        entry["proxies"] = deep
    elif where == "line":
        entry["__line__"] = deep
    else:
        entry["colour"] = deep
    text = '{"organization": "x",\n "' + section + '": [\n' + json.dumps(entry) + "\n]}"
    with pytest.raises(FixtureError) as err:
        loader.load_json_text(text.encode(), "deep.json")
    # RFC 8259 9 (a parser may limit nesting): one line naming where (issue #18)
    assert str(err.value).startswith("deep.json:3: nested deeper"), str(err.value)


def test_guid_dn_lookup_agrees_with_the_scan() -> None:
    d = loader.load_json_text(generate_text(60, fmt="json"), "g.json")
    twin = d.add("user", "twin", "Twin", object_guid=uuid.UUID(bytes_le=next(iter(d)).guid_le))
    for obj in list(d):
        # MS-OXNSPI 3.1.4.1.13 GUID-form DNs; oracle: the scan find_dn ran before (first match)
        first = next(o for o in d if o.guid_le == obj.guid_le)
        assert d.find_dn(f"/guid={obj.guid_le.hex()}") is first
        zeros = "0" * 32
        assert d.find_dn(f"/o=NT5/ou={zeros}/cn={obj.guid_le.hex().upper()}") is first
    assert d.find_dn(f"/guid={twin.guid_le.hex()}") is not twin  # the first object keeps it
    late = d.add("user", "late", "Late")  # a new version: the index is rebuilt
    assert d.find_dn(f"/guid={late.guid_le.hex()}") is late
    assert d.find_dn("/guid=" + "ab" * 16) is None

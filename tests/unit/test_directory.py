"""The directory model and its fixture loaders (issue #3 item 1–2)."""

from __future__ import annotations

import io

import pytest

from fakegc.directory import Directory, loader, sort_key
from fakegc.directory import props as P
from fakegc.directory.generate import generate, write_json, write_yaml
from fakegc.directory.loader import FixtureError, load_json_text, load_ldif_text, load_yaml_text


def test_default_fixture_is_realistic():
    d = loader.load_default()
    s = d.summary()
    assert s["user"] >= 300 and s["group"] >= 5 and s["contact"] >= 10 and s["room"] >= 1
    assert any(any(ord(ch) > 127 for ch in o.display_name) for o in d)
    alice = d.find_alias("alice")
    assert alice.dn == "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=alice"
    assert alice.smtp == "alice@contoso.test" and alice.password == "Passw0rd!"
    assert alice.props[P.PR_EMS_AB_HOME_MDB].startswith(d.server_dn("ex01"))
    sales = d.find_alias("sales")
    assert {d.objects[m].alias for m in sales.members} == {"alice", "bob"}
    ex01 = d.servers["ex01"]
    assert ex01.dn.endswith("/cn=Configuration/cn=Servers/cn=ex01") and not ex01.in_gal
    assert ex01.props[P.PR_EMS_AB_NETWORK_ADDRESS][0] == "ncacn_ip_tcp:ex01.contoso.test"


def test_default_copies_are_independent():
    # oracle: the source directory (a copy is copy-on-write: written objects are its own)
    a, b = loader.load_default(), loader.load_default()
    a.writable(a.find_alias("alice")).display_name = "changed"
    assert a.find_alias("alice").display_name == "changed"
    assert b.find_alias("alice").display_name == "Alice Wonder"
    sales, dl = a.find_alias("sales"), a.find_alias("dl-000")
    a.remove_member(sales, a.find_alias("bob"))
    a.add_member(dl, a.find_alias("alice"))
    assert a.find_alias("bob").mid not in a.find_alias("sales").members
    assert a.find_alias("bob").mid in b.find_alias("sales").members
    assert a.find_alias("dl-000").mid in a.find_alias("alice").member_of
    assert b.find_alias("dl-000").mid not in b.find_alias("alice").member_of
    c = a.copy()
    assert c.find_alias("alice").display_name == "changed"
    c.writable(c.find_alias("alice")).display_name = "again"
    assert a.find_alias("alice").display_name == "changed"


def test_gal_sorted_by_display_name_and_locale():
    d = Directory()
    for alias, name in [("a", "Zoë"), ("b", "Ärger"), ("c", "Anna"), ("e", "Öberg"), ("f", "Zed")]:
        d.add("user", alias, name)
    names = lambda locale: [d.objects[m].display_name for m in d.table(d.gal, locale)]
    assert names(0x409) == ["Anna", "Ärger", "Öberg", "Zed", "Zoë"]
    assert names(0x41D) == ["Anna", "Zed", "Zoë", "Ärger", "Öberg"]  # Swedish: ä, ö after z
    assert sort_key("Ärger", 0x407) == "aerger"


def test_bad_fixture_names_file_and_line():
    text = "organization: X\nusers:\n  - {alias: ok, display_name: OK}\n  - {display_name: no alias}\n"
    with pytest.raises(FixtureError, match=r"fx.yaml:4: an entry of users needs an alias"):
        load_yaml_text(text, "fx.yaml")
    with pytest.raises(FixtureError, match=r"fx.yaml:3: unknown field"):
        load_yaml_text("users:\n  - {alias: a}\n  - {alias: b, colour: red}\n", "fx.yaml")
    with pytest.raises(FixtureError, match=r"fx.yaml:2: group g: unknown member 'ghost'"):
        load_yaml_text("groups:\n  - {alias: g, members: [ghost]}\n", "fx.yaml")
    with pytest.raises(FixtureError, match=r"fx.yaml:3: duplicate alias"):
        load_yaml_text("users:\n  - {alias: a}\n  - {alias: A}\n", "fx.yaml")
    with pytest.raises(FixtureError, match=r"fx.yaml:3: not valid YAML"):
        load_yaml_text("users:\n  - {alias: [\n", "fx.yaml")


def test_json_fixture_errors_still_name_the_line():
    buf = io.StringIO()
    write_json(10, buf)
    broken = buf.getvalue().replace('"alias": "bob"', '"alias": "alice"')
    with pytest.raises(FixtureError, match=r"big.json:\d+: duplicate alias 'alice'"):
        load_json_text(broken, "big.json")


def test_generated_yaml_and_json_agree():
    y, j = io.StringIO(), io.StringIO()
    write_yaml(60, y, seed=3)
    write_json(60, j, seed=3)
    a, b = load_yaml_text(y.getvalue()), load_json_text(j.getvalue())
    assert [(o.alias, o.display_name) for o in a] == [(o.alias, o.display_name) for o in b]


def test_large_directory_generates_and_loads():
    d = generate(20_000)  # its timing is reported by benchmarks/bench_nspi.py, not asserted
    assert len([o for o in d if o.kind == "user"]) == 20_000


LDIF = """dn: CN=Alice Wonder,OU=Staff,DC=contoso,DC=test
objectClass: top
objectClass: user
sAMAccountName: alice
displayName: Alice Wonder
mail: alice@contoso.test
department: Engineering
proxyAddresses: SMTP:alice@contoso.test
proxyAddresses: smtp:a.wonder@contoso.test
userPassword: Passw0rd!

dn: CN=Team,OU=Groups,DC=contoso,DC=test
objectClass: group
sAMAccountName: team
displayName:: VMOpYW0gw4lxdWlwZQ==
member: CN=Alice Wonder,OU=Staff,DC=contoso,DC=test
"""


def test_ldif_export_loads():
    d = load_ldif_text(LDIF)
    alice = d.find_alias("alice")
    assert alice.props[P.PR_DEPARTMENT_NAME] == "Engineering"
    assert "smtp:a.wonder@contoso.test" in alice.props[P.PR_EMS_AB_PROXY_ADDRESSES]
    team = d.find_alias("team")
    assert team.display_name == "Téam Équipe" and team.members == [alice.mid]
    with pytest.raises(FixtureError, match="member 'CN=Ghost"):
        load_ldif_text(LDIF.replace("member: CN=Alice Wonder", "member: CN=Ghost"))

"""Properties answered from an object's own fields rather than stored per object (issue #19
memory): they must read as the stored ones did, through the NSPI row layer, and a change
through ``writable`` (NspiModProps) must not move them."""

from __future__ import annotations

import uuid
from typing import Any

from fakegc.directory import Directory, loader
from fakegc.directory import props as P
from fakegc.directory.model import AbObject
from fakegc.nspi.rows import MISSING, all_tags, object_value


def _value(obj: AbObject | None, tag: int) -> Any:
    assert obj is not None
    return object_value(Directory(), obj, tag, uuid.UUID(int=1), False)  # permanent IDs, GAL


def test_derived_properties_read_as_stored_ones() -> None:
    d = loader.load_default()
    for obj in d:
        # MS-OXOABK 2.2.3.1 (PR_DISPLAY_NAME), 2.2.3.11 (PR_ACCOUNT = sAMAccountName)
        assert _value(obj, P.PR_DISPLAY_NAME) == obj.display_name
        assert _value(obj, P.PR_ACCOUNT) == obj.alias
        # MS-OXOABK 2.2.3.24: objectGUID, 16 bytes little-endian
        assert _value(obj, P.PR_EMS_AB_OBJECT_GUID) == obj.guid_le
        tags = all_tags(obj)
        assert len(tags) == len(set(tags))
        assert {P.PR_DISPLAY_NAME, P.PR_ACCOUNT, P.PR_EMS_AB_OBJECT_GUID} <= set(tags)
        proxies = _value(obj, P.PR_EMS_AB_PROXY_ADDRESSES)
        if obj.kind == "server":
            assert proxies is MISSING
            continue
        # MS-OXOABK 2.2.3.23 proxyAddresses: the primary SMTP address upper-case "SMTP:",
        # and (Exchange recipients) the X500 form of the legacyExchangeDN
        assert f"SMTP:{obj.smtp}" in proxies
        assert (f"X500:{obj.dn}" in proxies) == (obj.kind != "contact")
        assert P.PR_EMS_AB_PROXY_ADDRESSES in tags


def test_a_changed_smtp_address_keeps_the_proxies() -> None:
    d = loader.load_default()
    view = d.copy()
    alice = view.find_alias("alice")
    assert alice is not None
    before = _value(alice, P.PR_EMS_AB_PROXY_ADDRESSES)
    mine = view.writable(alice)
    mine.props[P.PR_SMTP_ADDRESS] = "changed@contoso.test"
    assert _value(mine, P.PR_EMS_AB_PROXY_ADDRESSES) == before
    assert _value(d.find_alias("alice"), P.PR_SMTP_ADDRESS) != "changed@contoso.test"  # COW


def test_dn_lookup_without_a_lowercased_copy() -> None:
    d = Directory()
    bob = d.add("user", "Bob", "Bob")
    other = d.add("user", "carol", "Carol", dn="/o=Elsewhere/cn=Carol")
    # MS-OXNSPI 3.1.4.1.13 NspiDNToMId: legacyExchangeDN compared case-insensitively
    assert d.find_dn(bob.dn.upper()) is bob and d.find_dn(other.dn.lower()) is other
    assert d.find_dn(d.recipients_dn("carol")) is None  # carol's DN is not the default one
    try:
        d.add("user", "dave", "Dave", dn=bob.dn.lower())
    except ValueError as exc:
        assert "duplicate DN" in str(exc)
    else:
        raise AssertionError("a DN equal to another object's default DN must be refused")

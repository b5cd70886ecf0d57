"""Every property tag in fakegc/directory/props.py, audited against an independent table (issue #17 item 2).

The table is impacket's ``mapi_constants.MAPI_PROPERTIES`` (property ID → type, AD LDAP
name, MS-OXPROPS canonical name, MAPI name), which ``exchanger.py`` uses to name what
it prints; the few places where it and MS-OXPROPS disagree are listed with the
MS-OXPROPS section that decides.
"""

from __future__ import annotations

import re

import pytest
from impacket.mapi_constants import MAPI_PROPERTIES

from fakegc.directory import props as P

TAGS = sorted((name, value) for name, value in vars(P).items()
              if name.startswith("PR_") and isinstance(value, int))

#: IDs impacket's table files under another name, with the evidence for ours
OTHER_NAMES = {
    # Exchange 2003 SDK, ms-Exch-Home-MTA: mapiId 32775 (0x8007), lDAPDisplayName homeMTA;
    # impacket's row for 0x8007 carries the named-property name PidLidContactItemData
    0x8007: ("homeMTA", "PR_EMS_AB_HOME_MTA"),
}
#: types MS-OXPROPS gives where impacket's table (built from AD attribute syntax) differs
OTHER_TYPES = {
    # MS-OXPROPS 2.544 PidTagAddressBookHomeMessageDatabase: PtypString8 or PtypEmbeddedTable;
    # Outlook asks for the string form (PR_EMS_AB_HOME_MDB_A/_W), gromox answers strings
    0x8006: {P.PT_UNICODE},
}


def _snake(canonical: str) -> str:
    """PidTagTemplateData → TEMPLATE_DATA (MS-OXPROPS canonical name to PR_ form)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", canonical.removeprefix("PidTag")).upper()


@pytest.mark.parametrize(("name", "tag"), TAGS, ids=[n for n, _ in TAGS])
def test_tag_id_names_the_same_property(name, tag):
    pid = tag >> 16
    assert pid in MAPI_PROPERTIES, f"{name}: ID 0x{pid:04X} unknown to impacket's table"
    _ptype, ldap, _cn, _pas, canonical, mapi_name, _other = MAPI_PROPERTIES[pid]
    if pid in OTHER_NAMES:
        assert (ldap, name) == OTHER_NAMES[pid]
        return
    # impacket mapi_constants: the MAPI name of this ID, or its MS-OXPROPS canonical name
    assert name in (mapi_name, f"PR_{_snake(canonical or '')}"), (name, mapi_name, canonical)


@pytest.mark.parametrize(("name", "tag"), TAGS, ids=[n for n, _ in TAGS])
def test_tag_type_is_the_propertys_type(name, tag):
    pid, ours = tag >> 16, tag & 0xFFFF
    theirs = MAPI_PROPERTIES[pid][0]
    fold = {P.PT_STRING8: P.PT_UNICODE, P.PT_MV_STRING8: P.PT_MV_UNICODE}
    allowed = OTHER_TYPES.get(pid, {fold.get(theirs, theirs)})
    # impacket mapi_constants (unicode when possible) / MS-OXPROPS data type
    assert fold.get(ours, ours) in allowed, (name, hex(ours), hex(theirs))


def test_phonetic_given_name_is_not_a_home_server():
    # MS-OXPROPS: 0x8C8E is PidTagAddressBookPhoneticGivenName; no tag of ours claims it
    assert MAPI_PROPERTIES[0x8C8E][4] == "PidTagAddressBookPhoneticGivenName"
    assert all(tag >> 16 != 0x8C8E for _, tag in TAGS)


def test_one_name_per_tag():
    values = [tag for _, tag in TAGS]
    assert len(values) == len(set(values))  # fakegc's rule: one name per concept

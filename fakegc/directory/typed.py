"""Typed decoding of JSON fixtures: the common case of a large file, checked in C (issue #19).

A JSON fixture whose recipient entries hold only known fields of the right types (text,
lists of text, a room's capacity) -- everything ``fakegc directory generate`` writes -- is
decoded by msgspec straight into :class:`Entry` structs: the type checks of the loader's
``_check_types`` happen in the decoder, and an entry costs a struct instead of a dict.
Anything else (a null, a number where text goes, an unknown key, a top-level key the layout
does not name, a duplicate alias, a bad GUID ...) makes :func:`decode` or :func:`add_entry`
give up (:class:`Fallback`); the loader then parses the file as plain JSON and builds it
the general way, whose errors name file:line:key.  So this path only ever builds what the
general path would have built (tests/unit/test_loader_fast_build.py holds it to that).
"""

from __future__ import annotations

import functools
import sys
import uuid as uuidlib
from operator import attrgetter
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from fakegc.directory import props as P
from fakegc.directory.model import AbObject, Directory

__all__ = ["USER_FIELDS", "Entry", "Fallback", "add_entry", "decode", "home_mdb"]

#: the text fields of a recipient entry and the MAPI properties they give (MS-OXOABK 2.2.3)
USER_FIELDS = {
    "title": P.PR_TITLE, "department": P.PR_DEPARTMENT_NAME, "phone": P.PR_BUSINESS_TELEPHONE_NUMBER,
    "mobile": P.PR_MOBILE_TELEPHONE_NUMBER, "office": P.PR_OFFICE_LOCATION,
    "company": P.PR_COMPANY_NAME, "given_name": P.PR_GIVEN_NAME, "surname": P.PR_SURNAME,
    "street": P.PR_STREET_ADDRESS, "city": P.PR_LOCALITY, "country": P.PR_COUNTRY,
    "comment": P.PR_COMMENT,
}

Text = str | UnsetType
Capacity = Annotated[int, msgspec.Meta(ge=0, le=(1 << 31) - 1)]


class Fallback(Exception):
    """This document needs the general loader (its checks name the line of what is wrong)."""


class Entry(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One recipient entry; a field left out is UNSET (a JSON null is refused: Fallback)."""

    alias: Text = UNSET
    display_name: Text = UNSET
    password: Text = UNSET
    smtp: Text = UNSET
    dn: Text = UNSET
    guid: Text = UNSET
    home_server: Text = UNSET
    proxies: list[str] | UnsetType = UNSET
    members: list[str] | UnsetType = UNSET
    capacity: Capacity | UnsetType = UNSET
    title: Text = UNSET
    department: Text = UNSET
    phone: Text = UNSET
    mobile: Text = UNSET
    office: Text = UNSET
    company: Text = UNSET
    given_name: Text = UNSET
    surname: Text = UNSET
    street: Text = UNSET
    city: Text = UNSET
    country: Text = UNSET
    comment: Text = UNSET


class _Doc(msgspec.Struct, forbid_unknown_fields=True):
    """The top level: the recipient sections typed, the rest left to the general checks."""

    organization: Any = UNSET
    domain: Any = UNSET
    netbios: Any = UNSET
    realm: Any = UNSET
    servers: Any = UNSET
    address_lists: Any = UNSET
    users: list[Entry] | None = None
    groups: list[Entry] | None = None
    contacts: list[Entry] | None = None
    rooms: list[Entry] | None = None
    equipment: list[Entry] | None = None
    public_folders: list[Entry] | None = None


_DECODER = msgspec.json.Decoder(_Doc)


@functools.lru_cache(maxsize=64)
def home_mdb(server_dn: str) -> str:
    """homeMDB of a mailbox on that server: one string for all its mailboxes."""
    return f"{server_dn}/cn=Microsoft Private MDB"


def decode(data: str | bytes) -> dict[str, Any]:
    """The document as the general loader's mapping, recipient entries as :class:`Entry`;
    raises :class:`Fallback` when it does not fit (or is not JSON)."""
    try:
        doc = _DECODER.decode(data)
    except (msgspec.MsgspecError, RecursionError):
        raise Fallback from None
    return {name: value for name in doc.__struct_fields__
            if (value := getattr(doc, name)) is not UNSET}


_FIELD_VALUES = attrgetter(*USER_FIELDS)
_FIELD_TAGS = tuple(USER_FIELDS.values())
_intern = sys.intern


def add_entry(directory: Directory, kind: str, e: Entry, default_home: str | None) -> AbObject:
    """Add one recipient as the loader's ``_add_entry`` would (fields typed by the decoder)."""
    alias = e.alias
    if not alias:
        raise Fallback  # the general loader names the entry without an alias
    # titles, departments, offices, names repeat across thousands of entries: one string each
    props: dict[int, Any] = {tag: _intern(v) for tag, v in zip(_FIELD_TAGS, _FIELD_VALUES(e))
                             if v is not UNSET}
    if e.proxies is not UNSET:
        props[P.PR_EMS_AB_PROXY_ADDRESSES] = list(e.proxies)
    if kind == "room" and e.capacity is not UNSET:
        props[P.PR_EMS_AB_ROOM_CAPACITY] = e.capacity
    guid = None
    if e.guid is not UNSET:
        try:
            guid = uuidlib.UUID(e.guid)
        except ValueError:
            raise Fallback from None
    try:
        obj = directory.add(kind, alias, e.display_name or alias, props=props,
                            password=None if e.password is UNSET else e.password,
                            smtp=None if e.smtp is UNSET else e.smtp,
                            dn=None if e.dn is UNSET else e.dn, object_guid=guid, adopt_props=True)
    except ValueError:
        raise Fallback from None
    if kind in ("user", "room", "equipment"):
        servers = directory.servers
        if e.home_server is not UNSET or "" in servers:
            home = "" if e.home_server is UNSET else e.home_server
            server = servers.get(home.lower()) or next(iter(servers.values()), None)
            if server is not None:
                obj.props[P.PR_EMS_AB_HOME_MDB] = home_mdb(server.dn)
        elif default_home is not None:
            obj.props[P.PR_EMS_AB_HOME_MDB] = default_home
    return obj

"""Directories from an Active Directory LDIF export (RFC 2849; attributes as AD names them,
MS-ADA1..3): users, contacts, groups with their members, Exchange servers.

Attribute values may be base64 (``attr:: ...``); objectGUID/objectSid stay bytes.
"""

from __future__ import annotations

import base64
import binascii
import uuid as uuidlib
from typing import Any

from fakegc.directory import props as P
from fakegc.directory.errors import FixtureError
from fakegc.directory.errors import fail as _fail
from fakegc.directory.model import Directory

__all__ = ["load_ldif_text"]


def _ldif_records(text: str) -> list[tuple[int, dict[str, list[str]]]]:
    records: list[tuple[int, dict[str, list[str]]]] = []
    current: dict[str, list[str]] = {}
    start = 0
    lines = text.splitlines()
    unfolded: list[tuple[int, str]] = []
    for no, raw in enumerate(lines, 1):
        if raw.startswith(" ") and unfolded:
            unfolded[-1] = (unfolded[-1][0], unfolded[-1][1] + raw[1:])
        else:
            unfolded.append((no, raw))
    for no, line in unfolded:
        if not line.strip():
            if current:
                records.append((start, current))
                current = {}
            continue
        if line.startswith("#"):
            continue
        if ":" not in line:
            raise FixtureError(f"line {no}: not an LDIF attribute line: {line[:60]!r}")
        if not current:
            start = no
        key, _, value = line.partition(":")
        name = key.strip().lower()
        if value.startswith(":"):
            try:
                blob = base64.b64decode(value[1:].strip(), validate=True)
            except (binascii.Error, ValueError):
                raise FixtureError(f"line {no}: {key.strip()}: bad base64 value") from None
            # binary attributes keep their bytes as latin-1 text (objectGUID is 16 bytes)
            value = blob.decode("latin-1") if name in _BINARY_ATTRS else blob.decode("utf-8", "replace")
        else:
            value = value.strip()
        current.setdefault(name, []).append(value)
    if current:
        records.append((start, current))
    return records


_BINARY_ATTRS = frozenset({"objectguid", "objectsid"})


def _ldif_guid(value: str) -> uuidlib.UUID | None:
    """objectGUID from an export: 16 raw bytes (little-endian fields, as AD stores it) or text."""
    if len(value) == 16:
        return uuidlib.UUID(bytes_le=value.encode("latin-1"))
    try:
        return uuidlib.UUID(value)
    except ValueError:
        return None


def _first(rec: dict[str, list[str]], key: str) -> str | None:
    """The first value of an LDIF attribute, or None when the record lacks it."""
    values = rec.get(key)
    return values[0] if values else None


_KINDS = (("group", "group"), ("contact", "contact"), ("user", "user"), ("person", "user"),
          ("msexchexchangeserver", "server"))
_PROPS = (("title", P.PR_TITLE), ("department", P.PR_DEPARTMENT_NAME),
          ("telephonenumber", P.PR_BUSINESS_TELEPHONE_NUMBER),
          ("physicaldeliveryofficename", P.PR_OFFICE_LOCATION),
          ("givenname", P.PR_GIVEN_NAME), ("sn", P.PR_SURNAME),
          ("company", P.PR_COMPANY_NAME), ("mobile", P.PR_MOBILE_TELEPHONE_NUMBER))


def _kind(rec: dict[str, list[str]]) -> str | None:
    """The address-book kind of a record's objectClass (None: not a recipient we load)."""
    classes = {c.lower() for c in rec.get("objectclass", [])}
    return next((kind for cls, kind in _KINDS if cls in classes), None)


def _props(rec: dict[str, list[str]]) -> dict[int, Any]:
    props: dict[int, Any] = {tag: rec[attr][0] for attr, tag in _PROPS if attr in rec}
    if "proxyaddresses" in rec:
        props[P.PR_EMS_AB_PROXY_ADDRESSES] = rec["proxyaddresses"]
    return props


def _add(directory: Directory, kind: str, rec: dict[str, list[str]], source: str,
         line: int) -> Any:
    """One record as a directory object."""
    alias = (rec.get("samaccountname") or rec.get("mailnickname") or rec.get("cn") or [""])[0]
    if not alias:
        raise _fail(source, line, "entry without sAMAccountName, mailNickname or cn")
    display = (rec.get("displayname") or rec.get("cn") or [alias])[0]
    guid = None
    if "objectguid" in rec:
        guid = _ldif_guid(rec["objectguid"][0])
        if guid is None:
            raise _fail(source, line, "must be 16 bytes (MS-ADA3 objectGUID) or a GUID string",
                        "objectGUID")
    try:
        return directory.add(kind, alias, display, props=_props(rec),
                             smtp=_first(rec, "mail"),
                             dn=_first(rec, "legacyexchangedn"),
                             password=_first(rec, "userpassword"),
                             object_guid=guid, line=line)
    except ValueError as exc:
        raise _fail(source, line, str(exc)) from None


def load_ldif_text(text: str, source: str = "<ldif>", organization: str = "Contoso",
                   dns_domain: str = "contoso.test", netbios: str = "CONTOSO") -> Directory:
    """Build a :class:`Directory` from an AD LDIF export."""
    directory = Directory(organization, dns_domain, netbios)
    directory.source = source
    groups: list[tuple[Any, list[str], int]] = []
    by_ad_dn: dict[str, Any] = {}
    try:
        records = _ldif_records(text)
    except FixtureError as exc:
        raise FixtureError(f"{source}:{str(exc)[5:]}") from None
    for line, rec in records:
        kind = _kind(rec)
        if kind is None:
            continue
        obj = _add(directory, kind, rec, source, line)
        if "dn" in rec:
            by_ad_dn[rec["dn"][0].lower()] = obj
        if kind == "group":
            groups.append((obj, rec.get("member", []), line))
    for group, members, line in groups:
        for member_dn in members:
            member = by_ad_dn.get(member_dn.lower())
            if member is None:
                raise _fail(source, line, f"group {group.alias}: member {member_dn!r} not in the export")
            directory.add_member(group, member)
    directory.add_default_lists()
    return directory

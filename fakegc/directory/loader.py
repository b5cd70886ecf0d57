"""Load directory fixtures from YAML or LDIF, with errors that name the file and line.

YAML layout (see ``fixtures/directories/contoso.yaml``)::

    organization: Contoso
    domain: contoso.test          # DNS domain; realm = upper case
    netbios: CONTOSO
    servers:  [{name: ex01}]
    users:    [{alias, display_name, given_name, surname, password, title, department,
                phone, mobile, office, company, smtp, proxies, home_server, guid}]
    groups:   [{alias, display_name, members: [alias, ...], smtp}]
    contacts: [{alias, display_name, smtp}]
    rooms:    [{alias, display_name, capacity}]
    equipment: [...]
    public_folders: [{alias, display_name}]
    address_lists: [{name, department | title | company | kind}]

LDIF: AD exports (``ldifde`` / ``ldapsearch``): objectClass user/group/contact,
sAMAccountName, displayName, mail, proxyAddresses, legacyExchangeDN, member, ….
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import uuid as uuidlib
from pathlib import Path
from typing import Any

import yaml

from fakegc.directory import props as P
from fakegc.directory.model import Directory
from fakegc.resources import shipped

__all__ = ["load", "load_yaml_text", "load_json_text", "load_ldif_text", "load_default", "FixtureError", "DEFAULT_PATH"]

DEFAULT_PATH = shipped("directories", "contoso.yaml")

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FixtureError(ValueError):
    """A fixture that does not validate; the message names file and line."""


class _DuplicateKey(Exception):
    """A mapping names one key twice (YAML 1.2 §3.2.1.1: keys are unique)."""

    def __init__(self, line: int, key: str) -> None:
        super().__init__(line, key)
        self.line, self.key = line, key


class _LineLoader(_Loader):  # type: ignore[misc]
    """Safe loader that records each mapping's line as ``__line__`` and refuses duplicate keys."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = getattr(key_node, "value", None)
            if isinstance(key, str):
                if key in seen:
                    raise _DuplicateKey(key_node.start_mark.line + 1, key)
                seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


MAX_DEPTH = 64  # nesting of a fixture document (the layout needs 4)
_INT_DIGITS = 4300  # CPython's int/str conversion limit (sys.get_int_max_str_digits)
_TEXT_KEYS = ("alias", "display_name", "password", "smtp", "dn", "home_server", "guid")


_USER_FIELDS = {
    "title": P.PR_TITLE, "department": P.PR_DEPARTMENT_NAME, "phone": P.PR_BUSINESS_TELEPHONE_NUMBER,
    "mobile": P.PR_MOBILE_TELEPHONE_NUMBER, "office": P.PR_OFFICE_LOCATION,
    "company": P.PR_COMPANY_NAME, "given_name": P.PR_GIVEN_NAME, "surname": P.PR_SURNAME,
    "street": P.PR_STREET_ADDRESS, "city": P.PR_LOCALITY, "country": P.PR_COUNTRY,
    "comment": P.PR_COMMENT,
}
_KNOWN = set(_USER_FIELDS) | {"alias", "display_name", "password", "smtp", "proxies", "members",
                              "home_server", "guid", "capacity", "dn", "__line__"}
_SECTIONS = {"users": "user", "groups": "group", "contacts": "contact", "rooms": "room",
             "equipment": "equipment", "public_folders": "public_folder"}


def _fail(source: str, line: int | None, message: str, key: str | None = None) -> FixtureError:
    where = f"{source}:{line}" if line else f"{source}:1"
    return FixtureError(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, max(pos, 0)) + 1


def _depth_line(text: str) -> int | None:
    """The line where ``[``/``{`` nesting first exceeds :data:`MAX_DEPTH` (strings skipped)."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line_at(text, m.start())
        elif tok in "]}":
            depth -= 1
    return None


def _value_error(text: str, source: str, exc: Exception) -> FixtureError:
    """A parser's ValueError/RecursionError as one line naming where it happened."""
    huge = re.search(rf"\d{{{_INT_DIGITS + 1}}}", text)
    if huge is not None:
        return _fail(source, _line_at(text, huge.start()), f"integer longer than {_INT_DIGITS} digits")
    depth = _depth_line(text)
    if depth is not None or isinstance(exc, RecursionError):
        return _fail(source, depth, f"nested deeper than {MAX_DEPTH} levels")
    return _fail(source, None, f"not a valid document: {str(exc).splitlines()[0]}")


def load_yaml_text(text: str, source: str = "<yaml>") -> Directory:
    """Build a :class:`Directory` from YAML text."""
    depth = _depth_line(text)
    if depth is not None:
        raise _fail(source, depth, f"nested deeper than {MAX_DEPTH} levels")
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except _DuplicateKey as exc:
        raise _fail(source, exc.line, "duplicate key", exc.key) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        first = str(exc).replace("\n", " ")
        raise _fail(source, mark.line + 1 if mark else None, f"not valid YAML: {first}") from None
    except (ValueError, RecursionError) as exc:
        raise _value_error(text, source, exc) from None
    return _build(doc, source)


def load_json_text(text: str, source: str = "<json>") -> Directory:
    """Build a :class:`Directory` from JSON (same layout; fast for large fixtures).

    JSON is parsed by the C json module; when the document does not validate it
    is parsed again as YAML (JSON is YAML) so the error can name the line.
    """
    depth = _depth_line(text)
    if depth is not None:
        raise _fail(source, depth, f"nested deeper than {MAX_DEPTH} levels")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(source, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise _value_error(text, source, exc) from None
    try:
        return _build(doc, source)
    except FixtureError:
        return load_yaml_text(text, source)


def _build(doc: Any, source: str) -> Directory:
    if not isinstance(doc, dict):
        raise _fail(source, 1, "the top level must be a mapping")
    for key in ("organization", "domain", "netbios", "realm"):
        if key in doc and not isinstance(doc[key], str):
            raise _fail(source, None, f"must be text, not {_kind(doc[key])}", key)
    for section in ("servers", "address_lists"):
        if not isinstance(doc.get(section) or [], list):
            raise _fail(source, None, "must be a list", section)
    directory = Directory(str(doc.get("organization", "Contoso")),
                          str(doc.get("domain", "contoso.test")),
                          str(doc.get("netbios", "CONTOSO")), doc.get("realm"))
    directory.source = source
    for server in doc.get("servers") or []:
        line = server.get("__line__") if isinstance(server, dict) else None
        if not isinstance(server, dict) or "name" not in server:
            raise _fail(source, line, "a server needs a name")
        _check_types(server, source, line or 0, ("name", "fqdn", "display_name"))
        fqdn = server.get("fqdn") or f"{server['name']}.{directory.dns_domain}"
        obj = directory.add("server", str(server["name"]), str(server.get("display_name", server["name"])),
                            line=line or 0)
        obj.props[P.PR_EMS_AB_NETWORK_ADDRESS] = [f"ncacn_ip_tcp:{fqdn}", f"ncalrpc:{server['name']}",
                                                   f"ncacn_http:{fqdn}"]
        obj.fqdn = fqdn.lower()
    home_default = next(iter(directory.servers.values()), None)
    pending_members: list[tuple[Any, list[Any], int]] = []
    for section, kind in _SECTIONS.items():
        entries = doc.get(section) or []
        if not isinstance(entries, list):
            raise _fail(source, None, f"{section} must be a list")
        for entry in entries:
            if not isinstance(entry, dict):
                raise _fail(source, None, f"each entry of {section} must be a mapping")
            line = entry.get("__line__", 0)
            unknown = set(entry) - _KNOWN
            if unknown:
                raise _fail(source, line, f"unknown field(s) {', '.join(sorted(unknown))} in {section}")
            _check_types(entry, source, line, _TEXT_KEYS)
            alias = entry.get("alias")
            if not alias or not isinstance(alias, str):
                raise _fail(source, line, f"an entry of {section} needs an alias")
            display = entry.get("display_name") or alias
            props: dict[int, Any] = {}
            for key, tag in _USER_FIELDS.items():
                if key in entry and entry[key] is not None:
                    props[tag] = str(entry[key])
            if "proxies" in entry:
                if not isinstance(entry["proxies"], list):
                    raise _fail(source, line, "proxies must be a list")
                props[P.PR_EMS_AB_PROXY_ADDRESSES] = [str(p) for p in entry["proxies"]]
            if kind == "room" and "capacity" in entry:
                props[P.PR_EMS_AB_ROOM_CAPACITY] = int(entry["capacity"])
            guid = None
            if "guid" in entry:
                try:
                    guid = uuidlib.UUID(str(entry["guid"]))
                except ValueError:
                    raise _fail(source, line, f"bad guid {entry['guid']!r}") from None
            try:
                obj = directory.add(kind, alias, str(display), props=props,
                                    password=entry.get("password"), smtp=entry.get("smtp"),
                                    dn=entry.get("dn"), object_guid=guid, line=line)
            except ValueError as exc:
                raise _fail(source, line, str(exc)) from None
            if kind in ("user", "room", "equipment"):
                server = directory.servers.get(str(entry.get("home_server", "")).lower()) or home_default
                if server is not None:
                    obj.props[P.PR_EMS_AB_HOME_MDB] = (
                        f"{server.dn}/cn=Microsoft Private MDB")
            if kind == "group":
                members = entry.get("members") or []
                if not isinstance(members, list):
                    raise _fail(source, line, "members must be a list")
                pending_members.append((obj, members, line))
    for group, members, line in pending_members:
        for alias in members:
            member = directory.find_alias(str(alias))
            if member is None:
                raise _fail(source, line, f"group {group.alias}: unknown member {alias!r}")
            directory.add_member(group, member)
    directory.add_default_lists()
    for lst in doc.get("address_lists") or []:
        if not isinstance(lst, dict):
            raise _fail(source, None, "each entry must be a mapping", "address_lists")
        line = lst.get("__line__", 0)
        name = lst.get("name")
        if not name:
            raise _fail(source, line, "an address list needs a name")
        criteria = {k: v for k, v in lst.items() if k not in ("name", "__line__")}
        if not criteria:
            raise _fail(source, line, f"address list {name!r} needs a filter (department, title, company or kind)")
        tags = {"department": P.PR_DEPARTMENT_NAME, "title": P.PR_TITLE, "company": P.PR_COMPANY_NAME}
        for key in criteria:
            if key not in tags and key != "kind":
                raise _fail(source, line, f"address list {name!r}: unknown filter {key!r}")

        def include(o: Any, criteria: dict[str, Any] = criteria) -> bool:
            for key, want in criteria.items():
                have = o.kind if key == "kind" else o.props.get(tags[key])
                if have != want:
                    return False
            return True

        directory.add_container(str(name), include)
    return directory


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _check_types(entry: dict[str, Any], source: str, line: int, text_keys: tuple[str, ...]) -> None:
    """Reject values of the wrong type before anything is built (text, lists of text, counts)."""
    for key in text_keys:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise _fail(source, line, f"must be text, not {_kind(value)}", key)
    for key in _USER_FIELDS:
        value = entry.get(key)
        if value is not None and (isinstance(value, (bool, dict, list))
                                  or not isinstance(value, (str, int, float))):
            raise _fail(source, line, f"must be text, not {_kind(value)}", key)
    for key in ("proxies", "members"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(v, str) for v in value)):
            raise _fail(source, line, "must be a list of text", key)
    capacity = entry.get("capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int)
                                 or not 0 <= capacity < 1 << 31):
        raise _fail(source, line, "must be a whole number from 0 to 2147483647", "capacity")


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
                decoded = base64.b64decode(value[1:].strip(), validate=True)
            except (binascii.Error, ValueError):
                raise FixtureError(f"line {no}: {key.strip()}: bad base64 value") from None
            # binary attributes keep their bytes as latin-1 text (objectGUID is 16 bytes)
            value = (decoded.decode("latin-1") if name in _BINARY_ATTRS
                     else decoded.decode("utf-8", "replace"))
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
        classes = {c.lower() for c in rec.get("objectclass", [])}
        if "group" in classes:
            kind = "group"
        elif "contact" in classes:
            kind = "contact"
        elif "user" in classes or "person" in classes:
            kind = "user"
        elif "msexchexchangeserver" in classes:
            kind = "server"
        else:
            continue
        alias = (rec.get("samaccountname") or rec.get("mailnickname") or rec.get("cn") or [""])[0]
        if not alias:
            raise _fail(source, line, "entry without sAMAccountName, mailNickname or cn")
        display = (rec.get("displayname") or rec.get("cn") or [alias])[0]
        props: dict[int, Any] = {}
        for attr, tag in (("title", P.PR_TITLE), ("department", P.PR_DEPARTMENT_NAME),
                          ("telephonenumber", P.PR_BUSINESS_TELEPHONE_NUMBER),
                          ("physicaldeliveryofficename", P.PR_OFFICE_LOCATION),
                          ("givenname", P.PR_GIVEN_NAME), ("sn", P.PR_SURNAME),
                          ("company", P.PR_COMPANY_NAME), ("mobile", P.PR_MOBILE_TELEPHONE_NUMBER)):
            if attr in rec:
                props[tag] = rec[attr][0]
        if "proxyaddresses" in rec:
            props[P.PR_EMS_AB_PROXY_ADDRESSES] = rec["proxyaddresses"]
        guid = None
        if "objectguid" in rec:
            guid = _ldif_guid(rec["objectguid"][0])
            if guid is None:
                raise _fail(source, line, "must be 16 bytes (MS-ADA3 objectGUID) or a GUID string",
                            "objectGUID")
        try:
            obj = directory.add(kind, alias, display, props=props,
                                smtp=next(iter(rec.get("mail", [])), None),
                                dn=next(iter(rec.get("legacyexchangedn", [])), None),
                                password=next(iter(rec.get("userpassword", [])), None),
                                object_guid=guid, line=line)
        except ValueError as exc:
            raise _fail(source, line, str(exc)) from None
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


def load(path: str | os.PathLike[str]) -> Directory:
    """Load a fixture by extension (.yaml/.yml or .ldif/.ldf)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise FixtureError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FixtureError(f"{p}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    if p.suffix.lower() in (".ldif", ".ldf"):
        return load_ldif_text(text, str(p))
    if p.suffix.lower() == ".json":
        return load_json_text(text, str(p))
    return load_yaml_text(text, str(p))


_DEFAULT_CACHE: dict[tuple[str, float], Directory] = {}


def load_default(path: str | os.PathLike[str] | None = None) -> Directory:
    """The fixture at ``path`` (default: contoso.yaml), parsed once, returned as a fresh copy."""
    p = Path(path) if path else DEFAULT_PATH
    key = (str(p), p.stat().st_mtime)
    pristine = _DEFAULT_CACHE.get(key)
    if pristine is None:
        pristine = load(p)
        _DEFAULT_CACHE[key] = pristine
    return pristine.copy()

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

import json
import os
import re
import sys
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import yaml

from fakegc.directory import jsonlines, typed
from fakegc.directory import props as P
from fakegc.directory.errors import FixtureError
from fakegc.directory.errors import fail as _fail
from fakegc.directory.ldif import load_ldif_text
from fakegc.directory.model import Directory, gc_paused
from fakegc.resources import decode_text, read_bytes, read_text, shipped

__all__ = ["DEFAULT_PATH", "FixtureError", "load", "load_default", "load_json_text", "load_ldif_text", "load_yaml_text"]

DEFAULT_PATH = shipped("directories", "contoso.yaml")

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


_USER_FIELDS = typed.USER_FIELDS
_KNOWN = set(_USER_FIELDS) | {"alias", "display_name", "password", "smtp", "proxies", "members",
                              "home_server", "guid", "capacity", "dn", "__line__"}
_SECTIONS = {"users": "user", "groups": "group", "contacts": "contact", "rooms": "room",
             "equipment": "equipment", "public_folders": "public_folder"}


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, max(pos, 0)) + 1


def _depth_line(text: str, base: int = 0) -> int | None:
    """The line where ``[``/``{`` nesting first exceeds :data:`MAX_DEPTH` (strings skipped),
    counting from ``base`` levels of enclosing containers."""
    depth = base
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line_at(text, m.start())
        elif tok in "]}":
            depth -= 1
    return None


def _too_deep(doc: Any) -> bool:
    """Whether lists and mappings nest deeper than :data:`MAX_DEPTH` in a parsed document
    (the same depth :func:`_depth_line` counts in its text).

    The entries of the recipient sections (``users``, ``groups``, …) are not walked: the build
    accepts an entry only as a mapping of text, numbers and lists of text (depth 3 below the
    top), and when it refuses one, the text of that entry alone is scanned for the depth
    (``load_json_text``; a walk of 1M entries took 1.7 s).
    """
    stack = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    containers = (dict, list)
    if isinstance(doc, dict):
        stack = [({k: v for k, v in doc.items() if not (k in _SECTIONS and isinstance(v, list))}, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, containers):
                stack.append((child, depth + 1))
    return False


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


def load_json_text(text: str | bytes, source: str = "<json>") -> Directory:
    """Build a :class:`Directory` from JSON (same layout; fast for large fixtures).

    JSON is parsed by msgspec (C; 1M users in ~1 s against ~2.3 s of decoding and ``json``);
    a document msgspec refuses is parsed again by the json module, whose messages name the
    line (msgspec accepts a subset of what json accepts and gives the same values for it:
    tests/unit/test_loader_fastpaths.py).  When an entry does not validate, the error names
    its line through :func:`fakegc.directory.jsonlines.entry_line` (no second parse for marks).
    """
    try:  # the common case: entries typed and checked by the decoder (directory/typed.py)
        with gc_paused():
            doc = typed.decode(text)
        if not _too_deep(doc):
            return _build(doc, source)
    except (typed.Fallback, FixtureError):
        pass  # the general path below builds it, or names what is wrong
    try:
        with gc_paused():
            doc = msgspec.json.decode(text)
    except (msgspec.MsgspecError, RecursionError):
        doc = _parse_json_stdlib(_text(text, source), source)
    if _too_deep(doc):  # the parsed tree, not a scan of the text (1 s at 100k users)
        raise _fail(source, _depth_line(_text(text, source)), f"nested deeper than {MAX_DEPTH} levels")
    try:
        return _build(doc, source)
    except FixtureError as exc:
        if exc.entry is None:
            raise
        found = jsonlines.locate(text, *exc.entry)
        if found is None:
            raise _fail(source, None, exc.message, exc.key) from None
        line, piece = found
        deep = _depth_line(piece.decode("utf-8", "replace"), base=2)  # in the top mapping's list
        if deep is not None:
            raise _fail(source, line + deep - 1, f"nested deeper than {MAX_DEPTH} levels") from None
        raise _fail(source, line, exc.message, exc.key) from None


def _text(data: str | bytes, source: str) -> str:
    return data if isinstance(data, str) else decode_text(data, source, FixtureError)


def _parse_json_stdlib(text: str, source: str) -> Any:
    try:
        with gc_paused():
            return json.loads(text)  # C parser: deep nesting is a RecursionError, not a crash
    except json.JSONDecodeError as exc:
        raise _fail(source, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise _value_error(text, source, exc) from None


def _build(doc: Any, source: str) -> Directory:
    with gc_paused():
        return _build_unpaused(doc, source)


def _build_unpaused(doc: Any, source: str) -> Directory:
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
    _add_servers(directory, doc, source)
    pending_members: list[tuple[Any, list[Any], _Where]] = []
    for section, kind in _SECTIONS.items():
        entries = doc.get(section) or []
        if not isinstance(entries, list):
            raise _fail(source, None, f"{section} must be a list")
        first = next(iter(directory.servers.values()), None)
        default_home = _home_mdb(first.dn) if first is not None else None
        i = 0
        try:
            for i, entry in enumerate(entries):
                if type(entry) is typed.Entry:
                    obj = typed.add_entry(directory, kind, entry, default_home)
                    if kind == "group":
                        members = [] if entry.members is msgspec.UNSET else entry.members
                        pending_members.append((obj, members, (0, section, i)))
                    entries[i] = None
                    continue
                if not isinstance(entry, dict):
                    raise _fail(source, None, f"each entry of {section} must be a mapping")
                _add_entry(directory, (section, i), kind, entry, source, pending_members, default_home)
                entries[i] = None  # free the parsed entry now: the peak is one copy, not two (#19)
        except FixtureError as exc:
            raise _at(exc, section, i) from None
    _add_members(directory, pending_members, source)
    directory.add_default_lists()
    _add_address_lists(directory, doc, source)
    return directory


_Where = tuple[int, str, int]  # an entry's line (0 in JSON), its section and its index


def _at(exc: FixtureError, section: str, index: int) -> FixtureError:
    """Note the list entry ``exc`` came from when the document gave it no line (JSON)."""
    if not exc.line and exc.entry is None:
        exc.entry = (section, index)
    return exc


def _each(directory: Directory, doc: dict[str, Any], source: str, section: str,
          add: Callable[[Directory, Any, str], None]) -> None:
    """``add`` every entry of the list ``section``; an error notes the entry it came from."""
    for i, item in enumerate(doc.get(section) or []):
        try:
            add(directory, item, source)
        except FixtureError as exc:
            raise _at(exc, section, i) from None


def _add_servers(directory: Directory, doc: dict[str, Any], source: str) -> None:
    """The ``servers`` list: Exchange servers with their network addresses."""
    _each(directory, doc, source, "servers", _add_server)


def _add_server(directory: Directory, server: Any, source: str) -> None:
    """One Exchange server of ``servers``."""
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


def _entry_props(entry: dict[str, Any], kind: str, source: str, line: int) -> dict[int, Any]:
    """The MAPI properties an entry's fields give (MS-OXOABK 2.2.3)."""
    props: dict[int, Any] = {}
    for key, tag in _USER_FIELDS.items():
        if key in entry and entry[key] is not None:
            # titles, departments, offices, names repeat across thousands of entries:
            # one string object each (directory memory, issue #19)
            props[tag] = sys.intern(str(entry[key]))
    if "proxies" in entry:
        if not isinstance(entry["proxies"], list):
            raise _fail(source, line, "proxies must be a list")
        props[P.PR_EMS_AB_PROXY_ADDRESSES] = [str(p) for p in entry["proxies"]]
    if kind == "room" and "capacity" in entry:
        props[P.PR_EMS_AB_ROOM_CAPACITY] = int(entry["capacity"])
    return props


def _entry_guid(entry: dict[str, Any], source: str, line: int) -> uuidlib.UUID | None:
    if "guid" not in entry:
        return None
    try:
        return uuidlib.UUID(str(entry["guid"]))
    except ValueError:
        raise _fail(source, line, f"bad guid {entry['guid']!r}") from None


def _add_entry(directory: Directory, where: tuple[str, int], kind: str, entry: dict[str, Any], source: str,
               pending_members: list[tuple[Any, list[Any], _Where]], default_home: str | None) -> None:
    """One recipient (``where``: its section and index); a group's members are resolved once
    all are known."""
    section = where[0]
    line = entry.get("__line__", 0)
    if _LIST_KEYS.isdisjoint(entry) and all(map(_is_text, entry.values())) and _KNOWN.issuperset(entry):
        # only known text fields (a generated fixture's every entry): every check of
        # _check_types passes and _entry_props reduces to this (property-tested)
        props = {tag: _intern(entry[key]) for key, tag in _USER_FIELD_ITEMS if key in entry}
    else:
        unknown = None if _KNOWN.issuperset(entry) else set(entry) - _KNOWN
        if unknown:
            raise _fail(source, line, f"unknown field(s) {', '.join(sorted(unknown))} in {section}")
        _check_types(entry, source, line, _TEXT_KEYS)
        props = _entry_props(entry, kind, source, line)
    alias = entry.get("alias")
    if not alias or not isinstance(alias, str):
        raise _fail(source, line, f"an entry of {section} needs an alias")
    display = entry.get("display_name") or alias
    guid = _entry_guid(entry, source, line) if "guid" in entry else None
    try:
        obj = directory.add(kind, alias, str(display), props=props,
                            password=entry.get("password"), smtp=entry.get("smtp"),
                            dn=entry.get("dn"), object_guid=guid, line=line, adopt_props=True)
    except ValueError as exc:
        raise _fail(source, line, str(exc)) from None
    if kind in _MAILBOX_KINDS:
        servers = directory.servers
        if "home_server" in entry or "" in servers:
            server = servers.get(str(entry.get("home_server", "")).lower()) or next(iter(servers.values()), None)
            if server is not None:
                obj.props[P.PR_EMS_AB_HOME_MDB] = _home_mdb(server.dn)
        elif default_home is not None:  # the first server's (found once per section)
            obj.props[P.PR_EMS_AB_HOME_MDB] = default_home
    if kind == "group":
        members = entry.get("members") or []
        if not isinstance(members, list):
            raise _fail(source, line, "members must be a list")
        pending_members.append((obj, members, (line, *where)))


_MAILBOX_KINDS = frozenset({"user", "room", "equipment"})
_USER_FIELD_ITEMS = tuple(_USER_FIELDS.items())
_intern = sys.intern


_home_mdb = typed.home_mdb


def _add_members(directory: Directory, pending_members: list[tuple[Any, list[Any], _Where]],
                 source: str) -> None:
    for group, members, (line, section, index) in pending_members:
        for alias in members:
            member = directory.find_alias(str(alias))
            if member is None:
                error = _fail(source, line, f"group {group.alias}: unknown member {alias!r}")
                raise _at(error, section, index)
            directory.add_member(group, member)


_LIST_FILTERS = {"department": P.PR_DEPARTMENT_NAME, "title": P.PR_TITLE, "company": P.PR_COMPANY_NAME}


def _add_address_lists(directory: Directory, doc: dict[str, Any], source: str) -> None:
    """``address_lists``: containers whose members match every filter given."""
    _each(directory, doc, source, "address_lists", _add_address_list)


def _add_address_list(directory: Directory, lst: Any, source: str) -> None:
    """One container of ``address_lists``."""
    if not isinstance(lst, dict):
        raise _fail(source, None, "each entry must be a mapping", "address_lists")
    line = lst.get("__line__", 0)
    name = lst.get("name")
    if not name:
        raise _fail(source, line, "an address list needs a name")
    criteria = {k: v for k, v in lst.items() if k not in ("name", "__line__")}
    if not criteria:
        raise _fail(source, line, f"address list {name!r} needs a filter (department, title, company or kind)")
    for key in criteria:
        if key not in _LIST_FILTERS and key != "kind":
            raise _fail(source, line, f"address list {name!r}: unknown filter {key!r}")

    def include(o: Any, criteria: dict[str, Any] = criteria) -> bool:
        for key, want in criteria.items():
            have = o.kind if key == "kind" else o.props.get(_LIST_FILTERS[key])
            if have != want:
                return False
        return True

    directory.add_container(str(name), include)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


_LIST_KEYS = frozenset({"proxies", "members", "capacity"})
_is_text = str.__instancecheck__


def _check_types(entry: dict[str, Any], source: str, line: int, text_keys: tuple[str, ...]) -> None:
    """Reject values of the wrong type before anything is built (text, lists of text, counts)."""
    if _LIST_KEYS.isdisjoint(entry) and all(map(_is_text, entry.values())):
        return  # only text: every check below passes (the common case, 100k times a fixture)
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
    at = entry.get("__line__")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int)):  # YAML's, or a JSON author's
        raise _fail(source, None, "must be a line number", "__line__")
    capacity = entry.get("capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int)
                                 or not 0 <= capacity < 1 << 31):
        raise _fail(source, line, "must be a whole number from 0 to 2147483647", "capacity")


def load(path: str | os.PathLike[str]) -> Directory:
    """Load a fixture by extension (.yaml/.yml or .ldif/.ldf)."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        directory = load_json_text(read_bytes(p, FixtureError), str(p))  # UTF-8 checked by the parser
    else:
        text = read_text(p, FixtureError)
        if p.suffix.lower() in (".ldif", ".ldf"):
            directory = load_ldif_text(text, str(p))
        else:
            directory = load_yaml_text(text, str(p))
    return directory


_DEFAULT_CACHE: dict[tuple[str, float, int], Directory] = {}


_CACHE_MAX = 4  # parsed fixtures kept per process (a 100k-user one is ~200 MB)


def load_default(path: str | os.PathLike[str] | None = None) -> Directory:
    """The fixture at ``path`` (default: contoso.yaml), parsed once per process (while the
    file is unchanged), returned as a fresh copy-on-write copy: a cluster per test costs a
    copy of the maps, not a parse."""
    p = Path(path) if path else DEFAULT_PATH
    try:
        st = p.stat()
    except OSError:
        return load(p)  # the loader's own error names the file
    key = (str(p), st.st_mtime, st.st_size)
    pristine = _DEFAULT_CACHE.pop(key, None)
    if pristine is None:
        pristine = load(p)
        while len(_DEFAULT_CACHE) >= _CACHE_MAX:
            del _DEFAULT_CACHE[next(iter(_DEFAULT_CACHE))]
    _DEFAULT_CACHE[key] = pristine  # most recently used last
    return pristine.copy()

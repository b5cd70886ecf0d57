"""The in-memory address book (MS-OXOABK 2.2; MS-NSPI 2.2.8 minimal entry IDs).

Objects (users, distribution groups, contacts, rooms, equipment, public folders,
Exchange servers) carry their stored MAPI properties; containers (GAL, All Users,
All Groups, All Contacts, All Rooms, Public Folders and custom address lists) are
sorted tables of MIds.  MIds are small integers stable for the life of a
:class:`Directory` (MS-NSPI 3.1.1.2: valid for the session; we keep them for the
directory's life, which is longer).  Properties that depend on the serving GC
(ephemeral entry IDs) are synthesised by the NSPI layer, not stored here.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid as uuidlib
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

from fakegc.directory import props as P
from fakegc.directory.build import gc_paused, guid_index, uuid5_le
from fakegc.directory.collation import sort_key, sort_key_slow

__all__ = ["FIRST_MID", "KIND_TYPES", "AbObject", "Container", "Directory", "gc_paused", "sort_key",
           "sort_key_slow"]

FIRST_MID = 0x10  # 0..15 are reserved positioning / resolution MIds (MS-NSPI 2.2.8, 2.2.9)

#: kind → (display type, object type)
KIND_TYPES: dict[str, tuple[int, int]] = {
    "user": (P.DT_MAILUSER, P.MAPI_MAILUSER),
    "group": (P.DT_DISTLIST, P.MAPI_DISTLIST),
    "contact": (P.DT_REMOTE_MAILUSER, P.MAPI_MAILUSER),
    "room": (P.DT_ROOM, P.MAPI_MAILUSER),
    "equipment": (P.DT_EQUIPMENT, P.MAPI_MAILUSER),
    "public_folder": (P.DT_FORUM, P.MAPI_FOLDER),
    "server": (P.DT_AGENT, P.MAPI_MAILUSER),
}

#: directory versions are unique across all directories of the process, so a cache keyed by
#: version can never confuse a changed copy with its pristine source or another copy
_VERSIONS = itertools.count(1)

_ABSENT: Any = object()
#: properties every object answers from its own fields unless ``props`` overrides them
DERIVED_PROPS = {P.PR_DISPLAY_NAME: "display_name", P.PR_ACCOUNT: "alias",
                 P.PR_EMS_AB_OBJECT_GUID: "guid_le"}
_NO_LINKS: list[int] = []  # shared by objects without links; never appended to
_PR_DISPLAY_NAME, _PR_ACCOUNT, _PR_SMTP_ADDRESS = P.PR_DISPLAY_NAME, P.PR_ACCOUNT, P.PR_SMTP_ADDRESS
_PR_PROXIES = P.PR_EMS_AB_PROXY_ADDRESSES

@dataclass(slots=True, eq=False)
class AbObject:
    """One address-book object."""

    mid: int
    kind: str
    alias: str
    dn: str
    display_name: str
    #: objectGUID little-endian (PR_EMS_AB_OBJECT_GUID), or, until first read, the DNS domain
    #: it derives from (see :attr:`guid_le`): a 1M-user load skips 1M SHA-1s and 1M bytes objects
    guid_src: bytes | str
    props: dict[int, Any] = field(default_factory=dict)
    # no links: one shared empty list, replaced by add_member before it appends (issue #19)
    members: list[int] = field(default_factory=lambda: _NO_LINKS)
    member_of: list[int] = field(default_factory=lambda: _NO_LINKS)
    password: str | None = None
    in_gal: bool = True
    line: int = 0
    fqdn: str | None = None

    @property
    def guid_le(self) -> bytes:
        """objectGUID, little-endian: the one given, else ``uuid5(NAMESPACE_DNS, alias.domain)``
        (RFC 4122 §4.3), derived on first read and kept."""
        src = self.guid_src
        if isinstance(src, bytes):
            return src
        le = self.guid_src = uuid5_le(f"{self.alias}.{src}")
        return le

    @property
    def object_guid(self) -> uuidlib.UUID:
        """objectGUID."""
        return uuidlib.UUID(bytes_le=self.guid_le)

    @property
    def display_type(self) -> int:
        """PR_DISPLAY_TYPE."""
        return KIND_TYPES[self.kind][0]

    @property
    def object_type(self) -> int:
        """PR_OBJECT_TYPE."""
        return KIND_TYPES[self.kind][1]

    def prop(self, tag: int, default: Any = None) -> Any:
        """A property by canonical tag: ``props``, else the fields :data:`DERIVED_PROPS` name."""
        value = self.props.get(tag, _ABSENT)
        if value is not _ABSENT:
            return value
        field_name = DERIVED_PROPS.get(tag)
        if field_name is not None:
            return getattr(self, field_name)
        if tag == P.PR_EMS_AB_PROXY_ADDRESSES and self.kind != "server":
            return self.default_proxies()
        return default

    def default_proxies(self) -> list[str]:
        """proxyAddresses when none are given: primary SMTP, and X500 (not for a contact)."""
        primary = f"SMTP:{self.props.get(P.PR_SMTP_ADDRESS)}"
        return [primary] if self.kind == "contact" else [primary, f"X500:{self.dn}"]

    def prop_tags(self) -> list[int]:
        """The tags :meth:`prop` answers: ``props`` then the derived ones."""
        derived = [*DERIVED_PROPS] + ([P.PR_EMS_AB_PROXY_ADDRESSES] if self.kind != "server" else [])
        return list(self.props) + [t for t in derived if t not in self.props]

    @property
    def smtp(self) -> str | None:
        """Primary SMTP address."""
        value = self.props.get(P.PR_SMTP_ADDRESS)
        return value if isinstance(value, str) else None


@dataclass(slots=True, eq=False)
class Container:
    """An address-book container (MS-OXOABK 2.2.2) and its table of MIds."""

    mid: int
    container_id: int  # the STAT.ContainerID that selects it (0 for the GAL)
    name: str
    dn: str
    flags: int
    depth: int
    parent: Container | None
    include: Callable[[AbObject], bool]
    is_master: bool = False
    members: list[int] = field(default_factory=list)
    _sorted: dict[int, list[int]] = field(default_factory=dict)
    _index: dict[int, dict[int, int]] = field(default_factory=dict)
    _keys: dict[int, list[str]] = field(default_factory=dict)  # collation key of each row


class Directory:
    """The address book shared by every GC of a cluster."""

    def __init__(self, organization: str = "Contoso", dns_domain: str = "contoso.test",
                 netbios: str = "CONTOSO", realm: str | None = None) -> None:
        self.organization = organization
        self.dns_domain = dns_domain
        self.netbios = netbios
        self.realm = realm or dns_domain.upper()
        self.site_dn = (f"/o={organization}/ou=Exchange Administrative Group "
                        "(FYDIBOHF23SPDLT)")
        self.objects: dict[int, AbObject] = {}
        #: lowercased DNs of the objects whose DN is not their recipients_dn (see find_dn)
        self.by_dn: dict[str, int] = {}
        self._recipients_low_of: tuple[str | None, str] = (None, "")
        self._tables_cached = True  # a container's sorted table may be kept (see _invalidate)
        self.by_alias: dict[str, int] = {}
        self.containers: list[Container] = []
        self.by_container_id: dict[int, Container] = {}
        self.servers: dict[str, AbObject] = {}
        self.source: str = "<memory>"
        self.version = next(_VERSIONS)
        self._next_mid = FIRST_MID
        #: derived structures (fakegc.directory.index), each rebuilt when ``version`` moves on
        self.indexes: dict[str, Any] = {}
        #: MIds of objects this directory may change in place; None: no copy shares them
        self._owned: set[int] | None = None
        self.copied_from: weakref.ref[Directory] | None = None  # the source of a copy()
        self.gal = self._add_container(0, "Global Address List", "/", P.AB_RECIPIENTS | P.AB_UNMODIFIABLE,
                                       0, None, lambda o: o.in_gal, is_master=True)

    # -- building ------------------------------------------------------------
    def _new_mid(self) -> int:
        mid = self._next_mid
        self._next_mid += 1
        return mid

    def recipients_dn(self, alias: str) -> str:
        """legacyExchangeDN of a recipient (PROTOCOL.md §11)."""
        return f"{self.site_dn}/cn=Recipients/cn={alias}"

    def _recipients_low(self) -> str:
        """The lowercased DN prefix of :meth:`recipients_dn` (kept per site DN)."""
        if self._recipients_low_of[0] is not self.site_dn:
            self._recipients_low_of = (self.site_dn, f"{self.site_dn}/cn=Recipients/cn=".lower())
        return self._recipients_low_of[1]

    def server_dn(self, name: str) -> str:
        """legacyExchangeDN of an Exchange server."""
        return f"{self.site_dn}/cn=Configuration/cn=Servers/cn={name}"

    def _add_container(self, container_id: int | None, name: str, dn: str, flags: int, depth: int,
                       parent: Container | None, include: Callable[[AbObject], bool],
                       is_master: bool = False) -> Container:
        mid = self._new_mid()
        cid = mid if container_id is None else container_id
        c = Container(mid, cid, name, dn, flags, depth, parent, include, is_master)
        self.containers.append(c)
        self.by_container_id[cid] = c
        return c

    def add_container(self, name: str, include: Callable[[AbObject], bool],
                      parent: Container | None = None) -> Container:
        """A custom address list (depth 0, or under ``parent``)."""
        depth = parent.depth + 1 if parent else 0
        dn = f"/guid={uuidlib.uuid5(uuidlib.NAMESPACE_URL, name).hex.upper()}"
        c = self._add_container(None, name, dn, P.AB_RECIPIENTS | P.AB_UNMODIFIABLE, depth,
                                parent, include)
        if parent is not None:
            parent.flags |= P.AB_SUBCONTAINERS
        self._invalidate()
        return c

    def add_default_lists(self) -> None:
        """All Users, All Groups, All Contacts, All Rooms, Public Folders (Exchange's defaults)."""
        self.add_container("All Users", lambda o: o.kind == "user")
        self.add_container("All Groups", lambda o: o.kind == "group")
        self.add_container("All Contacts", lambda o: o.kind == "contact")
        self.add_container("All Rooms", lambda o: o.kind in ("room", "equipment"))
        self.add_container("Public Folders", lambda o: o.kind == "public_folder")

    def add(self, kind: str, alias: str, display_name: str, *, props: dict[int, Any] | None = None,
            password: str | None = None, smtp: str | None = None, dn: str | None = None,
            object_guid: uuidlib.UUID | None = None, line: int = 0,
            adopt_props: bool = False) -> AbObject:
        """Add an object; returns it.  Duplicate aliases or DNs raise ValueError.  With
        ``adopt_props`` the object keeps ``props`` itself (the caller's fresh dict), not a copy."""
        if kind not in KIND_TYPES:
            raise ValueError(f"unknown object kind {kind!r}")
        key = alias.lower()
        if key == alias:
            key = alias  # one string object for both (memory: a 100k-user GC keeps 100k of them)
        by_alias = self.by_alias
        if key in by_alias:
            raise ValueError(f"duplicate alias {alias!r}")
        # (helpers inlined below: this runs once per object of a 1M-user load, issue #19)
        site_dn, recipients_low = self._recipients_low_of
        if site_dn is not self.site_dn:
            recipients_low = self._recipients_low()
        server = kind == "server"
        if dn is None:
            dn = self.server_dn(alias) if server else f"{self.site_dn}/cn=Recipients/cn={alias}"
        low = dn.lower()
        # a recipient's own DN is found through its alias (find_dn); other DNs through by_dn
        canonical = low == recipients_low + key.lower()
        if (low in self.by_dn) if canonical else (self.find_dn(dn) is not None):
            raise ValueError(f"duplicate DN {dn!r}")
        guid_src = object_guid.bytes_le if object_guid else self.dns_domain  # derived on first read
        mid = self._next_mid
        self._next_mid = mid + 1
        p = props if adopt_props and props is not None else dict(props or {})
        obj = AbObject(mid, kind, alias, dn, display_name, guid_src, p, _NO_LINKS, _NO_LINKS,
                       password, not server, line)
        # DERIVED_PROPS stay out of the dict: a user's props fit the smaller dict size
        if _PR_DISPLAY_NAME in p:
            del p[_PR_DISPLAY_NAME]
        if _PR_ACCOUNT in p and p[_PR_ACCOUNT] == alias:
            del p[_PR_ACCOUNT]
        if not server:
            p[_PR_SMTP_ADDRESS] = smtp or f"{alias}@{self.dns_domain}"
            if _PR_PROXIES in p:
                self._keep_given_proxies(obj)
        self.objects[mid] = obj
        if self._owned is not None:
            self._owned.add(mid)
        by_alias[key] = mid
        if not canonical:  # no lowercased copy of every recipient's DN (issue #19)
            self.by_dn[low] = mid
        if server:
            self.servers[alias.lower()] = obj
        self.version = next(_VERSIONS)
        if self._tables_cached:
            self._invalidate()
        return obj

    @staticmethod
    def _keep_given_proxies(obj: AbObject) -> None:
        """Given proxyAddresses: primary SMTP first and X500 last unless listed; dropped (then
        derived by :meth:`AbObject.prop`, ~300 B less an object) when they equal the default."""
        p = obj.props
        given = p.get(_PR_PROXIES)
        if given:
            proxies = list(given)
            default = obj.default_proxies()
            if default[0] not in proxies:
                proxies.insert(0, default[0])
            if len(default) > 1 and default[1] not in proxies:
                proxies.append(default[1])
            given = None if proxies == default else proxies
        if given:
            p[_PR_PROXIES] = given
        else:
            del p[_PR_PROXIES]

    def add_member(self, group: AbObject, member: AbObject) -> None:
        """Make ``member`` a member of ``group`` (PR_EMS_AB_MEMBER)."""
        if group.kind != "group":
            raise ValueError(f"{group.alias} is not a group")
        group, member = self.writable(group), self.writable(member)
        if member.mid not in group.members:
            group.members = group.members or []  # a fresh list for the shared empty one
            member.member_of = member.member_of or []
            group.members.append(member.mid)
            member.member_of.append(group.mid)

    def remove_member(self, group: AbObject, member: AbObject) -> None:
        """Drop ``member`` from ``group``."""
        group, member = self.writable(group), self.writable(member)
        if member.mid in group.members:
            group.members.remove(member.mid)
            member.member_of.remove(group.mid)

    def _invalidate(self) -> None:
        self.version = next(_VERSIONS)
        if not self._tables_cached:  # nothing sorted since: 100k adds skip the loop
            return
        self._tables_cached = False
        for c in self.containers:
            c._sorted.clear()
            c._index.clear()
            c._keys.clear()

    def touch(self) -> None:
        """Record a modification (re-sorts tables lazily)."""
        self._invalidate()

    # -- reading -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[AbObject]:
        return iter(self.objects.values())

    def get(self, mid: int) -> AbObject | None:
        """The object with this MId (None when unknown)."""
        return self.objects.get(mid)

    def find_dn(self, dn: str) -> AbObject | None:
        """Case-insensitive lookup by legacyExchangeDN, or by the GUID forms MS-OXNSPI allows
        (``/guid=<hex>`` and ``/o=NT5/ou=00000000000000000000000000000000/cn=<hex>``)."""
        low = dn.lower()
        mid = self.by_dn.get(low)
        if mid is not None:
            return self.objects.get(mid)
        prefix = self._recipients_low()
        if low.startswith(prefix):
            obj = self.objects.get(self.by_alias.get(low[len(prefix):], 0))  # MId 0: none
            if obj is not None and obj.dn.lower() == low:
                return obj
        if low.startswith(("/guid=", "/o=nt5/ou=00000000000000000000000000000000/cn=")):
            raw = low.rsplit("=", 1)[1]
            try:
                guid = uuidlib.UUID(bytes_le=bytes.fromhex(raw))
            except ValueError:
                return None
            mid = guid_index(self.objects.values(), self.indexes, self.version).get(guid.bytes_le)
            return self.objects.get(mid) if mid is not None else None
        return None

    def max_mid(self) -> int:
        """The largest object MId (0 when empty), kept until the directory changes (a GC's
        MId block is sized from it at every NspiBind: a scan of 1M MIds took 10 ms)."""
        kept = self.indexes.get("max_mid")
        if kept is None or kept[0] != self.version:
            kept = self.indexes["max_mid"] = (self.version, max(self.objects, default=0))
        return int(kept[1])

    def find_alias(self, alias: str) -> AbObject | None:
        """Case-insensitive lookup by alias / sAMAccountName."""
        mid = self.by_alias.get(alias.lower())
        return self.objects.get(mid) if mid is not None else None

    def container(self, container_id: int) -> Container | None:
        """The container selected by a STAT.ContainerID."""
        return self.by_container_id.get(container_id)

    def container_by_mid(self, mid: int) -> Container | None:
        """A container by its own MId."""
        for c in self.containers:
            if c.mid == mid:
                return c
        return None

    def table(self, container: Container, locale: int = 0x409) -> list[int]:
        """The container's MIds sorted by display name under ``locale`` (cached)."""
        rows = container._sorted.get(locale)
        if rows is None:
            with gc_paused():
                rows = self._sort(container, locale)
        return rows

    def _sort(self, container: Container, locale: int) -> list[int]:
        gal = self.gal
        if container is not gal:  # a subsequence of the GAL's order (sorted by key, then MId)
            gal_rows, gal_keys = self.table(gal, locale), gal._keys[locale]
            include = container.include
            picked = {o.mid for o in self.objects.values() if o.in_gal and include(o)}
            mask = list(map(picked.__contains__, gal_rows))
            rows, keys = list(compress(gal_rows, mask)), list(compress(gal_keys, mask))
        else:
            members = [o for o in self.objects.values() if o.in_gal]  # MId order
            memo: dict[str, str] = {}
            all_keys = []
            for o in members:
                key = memo.get(o.display_name)
                if key is None:
                    key = memo[o.display_name] = sort_key(o.display_name, locale)
                all_keys.append(key)
            order = sorted(range(len(members)), key=all_keys.__getitem__)  # stable: ties by MId
            rows, keys = [members[i].mid for i in order], [all_keys[i] for i in order]
        # keys and positions before the rows: a reader (or copy) that finds the rows finds them
        container._keys[locale] = keys
        container._index[locale] = {mid: i for i, mid in enumerate(rows)}
        container._sorted[locale] = rows
        self._tables_cached = True
        return rows

    def position(self, container: Container, mid: int, locale: int = 0x409) -> int | None:
        """Row index of ``mid`` in the container's table, or None."""
        self.table(container, locale)
        return container._index[locale].get(mid)

    def accounts(self) -> Iterable[tuple[str, str]]:
        """(sAMAccountName, password) of every object that can log on."""
        for obj in self.objects.values():
            if obj.password is not None:
                yield obj.alias, obj.password

    def summary(self) -> dict[str, Any]:
        """Counts by kind, for the CLI and journals."""
        out: dict[str, Any] = {"objects": len(self.objects), "containers": len(self.containers)}
        for obj in self.objects.values():
            out[obj.kind] = out.get(obj.kind, 0) + 1
        return out

    def copy(self) -> Directory:
        """A copy-on-write view (the cluster keeps a pristine directory to reset to).

        The copy shares every :class:`AbObject` with this directory and copies only the
        maps and container tables (O(n) pointer copies, no object copied: 100k users in
        milliseconds instead of seconds of ``deepcopy``).  Sorted tables and indexes are
        shared too while the contents are the same (same ``version``).  An object is copied
        the first time it is written through :meth:`writable`; code that changes an object
        must go through it (NspiModProps, NspiModLinkAtt, :meth:`add_member`).
        """
        new = Directory.__new__(Directory)
        new.__dict__.update(self.__dict__)
        new.objects = dict(self.objects)
        new.by_dn = dict(self.by_dn)
        new.by_alias = dict(self.by_alias)
        new.servers = dict(self.servers)
        mapped: dict[int, Container] = {}
        new.containers = []
        for c in self.containers:
            nc = dataclasses.replace(c, parent=mapped[id(c.parent)] if c.parent is not None else None,
                                     members=list(c.members), _sorted=dict(c._sorted),
                                     _index=dict(c._index), _keys=dict(c._keys))
            mapped[id(c)] = nc
            new.containers.append(nc)
        new.by_container_id = {c.container_id: c for c in new.containers}
        new.gal = mapped[id(self.gal)]
        new.indexes = dict(self.indexes)
        new._owned = set()
        new.copied_from = weakref.ref(self)
        self._owned = set()  # our objects are shared from now on too
        return new

    def writable(self, obj: AbObject) -> AbObject:
        """``obj`` as this directory's own object, safe to change (copied on first write when
        it is shared with another copy of the directory); use the returned object."""
        mine = self.objects.get(obj.mid)
        if mine is None:
            raise KeyError(f"MId {obj.mid} is not in this directory")
        if self._owned is None or mine.mid in self._owned:
            return _stored_proxies(mine)
        clone = AbObject(mine.mid, mine.kind, mine.alias, mine.dn, mine.display_name, mine.guid_src,
                         {k: list(v) if isinstance(v, list) else v for k, v in mine.props.items()},
                         list(mine.members) or _NO_LINKS, list(mine.member_of) or _NO_LINKS,
                         mine.password, mine.in_gal, mine.line, mine.fqdn)
        self.objects[mine.mid] = clone
        if mine.kind == "server":
            self.servers[mine.alias.lower()] = clone
        self._owned.add(mine.mid)
        return _stored_proxies(clone)


def _stored_proxies(obj: AbObject) -> AbObject:
    """``obj`` with its derived proxyAddresses stored (a changed SMTP address keeps them)."""
    if obj.kind != "server":
        obj.props.setdefault(P.PR_EMS_AB_PROXY_ADDRESSES, obj.default_proxies())
    return obj

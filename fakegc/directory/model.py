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

import copy
import unicodedata
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fakegc.directory import props as P

__all__ = ["FIRST_MID", "KIND_TYPES", "AbObject", "Container", "Directory", "sort_key"]

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

_SWEDISH_TAIL = {"å": "{1", "ä": "{2", "ö": "{3"}  # "{" sorts right after "z"
_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}


def sort_key(text: str, locale: int = 0x409) -> str:
    """A collation key honouring the NSPI SortLocale (MS-NSPI 2.2.1.4).

    Default: accent- and case-insensitive.  German (0x407) sorts umlauts as their
    two-letter spellings (phone-book order); Swedish/Finnish (0x41D, 0x40B) sort
    å, ä, ö after z.
    """
    low = text.casefold()
    if locale in (0x41D, 0x40B):
        low = "".join(_SWEDISH_TAIL.get(c, c) for c in low)
    elif locale == 0x407:
        low = "".join(_GERMAN.get(c, c) for c in low)
    decomposed = unicodedata.normalize("NFKD", low)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(slots=True, eq=False)
class AbObject:
    """One address-book object."""

    mid: int
    kind: str
    alias: str
    dn: str
    display_name: str
    object_guid: uuidlib.UUID
    props: dict[int, Any] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)
    member_of: list[int] = field(default_factory=list)
    password: str | None = None
    in_gal: bool = True
    line: int = 0
    fqdn: str | None = None

    @property
    def display_type(self) -> int:
        """PR_DISPLAY_TYPE."""
        return KIND_TYPES[self.kind][0]

    @property
    def object_type(self) -> int:
        """PR_OBJECT_TYPE."""
        return KIND_TYPES[self.kind][1]

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
        self.by_dn: dict[str, int] = {}
        self.by_alias: dict[str, int] = {}
        self.containers: list[Container] = []
        self.by_container_id: dict[int, Container] = {}
        self.servers: dict[str, AbObject] = {}
        self.source: str = "<memory>"
        self.version = 1
        self._next_mid = FIRST_MID
        self._exact_index: dict[str, list[AbObject]] | None = None
        self._exact_version = -1
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
            object_guid: uuidlib.UUID | None = None, line: int = 0) -> AbObject:
        """Add an object; returns it.  Duplicate aliases or DNs raise ValueError."""
        if kind not in KIND_TYPES:
            raise ValueError(f"unknown object kind {kind!r}")
        key = alias.lower()
        if key in self.by_alias:
            raise ValueError(f"duplicate alias {alias!r}")
        if dn is None:
            dn = self.server_dn(alias) if kind == "server" else self.recipients_dn(alias)
        if dn.lower() in self.by_dn:
            raise ValueError(f"duplicate DN {dn!r}")
        guid = object_guid or uuidlib.uuid5(uuidlib.NAMESPACE_DNS, f"{alias}.{self.dns_domain}")
        obj = AbObject(self._new_mid(), kind, alias, dn, display_name, guid, dict(props or {}),
                       password=password, in_gal=kind != "server", line=line)
        p = obj.props
        p[P.PR_DISPLAY_NAME] = display_name
        p.setdefault(P.PR_ACCOUNT, alias)
        if kind != "server":
            address = smtp or f"{alias}@{self.dns_domain}"
            p[P.PR_SMTP_ADDRESS] = address
            proxies = list(p.get(P.PR_EMS_AB_PROXY_ADDRESSES, []))
            primary = f"SMTP:{address}"
            if primary not in proxies:
                proxies.insert(0, primary)
            if kind != "contact":
                x500 = f"X500:{dn}"
                if x500 not in proxies:
                    proxies.append(x500)
            p[P.PR_EMS_AB_PROXY_ADDRESSES] = proxies
        p[P.PR_EMS_AB_OBJECT_GUID] = guid.bytes_le
        self.objects[obj.mid] = obj
        self.by_alias[key] = obj.mid
        self.by_dn[dn.lower()] = obj.mid
        if kind == "server":
            self.servers[alias.lower()] = obj
        self._invalidate()
        return obj

    def add_member(self, group: AbObject, member: AbObject) -> None:
        """Make ``member`` a member of ``group`` (PR_EMS_AB_MEMBER)."""
        if group.kind != "group":
            raise ValueError(f"{group.alias} is not a group")
        if member.mid not in group.members:
            group.members.append(member.mid)
            member.member_of.append(group.mid)

    def remove_member(self, group: AbObject, member: AbObject) -> None:
        """Drop ``member`` from ``group``."""
        if member.mid in group.members:
            group.members.remove(member.mid)
            member.member_of.remove(group.mid)

    def _invalidate(self) -> None:
        self.version += 1
        for c in self.containers:
            c._sorted.clear()
            c._index.clear()

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
        if low.startswith(("/guid=", "/o=nt5/ou=00000000000000000000000000000000/cn=")):
            raw = low.rsplit("=", 1)[1]
            try:
                guid = uuidlib.UUID(bytes_le=bytes.fromhex(raw))
            except ValueError:
                return None
            return next((o for o in self.objects.values() if o.object_guid == guid), None)
        return None

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
            members = [o for o in self.objects.values() if o.in_gal and container.include(o)]
            members.sort(key=lambda o: (sort_key(o.display_name, locale), o.mid))
            rows = [o.mid for o in members]
            container._sorted[locale] = rows
            container._index[locale] = {mid: i for i, mid in enumerate(rows)}
        return rows

    def position(self, container: Container, mid: int, locale: int = 0x409) -> int | None:
        """Row index of ``mid`` in the container's table, or None."""
        self.table(container, locale)
        return container._index[locale].get(mid)

    def exact(self, text: str) -> list[AbObject]:
        """GAL objects whose alias, SMTP address, proxy address or display name equals ``text``
        (case-insensitive), from an index rebuilt when the directory changes."""
        index = self._exact_index
        if index is None or self._exact_version != self.version:
            index = {}
            for obj in self.objects.values():
                if not obj.in_gal:
                    continue
                keys = {obj.alias.casefold(), obj.display_name.casefold()}
                if obj.smtp:
                    keys.add(obj.smtp.casefold())
                for proxy in obj.props.get(P.PR_EMS_AB_PROXY_ADDRESSES, []):
                    text_ = str(proxy)
                    if text_[:5].lower() == "smtp:":
                        keys.add(text_[5:].casefold())
                for key in keys:
                    index.setdefault(key, []).append(obj)
            self._exact_index, self._exact_version = index, self.version
        return list(index.get(text.casefold(), []))

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
        """A deep copy (the cluster keeps a pristine one to reset to)."""
        return copy.deepcopy(self)

"""Indexes over the address book: ambiguous name resolution and table seeks.

NSPI's PR_ANR restriction and NspiResolveNames match a typed name against every GAL object
(MS-OXNSPI 3.1.4.7 ambiguous name resolution; the columns are the provider's choice,
MS-OXOABK 2.2.3.x: here display name, alias, SMTP address, given name, surname and each
word of them, compared as :func:`~fakegc.directory.model.sort_key`).  A linear scan costs
~10 collation keys per object per call; :class:`AnrIndex` keeps every (key, MId) pair of the
directory in one sorted list, so a prefix is two binary searches and a walk over the k
hits: O(log n + k).  NspiSeekEntries (MS-OXNSPI 3.1.4.1.9) positions a sorted table at the
first row whose display name sorts at or after a target: :func:`seek` bisects the table's
own collation keys (kept by :meth:`Directory.table`) in O(log n).

NspiResolveNames first looks for whole-value matches (:class:`ExactIndex`).  All are rebuilt
lazily when the directory's version changes, in O(n) with little Python work per object
(1M users: ANR ~3.6 s, exact ~1 s, where the first builds took ~10 s and ~15 s); the
property tests (tests/unit/test_directory_index.py) hold them to the linear scans they
replace.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Iterable
from typing import Any

from fakegc.directory import props as P
from fakegc.directory.build import guid_index
from fakegc.directory.model import AbObject, Container, Directory, gc_paused, sort_key

__all__ = ["AnrIndex", "ExactIndex", "RowCache", "adopt", "anr_index", "anr_mids", "exact", "exact_index", "row_cache",
           "seek", "warm"]


def anr_candidates(obj: AbObject) -> set[str]:
    """The strings ANR compares a name against: the fields and each word of them."""
    fields = [obj.display_name, obj.alias, obj.smtp or "",
              str(obj.props.get(P.PR_GIVEN_NAME, "")), str(obj.props.get(P.PR_SURNAME, ""))]
    out = set(fields)
    for f in fields:
        out.update(f.split())
    return out


class AnrIndex:
    """The GAL's ANR candidates: collation key -> MIds, the keys sorted; and SMTP addresses."""

    __slots__ = ("_keys", "_postings", "_smtp", "version")

    def __init__(self, objects: Iterable[AbObject], version: int = 0) -> None:
        # Objects sharing display name, given name and surname share their name keys: they
        # are grouped first and each group's keys computed once (a directory repeats names).
        # Alias and SMTP address are each object's own: one key each, the posting a bare MId
        # until a second object shares the key (a list per key cost 1M lists at 1M users).
        groups: dict[tuple[str, str, str], list[int]] = {}
        postings: dict[str, Any] = {}
        smtp: dict[str, Any] = {}
        given_tag, surname_tag, smtp_tag = P.PR_GIVEN_NAME, P.PR_SURNAME, P.PR_SMTP_ADDRESS
        for obj in objects:
            if not obj.in_gal:
                continue
            mid = obj.mid
            props = obj.props
            names = (obj.display_name, str(props.get(given_tag, "")), str(props.get(surname_tag, "")))
            group = groups.get(names)
            if group is None:
                groups[names] = [mid]
            else:
                group.append(mid)
            address = props.get(smtp_tag)
            address = address if isinstance(address, str) else ""
            for field in (obj.alias, address):
                for cand in (field, *field.split()):
                    key = sort_key(cand)
                    hit = postings.get(key)
                    if hit is None:
                        postings[key] = mid
                    elif type(hit) is int:
                        if hit != mid:
                            postings[key] = [hit, mid]
                    elif hit[-1] != mid:
                        hit.append(mid)
            folded = address.casefold()
            hit = smtp.get(folded)
            if hit is None:
                smtp[folded] = mid
            elif type(hit) is int:
                smtp[folded] = [hit, mid]
            else:
                hit.append(mid)
        for names, mids in groups.items():
            keys = {sort_key(cand) for field in names for cand in (field, *field.split())}
            for key in keys:
                hit = postings.get(key)
                if hit is None:
                    postings[key] = list(mids) if len(mids) > 1 else mids[0]
                elif type(hit) is int:
                    postings[key] = [hit, *mids]
                else:
                    hit.extend(mids)  # a list of this index's own, never a group's
        self._keys = sorted(postings)
        self._postings = postings
        self._smtp = smtp
        self.version = version

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, text: str) -> set[int]:
        """MIds ANR matches for ``text``: a prefix of any candidate; ``=name`` an exact
        candidate; ``=SMTP:address`` the primary SMTP address (case-insensitive)."""
        stripped = text.strip()
        needle = sort_key(stripped)
        if not needle:
            return set()
        if needle.startswith("=smtp:"):
            return _mids(self._smtp.get(stripped[6:].casefold()))
        if needle.startswith("="):
            return _mids(self._postings.get(needle[1:]))
        keys, postings = self._keys, self._postings
        i = bisect_left(keys, needle)
        out: set[int] = set()
        while i < len(keys) and keys[i].startswith(needle):
            hit = postings[keys[i]]
            if type(hit) is int:
                out.add(hit)
            else:
                out.update(hit)
            i += 1
        return out


def _mids(hit: int | list[int] | None) -> set[int]:
    """A posting (none, one bare MId, or a list) as a set."""
    if hit is None:
        return set()
    return {hit} if isinstance(hit, int) else set(hit)


def anr_index(d: Directory) -> AnrIndex:
    """The directory's ANR index, rebuilt when its version has moved on."""
    index = d.indexes.get("anr")
    if not isinstance(index, AnrIndex) or index.version != d.version:
        with gc_paused():
            index = AnrIndex(d.objects.values(), d.version)
        d.indexes["anr"] = index
    return index


class ExactIndex:
    """Whole-value matches for NspiResolveNames (MS-OXNSPI 3.1.4.7): casefolded display
    name, alias, SMTP address and SMTP proxy addresses -> MIds.

    An alias whose lower case is its casefold is found through ``Directory.by_alias`` and a
    default SMTP address (``alias@domain``) through its alias, so they are not stored again:
    at 1M users the index holds the display names and the exceptions only.
    """

    __slots__ = ("_names", "_suffix", "version")

    def __init__(self, d: Directory) -> None:
        names: dict[str, Any] = {}
        by_alias = d.by_alias
        own_domain = "@" + d.dns_domain
        smtp_tag, proxies_tag = P.PR_SMTP_ADDRESS, P.PR_EMS_AB_PROXY_ADDRESSES
        for obj in d.objects.values():
            if not obj.in_gal:
                continue
            mid, alias, props = obj.mid, obj.alias, obj.props
            keys = [obj.display_name.casefold()]
            via_alias = alias.isascii() or by_alias.get(alias.casefold()) == mid
            if not via_alias:
                keys.append(alias.casefold())
            address = props.get(smtp_tag)
            derived = (via_alias and isinstance(address, str)  # alias@domain: found via the alias
                       and len(address) == len(alias) + len(own_domain)
                       and address.startswith(alias) and address.endswith(own_domain))
            if isinstance(address, str) and not derived:
                keys.append(address.casefold())
            stored = props.get(proxies_tag)
            if stored is not None:
                for proxy in stored:
                    text = str(proxy)
                    if text[:5].lower() == "smtp:":
                        keys.append(text[5:].casefold())
            elif obj.kind != "server" and not isinstance(address, str):
                keys.append(f"{address}".casefold())  # the derived "SMTP:{address}" proxy
            for key in keys if len(keys) == 1 else set(keys):
                hit = names.get(key)
                if hit is None:
                    names[key] = mid
                elif type(hit) is int:
                    names[key] = [hit, mid]
                else:
                    hit.append(mid)
        self._names = names
        self._suffix = own_domain.casefold()
        self.version = d.version

    def lookup(self, d: Directory, text: str) -> list[AbObject]:
        """The GAL objects equal to ``text`` in one of the fields (casefolded), MId order."""
        key = text.casefold()
        hit = self._names.get(key)
        objects = d.objects
        found: list[int] = [] if hit is None else [hit] if type(hit) is int else list(hit)
        mid = d.by_alias.get(key)
        if mid is not None:
            obj = objects[mid]
            if obj.in_gal and obj.alias.casefold() == key:
                found.append(mid)
        if key.endswith(self._suffix):  # alias@domain: the alias's object, if that is its address
            mid = d.by_alias.get(key[:-len(self._suffix)])
            if mid is not None:
                owner = objects[mid]
                address = owner.props.get(P.PR_SMTP_ADDRESS)
                if owner.in_gal and isinstance(address, str) and address.casefold() == key:
                    found.append(mid)
        if len(found) < 2:
            return [objects[m] for m in found]
        return [objects[m] for m in sorted(set(found))]


def exact(d: Directory, text: str) -> list[AbObject]:
    """GAL objects whose alias, SMTP address, proxy address or display name equals ``text``
    (case-insensitive), in MId order (:class:`ExactIndex`)."""
    return exact_index(d).lookup(d, text)


def exact_index(d: Directory) -> ExactIndex:
    """The directory's exact-match index, rebuilt when its version has moved on."""
    index = d.indexes.get("exact")
    if not isinstance(index, ExactIndex) or index.version != d.version:
        with gc_paused():
            index = ExactIndex(d)
        d.indexes["exact"] = index
    return index


def anr_mids(d: Directory, text: str, container: Container | None = None,
             locale: int = 0x409) -> list[int]:
    """ANR matches for ``text``: in ``container``'s table order under ``locale`` when a
    container is given (only its rows), else in MId order."""
    found = anr_index(d).lookup(text)
    if container is None:
        return sorted(found)
    d.table(container, locale)
    pos = container._index[locale]
    return sorted((m for m in found if m in pos), key=pos.__getitem__)


def seek(d: Directory, container: Container, target: str, locale: int = 0x409) -> int | None:
    """Row of the first entry of ``container``'s table whose display name sorts at or after
    ``target`` under ``locale`` (MS-OXNSPI 3.1.4.1.9), or None past the end."""
    d.table(container, locale)
    keys = container._keys[locale]
    i = bisect_left(keys, sort_key(target, locale))
    return i if i < len(keys) else None


class RowCache:
    """Values derived per object (e.g. a protocol layer's encoded rows), per "view" (the
    columns and options they were made for), valid for one directory version.

    A view's entries are never dropped while the directory is unchanged, whatever the
    directory's size (a whole-cache clear at a fixed size made every row of a 100k table
    re-encode in turn); only whole views fall out, least recently used first, once more than
    ``max_views`` are kept.  The key per row is the MId alone.
    """

    __slots__ = ("_views", "max_views", "version")

    def __init__(self, version: int, max_views: int = 32) -> None:
        self.version = version
        self.max_views = max_views
        self._views: dict[Hashable, dict[int, Any]] = {}

    def view(self, key: Hashable) -> dict[int, Any]:
        """The MId -> value map of one view (created empty; most recently used kept)."""
        views = self._views
        found = views.pop(key, None)
        if found is None:
            found = {}
            if len(views) >= self.max_views:
                del views[next(iter(views))]
        views[key] = found
        return found


def row_cache(d: Directory) -> RowCache:
    """The directory's row cache, emptied when its version has moved on."""
    cache = d.indexes.get("rows")
    if not isinstance(cache, RowCache) or cache.version != d.version:
        cache = RowCache(d.version)
        d.indexes["rows"] = cache
    return cache


def warm(d: Directory, locale: int = 0x409) -> None:
    """Build what the first NSPI calls would otherwise build: every container's table under
    ``locale``, the ANR, exact-match and GUID indexes, the largest MId (1M users: ~8 s of CPU).

    Meant for a directory nobody changes (a cluster's pristine copy), from a worker thread;
    the served copy then takes the results with :func:`adopt` on its own thread.
    """
    for container in d.containers:
        d.table(container, locale)
    anr_index(d)
    exact_index(d)
    guid_index(d.objects.values(), d.indexes, d.version)  # derives every objectGUID
    d.max_mid()


def adopt(view: Directory, source: Directory) -> bool:
    """Give ``view`` (a copy of ``source``) the tables and indexes ``source`` has built, if
    neither has changed since the copy (same version); True when it did."""
    if view.version != source.version or len(view.containers) != len(source.containers):
        return False
    view._tables_cached = True  # first: a copy taken meanwhile that has the tables clears them
    for mine, theirs in zip(view.containers, source.containers):
        mine._keys.update(theirs._keys)
        mine._index.update(theirs._index)
        mine._sorted.update(theirs._sorted)
    for name, value in source.indexes.items():  # an index object, or a (version, value) pair
        version = value[0] if isinstance(value, tuple) else getattr(value, "version", None)
        if version == view.version:
            view.indexes.setdefault(name, value)
    return True

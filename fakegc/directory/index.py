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

Both are rebuilt lazily when the directory's version changes; the property tests
(tests/unit/test_directory_index.py) hold them to the linear scans they replace.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Iterable
from typing import Any

from fakegc.directory import props as P
from fakegc.directory.model import AbObject, Container, Directory, gc_paused, sort_key

__all__ = ["AnrIndex", "RowCache", "anr_index", "anr_mids", "row_cache", "seek"]


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
        memo: dict[str, str] = {}
        postings: dict[str, list[int]] = {}
        smtp: dict[str, list[int]] = {}
        given_tag, surname_tag = P.PR_GIVEN_NAME, P.PR_SURNAME
        for obj in objects:
            if not obj.in_gal:
                continue
            mid = obj.mid
            props = obj.props
            address = obj.smtp or ""
            fields = (obj.display_name, obj.alias, address,
                      str(props.get(given_tag, "")), str(props.get(surname_tag, "")))
            cands = set(fields)
            for f in fields:
                cands.update(f.split())
            keys = set()
            for cand in cands:
                key = memo.get(cand)
                if key is None:
                    key = memo[cand] = sort_key(cand)
                keys.add(key)
            for key in keys:
                hit = postings.get(key)
                if hit is None:
                    postings[key] = [mid]
                else:
                    hit.append(mid)
            hit = smtp.get(address.casefold())
            if hit is None:
                smtp[address.casefold()] = [mid]
            else:
                hit.append(mid)
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
            return set(self._smtp.get(stripped[6:].casefold(), ()))
        if needle.startswith("="):
            return set(self._postings.get(needle[1:], ()))
        keys, postings = self._keys, self._postings
        i = bisect_left(keys, needle)
        out: set[int] = set()
        while i < len(keys) and keys[i].startswith(needle):
            out.update(postings[keys[i]])
            i += 1
        return out


def anr_index(d: Directory) -> AnrIndex:
    """The directory's ANR index, rebuilt when its version has moved on."""
    index = d.indexes.get("anr")
    if not isinstance(index, AnrIndex) or index.version != d.version:
        with gc_paused():
            index = AnrIndex(d.objects.values(), d.version)
        d.indexes["anr"] = index
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

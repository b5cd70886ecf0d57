"""The directory's indexes against the linear scans they replace (issue #19).

Oracle for each: the plain scan the NSPI handlers ran before the index existed —
``restrictions.anr_match`` over every GAL object (MS-OXNSPI 3.1.4.7 ANR as this GC defines
its columns), the SeekEntries loop over the sorted table (MS-OXNSPI 3.1.4.1.9: first row
whose display name sorts at or after the target), and ``sort_key_slow`` for the cached
collation key (MS-NSPI 2.2.1.4 SortLocale rules).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fakegc.directory import props as P
from fakegc.directory.index import AnrIndex, anr_mids, exact, seek
from fakegc.directory.model import Directory, sort_key, sort_key_slow
from fakegc.nspi.restrictions import anr_match

LOCALES = [0x409, 0x407, 0x41D, 0x40B]
# letters that collate differently per locale, accents, case, spaces and '=' / ':'
ALPHABET = "abcABCäöåÄüßéèñ =:@.Zz"
word = st.text(alphabet=ALPHABET, min_size=0, max_size=8)
person = st.tuples(word, word, word)  # display name, given name, surname


def _directory(people: list[tuple[str, str, str]], hidden: set[int]) -> Directory:
    d = Directory()
    d.add_default_lists()
    for i, (display, given_name, surname) in enumerate(people):
        props = {}
        if given_name:
            props[P.PR_GIVEN_NAME] = given_name
        if surname:
            props[P.PR_SURNAME] = surname
        kind = "contact" if i % 5 == 4 else "user"
        obj = d.add(kind, f"u{i}{given_name[:2].strip()}", display, props=props)
        obj.in_gal = i not in hidden
    d.touch()
    return d


def _needles(people: list[tuple[str, str, str]], extra: list[str]) -> list[str]:
    out = list(extra)
    for display, given_name, _ in people[:6]:
        out += [display[:2], display, "=" + display, given_name[:1], "=SMTP:" + f"u0{given_name[:2].strip()}@contoso.test"]
    return out


@given(st.lists(person, max_size=25), st.sets(st.integers(0, 24)), st.lists(word, max_size=5))
@settings(max_examples=150, deadline=None)
def test_anr_index_agrees_with_the_linear_scan(people, hidden, extra) -> None:
    d = _directory(people, hidden)
    index = AnrIndex(d.objects.values(), d.version)
    for text in _needles(people, extra):
        # oracle: restrictions.anr_match over every GAL object (the scan ResolveNames ran)
        expected = {o.mid for o in d if o.in_gal and anr_match(d, o, text)}
        assert index.lookup(text) == expected, text


@given(st.lists(person, max_size=25), st.sets(st.integers(0, 24)), st.lists(word, max_size=4),
       st.sampled_from(LOCALES), st.integers(0, 5))
@settings(max_examples=100, deadline=None)
def test_anr_in_table_order_agrees_with_get_matches_scan(people, hidden, extra, locale, which) -> None:
    d = _directory(people, hidden)
    c = d.containers[which % len(d.containers)]
    for text in _needles(people, extra):
        # oracle: the GetMatches scan — the table under SortLocale, filtered by anr_match
        expected = [m for m in d.table(c, locale) if anr_match(d, d.objects[m], text)]
        assert anr_mids(d, text, c, locale) == expected, text


@given(st.lists(person, max_size=30), st.lists(word, min_size=1, max_size=6),
       st.sampled_from(LOCALES), st.integers(0, 5))
@settings(max_examples=100, deadline=None)
def test_seek_agrees_with_the_linear_scan(people, targets, locale, which) -> None:
    d = _directory(people, set())
    c = d.containers[which % len(d.containers)]
    rows = d.table(c, locale)
    for target in targets + [p[0] for p in people[:5]]:
        # oracle: the old SeekEntries loop (MS-OXNSPI 3.1.4.1.9: first row >= target)
        key = sort_key_slow(target, locale)
        expected = next((i for i, m in enumerate(rows)
                         if sort_key_slow(d.objects[m].display_name, locale) >= key), None)
        assert seek(d, c, target, locale) == expected


@given(st.text(max_size=12), st.sampled_from(LOCALES))
@settings(max_examples=300, deadline=None)
def test_sort_key_fast_paths_agree_with_the_reference(text, locale) -> None:
    # oracle: sort_key_slow, the casefold + locale table + NFKD rule of MS-NSPI 2.2.1.4 as
    # the model states it; the ASCII fast path and the cache must not change a key
    assert sort_key(text, locale) == sort_key_slow(text, locale)
    assert sort_key(text, locale) == sort_key_slow(text, locale)  # now from the cache


def test_index_follows_directory_changes() -> None:
    # oracle: anr_match after the change (a stale index would miss the new object)
    d = _directory([("Alice Wonder", "Alice", "Wonder")], set())
    assert len(anr_mids(d, "zed")) == 0
    obj = d.add("user", "zed", "Zed Zulu")
    assert anr_mids(d, "zed") == [obj.mid]
    assert anr_match(d, obj, "zed")


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_uuid5_fast_path_agrees_with_uuid_module(name) -> None:
    # oracle: Python's uuid.uuid5 (RFC 4122 §4.3 name-based UUID, SHA-1)
    import uuid

    from fakegc.directory.model import uuid5_le

    assert uuid5_le(name) == uuid.uuid5(uuid.NAMESPACE_DNS, name).bytes_le


def test_row_cache_keeps_views_until_the_directory_changes() -> None:
    # oracle: the cache's contract (no whole-cache clear at any size; a change empties it)
    from fakegc.directory.index import row_cache

    d = _directory([("Alice Wonder", "Alice", "Wonder")], set())
    view = row_cache(d).view(("cols", 1))
    for mid in range(200_000):
        view[mid] = b"x"
    assert len(row_cache(d).view(("cols", 1))) == 200_000  # nothing dropped at any size
    for i in range(40):
        row_cache(d).view(("other", i))
    assert ("cols", 1) not in row_cache(d)._views  # only whole views fall out, LRU first
    d.touch()
    assert row_cache(d).view(("other", 39)) == {}  # a new version starts empty


def _exact_scan(d: Directory, text: str) -> list:
    """The scan ``Directory.exact`` ran before its index (every GAL object, MId order)."""
    want = text.casefold()
    out = []
    for obj in d:
        if not obj.in_gal:
            continue
        keys = {obj.alias.casefold(), obj.display_name.casefold()}
        if obj.smtp:
            keys.add(obj.smtp.casefold())
        for proxy in obj.prop(P.PR_EMS_AB_PROXY_ADDRESSES, []):
            if str(proxy)[:5].lower() == "smtp:":
                keys.add(str(proxy)[5:].casefold())
        if want in keys:
            out.append(obj)
    return out


ALIAS_ALPHABET = "abAB.ßİΣσςüÜ-"


@given(st.lists(st.tuples(st.text(alphabet=ALIAS_ALPHABET, min_size=1, max_size=5), word,
                          st.sampled_from(["none", "own", "upper", "other", "proxy"])), max_size=20),
       st.sets(st.integers(0, 19)), st.lists(word, max_size=4), st.sampled_from(["contoso.test", "Straße.TEST"]))
@settings(max_examples=200, deadline=None)
def test_exact_index_agrees_with_the_scan(people, hidden, extra, domain) -> None:
    d = Directory(dns_domain=domain)
    d.add("server", "ex01", "ex01")
    for i, (alias, display, smtp_kind) in enumerate(people):
        smtp = {"own": f"{alias}@{domain}", "upper": f"{alias}@{domain}".upper(),
                "other": f"{alias}@elsewhere.test"}.get(smtp_kind)
        props = {P.PR_EMS_AB_PROXY_ADDRESSES: [f"smtp:{alias}.p@x.test", "X400:c=x"]} if smtp_kind == "proxy" else None
        try:
            obj = d.add("contact" if i % 4 == 3 else "user", alias, display or alias, props=props, smtp=smtp)
        except ValueError:
            continue  # a duplicate alias
        obj.in_gal = i not in hidden
    if people and people[0][0] in d.by_alias:  # a written object keeps its proxies stored
        first = d.find_alias(people[0][0])
        assert first is not None
        d.writable(first).props[P.PR_SMTP_ADDRESS] = "changed@x.test"
    d.touch()
    needles = list(extra) + ["ex01", "changed@x.test"]
    for alias, display, _ in people:
        needles += [alias, alias.upper(), display, f"{alias}@{domain}", f"{alias}@{domain}".casefold(),
                    f"{alias}.p@x.test", f"{alias}@elsewhere.test"]
    for text in needles:
        # oracle: the scan over every GAL object that the index replaced
        assert exact(d, text) == _exact_scan(d, text), text


@given(st.lists(person, max_size=25), st.sets(st.integers(0, 24)))
@settings(max_examples=100, deadline=None)
def test_container_tables_are_the_sorted_scan(people, hidden) -> None:
    d = _directory(people, hidden)
    d.add_container("Only contacts", lambda o: o.kind == "contact")
    for locale in LOCALES:
        for c in reversed(d.containers):  # a container before the GAL: it sorts the GAL first
            # oracle: MS-NSPI 2.2.1.4 -- rows by the locale's collation key, then MId, of the
            # GAL objects the container includes (the sort the table ran before)
            want = [m for _, m in sorted((sort_key_slow(o.display_name, locale), o.mid)
                                         for o in d if o.in_gal and c.include(o))]
            assert d.table(c, locale) == want
            assert c._keys[locale] == [sort_key_slow(d.objects[m].display_name, locale) for m in want]


def test_max_mid_follows_the_directory() -> None:
    d = Directory()
    assert d.max_mid() == 0
    for i in range(5):
        d.add("user", f"m{i}", f"M {i}")
        # oracle: the scan the GC's MId block was sized from (max over every object's MId)
        assert d.max_mid() == max(d.objects)
    view = d.copy()
    view.add("user", "late", "Late")
    assert view.max_mid() == max(view.objects) and d.max_mid() == max(d.objects)

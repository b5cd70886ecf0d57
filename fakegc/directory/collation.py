"""Collation keys for sorting and matching address-book names (MS-NSPI 2.2.1.4 SortLocale;
docs/PROTOCOL.md §7)."""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["sort_key", "sort_key_slow"]

_SWEDISH_TAIL = {"å": "{1", "ä": "{2", "ö": "{3"}  # "{" sorts right after "z"
_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}


def sort_key(text: str, locale: int = 0x409) -> str:
    """A collation key honouring the NSPI SortLocale (MS-NSPI 2.2.1.4).

    Default: accent- and case-insensitive.  German (0x407) sorts umlauts as their
    two-letter spellings (phone-book order); Swedish/Finnish (0x41D, 0x40B) sort
    å, ä, ö after z.  ASCII text needs only lower-casing (every locale rule above is about
    non-ASCII letters, and NFKD leaves ASCII alone); other text is cached.
    """
    if text.isascii():
        return text.lower()
    return _sort_key_cached(text, locale)


@functools.lru_cache(maxsize=1 << 16)
def _sort_key_cached(text: str, locale: int) -> str:
    return sort_key_slow(text, locale)


def sort_key_slow(text: str, locale: int = 0x409) -> str:
    """:func:`sort_key` without the fast paths (the reference its property test uses)."""
    low = text.casefold()
    if locale in (0x41D, 0x40B):
        low = "".join(_SWEDISH_TAIL.get(c, c) for c in low)
    elif locale == 0x407:
        low = "".join(_GERMAN.get(c, c) for c in low)
    decomposed = unicodedata.normalize("NFKD", low)
    return "".join(c for c in decomposed if not unicodedata.combining(c))

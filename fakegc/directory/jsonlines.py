"""The line of one list entry in a JSON fixture, without parsing it again for line marks.

A JSON fixture is parsed by msgspec, which keeps no positions. When the build refuses an
entry (a type, a duplicate alias, an unknown member) the error knows the entry's section and
index (``FixtureError.entry``). Parsing the whole document again as YAML to get marks cost
18 s and 1.2 GB at 100k users (minutes at 1M). Instead the document is split with msgspec
into raw byte spans (``msgspec.Raw``: the section's value, then its entries), and each span
is found in the text in order, starting where the previous one ended: only whitespace and a
comma lie between two entries (RFC 8259 §5), so each search lands on the entry itself. The
line is the count of newlines before its opening byte, the line YAML's mark gives for the
same mapping. The loader then scans that entry alone for nesting deeper than it allows (its
check of the parsed tree skips recipient entries). Tests: tests/unit/test_jsonlines.py;
docs/PROTOCOL.md §7, "Loading a large JSON fixture".
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["locate"]

_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_LIST = msgspec.json.Decoder(list[msgspec.Raw])


def locate(data: str | bytes, section: str, index: int) -> tuple[int, bytes] | None:
    """The 1-based line where entry ``index`` of the top-level list ``section`` opens, and
    the entry's bytes; None when the document does not have that shape."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        value = _TOP.decode(raw).get(section)
        if value is None:
            return None
        entries = _LIST.decode(value)
    except (msgspec.MsgspecError, UnicodeError):
        return None
    if not 0 <= index < len(entries):
        return None
    span = bytes(value)
    start = _value_start(raw, section, span)
    if start is None:
        return None
    pos = start + 1  # past the list's "["
    at, piece = -1, b""
    for entry in entries[:index + 1]:
        piece = bytes(entry)
        at = raw.find(piece, pos)
        if at < 0:
            return None
        pos = at + len(piece)
    return raw.count(b"\n", 0, at) + 1, piece


def _value_start(raw: bytes, section: str, span: bytes) -> int | None:
    """Where the value of the top-level key ``section`` (the bytes ``span``) starts: a
    ``"section":`` followed by exactly those bytes (the last such key, as the decoder keeps)."""
    key = re.compile(rb'"' + re.escape(section.encode()) + rb'"\s*:\s*')
    found = None
    for m in key.finditer(raw):
        if raw.startswith(span, m.end()):
            found = m.end()
    return found

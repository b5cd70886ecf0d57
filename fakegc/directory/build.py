"""Helpers for building large directories fast (issue #19; docs/PROTOCOL.md §7)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import uuid as uuidlib
from collections.abc import Iterator

__all__ = ["gc_paused", "uuid5_le"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while building large structures.

    Building 100k objects allocates millions of containers; each allocation burst triggers
    a collection that walks everything built so far, which more than doubled the time to
    load a 100k-user fixture (2.8 s against 1.4 s).  Reference counting still frees
    everything; the collector resumes (if it was on) when the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_DNS_NAMESPACE = uuidlib.NAMESPACE_DNS.bytes


def uuid5_le(name: str) -> bytes:
    """``uuid5(NAMESPACE_DNS, name).bytes_le`` (RFC 4122 §4.3) without building UUID objects
    (a third of the cost of adding an object to a large directory)."""
    raw = bytearray(hashlib.sha1(_DNS_NAMESPACE + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    return bytes(raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:])

"""Bounded records of errors inside fakegc's servers: counters plus the last N summaries.

A server that catches an unexpected exception keeps serving; what it keeps of the
exception is a one-line summary (type, message, innermost location), never the
exception object with its traceback and frames, so a flood of bad input costs a
constant amount of memory.  ``fakegc.testing.plugin`` raises the first summary
after a test.  It lives at the package top level because every server uses it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator

__all__ = ["ErrorLog", "ServerError", "summarize"]


class ServerError(Exception):
    """The summary of an exception caught inside a server (no traceback kept)."""

    def __init__(self, summary: str, type_name: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.type_name = type_name


def summarize(exc: BaseException, limit: int = 300) -> str:
    """``Type: message (file.py:line in func)`` for the innermost frame, truncated."""
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        where = f" ({code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name})"
    message = str(exc).replace("\n", " ")[:limit]
    return f"{type(exc).__name__}: {message}{where}"


class ErrorLog:
    """How many errors of each type, and the last ``keep`` summaries (list-like for tests)."""

    def __init__(self, keep: int = 100) -> None:
        self._recent: collections.deque[ServerError] = collections.deque(maxlen=keep)
        self.by_type: collections.Counter[str] = collections.Counter()
        self.total = 0
        self._lock = threading.Lock()

    def append(self, exc: BaseException) -> ServerError:
        """Count ``exc`` and keep its summary; the exception itself is not kept."""
        record = ServerError(summarize(exc), type(exc).__name__)
        with self._lock:
            self.total += 1
            if len(self.by_type) < 1000 or record.type_name in self.by_type:
                self.by_type[record.type_name] += 1
            self._recent.append(record)
        return record

    def clear(self) -> None:
        """Forget the summaries and counters."""
        with self._lock:
            self._recent.clear()
            self.by_type.clear()
            self.total = 0

    def __len__(self) -> int:
        return len(self._recent)

    def __iter__(self) -> Iterator[ServerError]:
        return iter(list(self._recent))

    def __getitem__(self, index: int) -> ServerError:
        return list(self._recent)[index]

    def __bool__(self) -> bool:
        return self.total > 0

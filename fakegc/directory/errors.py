"""The one error a bad fixture gives: one line naming file:line (and the key)."""

from __future__ import annotations

__all__ = ["FixtureError", "fail"]


class FixtureError(ValueError):
    """A fixture that does not validate; the message names file and line."""


def fail(source: str, line: int | None, message: str, key: str | None = None) -> FixtureError:
    """The error for ``message`` at ``source:line`` (line 1 when unknown)."""
    where = f"{source}:{line}" if line else f"{source}:1"
    return FixtureError(f"{where}: {key}: {message}" if key else f"{where}: {message}")

"""The one error a bad fixture gives: one line naming file:line (and the key)."""

from __future__ import annotations

__all__ = ["FixtureError", "fail"]


class FixtureError(ValueError):
    """A fixture that does not validate; the message names file and line.

    ``message``, ``key`` and ``line`` are the parts of the text; ``entry`` is the
    (section, index) of the list entry the error came from when the document carried no
    line marks (a JSON fixture), so the loader can name its line afterwards
    (fakegc/directory/jsonlines.py).
    """

    def __init__(self, text: str, *, message: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(text)
        self.message = text if message is None else message
        self.key = key
        self.line = line
        self.entry: tuple[str, int] | None = None


def fail(source: str, line: int | None, message: str, key: str | None = None) -> FixtureError:
    """The error for ``message`` at ``source:line`` (line 1 when unknown)."""
    where = f"{source}:{line}" if line else f"{source}:1"
    return FixtureError(f"{where}: {key}: {message}" if key else f"{where}: {message}",
                        message=message, key=key, line=line)

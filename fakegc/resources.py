"""The data fakegc ships: directories and scenarios (README "Directories", "Scenarios").

They live in the repository's top-level ``fixtures/`` and travel inside the wheel as the
package data ``fakegc/_fixtures`` (pyproject's ``force-include``); in a checkout
``fakegc/_fixtures`` is a symlink to ``../fixtures``. Everything finds them through
:mod:`importlib.resources`, never through paths relative to the source tree, so an
installed wheel, an editable install and the Docker image behave the same.

:func:`read_text` reads any data file (shipped or the user's) the one way a bad file is
reported: one line naming ``file:line`` (issue #18), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

__all__ = ["decode_text", "read_bytes", "read_text", "shipped"]


def shipped(*parts: str) -> Path:
    """The shipped data file or folder ``fixtures/<parts...>`` as a filesystem path.

    fakegc is installed as files (wheel, editable or image), so the package's
    resources are real paths; a zipped install is not supported.
    """
    root = resources.files("fakegc").joinpath("_fixtures")
    if not isinstance(root, Path):
        raise TypeError(f"fakegc's data must be installed as files, not {root!r}")
    return root.joinpath(*parts)


def read_bytes(path: Path, error: Callable[[str], Exception]) -> bytes:
    """``path``'s bytes; unreadable raises ``error("file: cannot read: why")``."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def decode_text(data: bytes, path: Path | str, error: Callable[[str], Exception]) -> str:
    """``data`` as UTF-8 text; not UTF-8 raises ``error("file:line: not UTF-8 text ...")``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def read_text(path: Path, error: Callable[[str], Exception]) -> str:
    """``path`` as UTF-8 text; unreadable or not UTF-8 raises ``error("file[:line]: why")``."""
    return decode_text(read_bytes(path, error), path, error)

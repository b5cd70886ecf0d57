"""The data fakegc ships: directories and scenarios (README "Directories", "Scenarios").

They live in the repository's top-level ``fixtures/`` and travel inside the wheel as the
package data ``fakegc/_fixtures`` (pyproject's ``force-include``); in a checkout
``fakegc/_fixtures`` is a symlink to ``../fixtures``. Everything finds them through
:mod:`importlib.resources`, never through paths relative to the source tree, so an
installed wheel, an editable install and the Docker image behave the same.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["shipped"]


def shipped(*parts: str) -> Path:
    """The shipped data file or folder ``fixtures/<parts...>`` as a filesystem path.

    fakegc is installed as files (wheel, editable or image), so the package's
    resources are real paths; a zipped install is not supported.
    """
    root = resources.files("fakegc").joinpath("_fixtures")
    if not isinstance(root, Path):
        raise TypeError(f"fakegc's data must be installed as files, not {root!r}")
    return root.joinpath(*parts)

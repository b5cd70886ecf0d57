"""The repository points only inside itself: no citation of notes kept outside it, and every
``PROTOCOL.md §N`` / ``PROTOCOL.md "Title"`` citation names a section docs/PROTOCOL.md has.
The oracle is docs/PROTOCOL.md's own headings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|shared/DESIGN|DESIGN\.md|STYLE\.md|KB929439\.txt")
CITE_NUM = re.compile(r"PROTOCOL\.md §(\d+)")
CITE_TITLE = re.compile(r'PROTOCOL\.md "([^"]+)"')


def _tracked_text() -> dict[str, str]:
    names = subprocess.run(["git", "ls-files", "fakegc", "tests", "benchmarks", "docs", "docker",
                            "README.md", "CONTRIBUTING.md", "Makefile", "pyproject.toml", ".ci"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for name in names:
        path = ROOT / name
        if name == "tests/unit/test_docs_refs.py" or not path.is_file():
            continue
        try:
            out[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return out


def test_nothing_points_outside_the_repository() -> None:
    hits = [f"{name}: {m.group(0)}" for name, text in _tracked_text().items()
            for m in OUTSIDE.finditer(text)]
    assert hits == []


def test_protocol_citations_name_existing_sections() -> None:
    doc = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    headings = dict(re.findall(r"^## (\d+)\. (.+)$", doc, re.MULTILINE))
    titles = {t.strip().lower() for t in headings.values()}
    bad = []
    for name, text in _tracked_text().items():
        bad += [f"{name}: §{n}" for n in CITE_NUM.findall(text) if n not in headings]
        bad += [f'{name}: "{t}"' for t in CITE_TITLE.findall(text) if t.strip().lower() not in titles]
    assert bad == []

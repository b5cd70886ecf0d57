"""The JSON loader's fast paths against the checks they stand in for (issue #19 load time).

``_too_deep`` (a walk of the parsed tree) must agree with ``_depth_line`` (the text scan
harden's bounds use, which also names the line); ``_check_types``'s all-text shortcut must
accept exactly what its full checks accept.  The oracle is the slower function itself on
random documents, including ones nested past MAX_DEPTH and ones with wrongly typed values.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from fakegc.directory import loader
from fakegc.directory.errors import FixtureError


def _nested(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(["x", "[{not json}]", 'q"uote', 3, None, True, 1.5])
    if rng.random() < 0.5:
        return [_nested(rng, depth - 1) for _ in range(rng.randrange(0, 3))]
    return {f"k{i}": _nested(rng, depth - 1) for i in range(rng.randrange(0, 3))}


def _chain(depth: int) -> Any:
    doc: Any = "leaf"
    for i in range(depth):
        doc = [doc] if i % 2 else {"k": doc}
    return doc


@pytest.mark.parametrize("seed", range(6))
def test_too_deep_agrees_with_the_text_scan(seed: int) -> None:
    # the documents' keys are k0..k2: no recipient section, whose entries _too_deep leaves to
    # the build's type checks (tests/unit/test_loader_fast_build.py holds that case)
    rng = random.Random(seed)
    for _ in range(150):
        depth = rng.choice([2, 10, loader.MAX_DEPTH - 1, loader.MAX_DEPTH, loader.MAX_DEPTH + 1, 90])
        doc = _chain(depth) if rng.random() < 0.5 else _nested(rng, depth)
        text = json.dumps(doc, indent=rng.choice([None, 1]))
        # oracle: _depth_line, the text scan of [ and { outside strings
        assert loader._too_deep(json.loads(text)) == (loader._depth_line(text) is not None)


def test_deep_json_names_its_line() -> None:
    text = "{\n" + '"users": ' + json.dumps(_chain(loader.MAX_DEPTH + 5)) + "\n}"
    with pytest.raises(FixtureError) as err:
        loader.load_json_text(text, "deep.json")
    assert "nested deeper" in str(err.value) and "deep.json:2" in str(err.value)


_VALUES = ["text", "", 7, -1, 1 << 40, 2.5, True, None, ["a", "b"], ["a", 3], [], {"k": "v"}]


@pytest.mark.parametrize("seed", range(4))
def test_check_types_shortcut_accepts_what_the_full_checks_accept(seed: int) -> None:
    rng = random.Random(seed)
    keys = sorted(loader._KNOWN - {"__line__"})
    for _ in range(2000):
        entry = {k: rng.choice(_VALUES) if rng.random() < 0.3 else f"v{k}"
                 for k in rng.sample(keys, rng.randrange(1, 8))}
        try:
            loader._check_types(entry, "t.json", 1, loader._TEXT_KEYS)
            fast = None
        except FixtureError as exc:
            fast = str(exc)
        shortcut = loader._LIST_KEYS
        loader._LIST_KEYS = frozenset(keys)  # disables the shortcut: the full checks run
        try:
            loader._check_types(entry, "t.json", 1, loader._TEXT_KEYS)
            full = None
        except FixtureError as exc:
            full = str(exc)
        finally:
            loader._LIST_KEYS = shortcut
        assert fast == full  # oracle: the full type checks (harden's rules)

"""The import contract (pyproject [tool.importlinter], docs/ARCHITECTURE.md Layers): no lower
layer imports a higher one, and no import cycle between sibling packages or modules at any
depth, imports inside functions included.  The oracle is import-linter's own graph (grimp)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_every_top_level_module_has_a_layer() -> None:
    # a module outside the layers list is checked by no layer rule: each must be placed
    import pkgutil
    import tomllib

    import fakegc

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for row in layers for name in row.split("|")}
    modules = {f"fakegc.{m.name}" for m in pkgutil.iter_modules(fakegc.__path__)
               if not m.name.startswith("_")}
    assert modules - placed == set(), "add these to a layer in pyproject.toml and ARCHITECTURE.md"

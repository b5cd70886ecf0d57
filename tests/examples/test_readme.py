"""Every ``sh`` and ``python`` block of the README runs as a reader would paste it.

The reader has run ``make demo`` (the venv exists) and typed ``. .venv/bin/activate``; each
``sh`` block runs in bash with that venv activated, in one working directory shared by the
whole tour (so ``fakegc.json`` written by step 1 is read by step 3).  A ``python`` block is a
script run with the venv's python there, or, when it defines ``test_`` functions, a test file
run by pytest (the plugin loads through its entry point).  Blocks run in README order.

Blocks run in a scratch directory, not in the checkout: a block that needs the checkout
(``make`` targets) is marked ``skip`` naming the test that covers it.

Conventions (an HTML comment on the line just above the fence; other info strings, e.g.
``text``, are output and are not run)::

    <!-- readme-test: skip REASON -->        never run (say why: the test that covers it)
    <!-- readme-test: root -->               needs root (CI is root): run only as root
    <!-- readme-test: lab -->                needs lab mode (root, network namespaces): as root
    <!-- readme-test: background -->         a server: started, awaited until it prints
                                             "ready" (or ready="TEXT"), stopped at the end
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.portlock import PortLock

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV = Path(sys.executable).parent.parent
RUN = {"sh", "bash", "shell", "python", "py"}
MARK = re.compile(r"<!--\s*readme-test:\s*(?P<what>[\w-]+)(?P<rest>[^>]*?)\s*-->")
FENCE = re.compile(r"^```(?P<info>[\w+-]*)[^\n]*\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
TIMEOUT = 300


@dataclass
class Block:
    line: int
    lang: str
    body: str
    mark: str = ""
    arg: str = ""

    @property
    def id(self) -> str:
        first = next((ln for ln in self.body.splitlines() if ln.strip()
                      and not ln.startswith("#")), "")
        return f"L{self.line}-{self.lang}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', first)[:40]}"


def blocks(text: str) -> list[Block]:
    """The README's runnable blocks with their markers."""
    out = []
    for m in FENCE.finditer(text):
        lang = m.group("info").lower()
        if lang not in RUN:
            continue
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        out.append(Block(line, "python" if lang in ("python", "py") else "sh", m.group("body"),
                         mark.group("what") if mark else "", mark.group("rest").strip() if mark else ""))
    return out


BLOCKS = blocks(README.read_text(encoding="utf-8"))


class Tour:
    """The reader's terminal: one directory, the venv activated, servers left running."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.servers: list[subprocess.Popen[str]] = []
        self.locks: list[PortLock] = []
        self.env = dict(os.environ, VIRTUAL_ENV=str(VENV),
                        PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        self.env.pop("PYTHONPATH", None)
        self.env.pop("PYTEST_XDIST_WORKER", None)

    def sh(self, body: str) -> list[str]:
        return ["bash", "-e", "-o", "pipefail", "-c", f". {shlex.quote(str(VENV / 'bin' / 'activate'))}\n{body}"]

    def background(self, block: Block) -> None:
        want = re.search(r'ready="([^"]*)"', block.arg)
        ready = want.group(1) if want else "ready"
        log = self.path / f"server-L{block.line}.log"
        if re.search(r"\b443\b", block.body):  # impacket's proxy port: one holder at a time
            lock = PortLock(443)
            lock.acquire()
            self.locks.append(lock)
        for _ in range(60):  # a fixed port may still be held by a process outside the suite
            out = log.open("w")
            proc = subprocess.Popen(self.sh(block.body), cwd=self.path, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            deadline = time.monotonic() + 60
            while proc.poll() is None and ready not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None and ready in log.read_text():
                self.servers.append(proc)
                return
            self.stop(proc)
            if "in use" not in log.read_text():
                break
            time.sleep(1)
        pytest.fail(f"README line {block.line}: the server did not print {ready!r}:\n"
                    f"{log.read_text()}")

    def run(self, block: Block) -> subprocess.CompletedProcess[str]:
        if block.lang == "sh":
            cmd = self.sh(block.body)
        elif re.search(r"^\s*(async\s+)?def test_", block.body, re.MULTILINE):
            name = f"test_readme_l{block.line}.py"
            (self.path / name).write_text(block.body)
            cmd = [str(VENV / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-W", "error::RuntimeWarning", name]
        else:
            script = self.path / f"readme_l{block.line}.py"
            script.write_text(block.body)
            cmd = [str(VENV / "bin" / "python"), str(script)]
        return subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)

    @staticmethod
    def stop(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # the session we started: the server and its shell
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def close(self) -> None:
        for proc in reversed(self.servers):
            self.stop(proc)
        for lock in self.locks:
            lock.release()


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    t = Tour(tmp_path_factory.mktemp("readme-tour"))
    yield t
    t.close()


def test_the_readme_has_runnable_blocks_of_both_kinds():
    assert {b.lang for b in BLOCKS if b.mark != "skip"} == {"sh", "python"}
    unknown = {b.mark for b in BLOCKS} - {"", "skip", "root", "lab", "background"}
    assert not unknown, f"unknown readme-test markers: {unknown}"
    for b in BLOCKS:  # a block that is not run says why (not collected: nothing is skipped)
        assert b.mark != "skip" or len(b.arg) > 10, f"README line {b.line}: skip without a reason"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark != "skip"], ids=lambda b: b.id)
def test_readme_block(tour, block):
    if block.mark in ("root", "lab") and os.geteuid() != 0:
        assert os.environ.get("CI") != "true", "CI runs as root"
        pytest.skip(f"README line {block.line} needs root ({block.mark})")
    if block.mark == "background" or (block.mark in ("root", "lab") and "background" in block.arg):
        tour.background(block)
        return
    done = tour.run(block)
    assert done.returncode == 0, (f"README line {block.line} ({block.lang}) failed "
                                  f"({done.returncode}):\n{block.body}\n--- stdout\n{done.stdout}"
                                  f"\n--- stderr\n{done.stderr}")

"""The journal mirror cannot stop service (issue #18 item 7).

A full disk makes write(2)/flush fail with ENOSPC (POSIX write(): "no free space
remaining on the device"); the servers keep answering, the failure is counted and the
control plane reports ``degraded``.  The JSON Lines mirror rotates by size.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakegc.journal import Journal
from fakegc.rpc.epm import EPM
from fakegc.rpc.mgmt import MGMT
from fakegc.scenario.cluster import ClusterConfig, ClusterThread
from fakegc.scenario.ctl import request
from fakegc.testing.rawrpc import RawRpc, syntax
from fakegc.wire import pdu as P


class DiskFull(io.StringIO):
    """A mirror whose every write fails as a full disk does."""

    def write(self, s: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_write_failures_are_counted_not_raised() -> None:
    journal = Journal(jsonl=DiskFull())
    for i in range(50):
        journal.record("gc01", "connect", i)
    assert len(journal) == 50 and journal.write_errors == 50
    assert "No space left" in (journal.last_write_error or "")
    assert journal.health_problems() and "50 write error" in journal.health_problems()[0]
    journal._file = io.StringIO()  # space again: the next write succeeds, health recovers
    journal.record("gc01", "connect", 51)
    assert journal.health_problems() == []


def test_mirror_rotates_by_size_and_keeps_n(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(jsonl=str(path), rotate_bytes=4000, keep=2)
    for i in range(400):
        journal.record("gc01", "request", i, op="NspiQueryRows", pad="x" * 40)
    journal.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["j.jsonl", "j.jsonl.1", "j.jsonl.2"]
    assert journal.rotations >= 3
    for name in files:
        text = (tmp_path / name).read_text()
        assert len(text) < 4000 + 200
        assert all(json.loads(line)["actor"] == "gc01" for line in text.splitlines())


def test_disk_full_keeps_epm_serving_and_degrades_health() -> None:
    with ClusterThread(ClusterConfig(admin_port=0)) as ct:
        ct.cluster.journal._file = DiskFull()
        ep = ct.endpoints()
        with RawRpc("127.0.0.1", ep["actors"]["gc01"]["epm"]) as rpc:
            ack = rpc.bind(syntax(EPM.uuid, 3))
            assert ack.ptype == P.PTYPE.BIND_ACK  # C706 12.6.4.3 bind_ack
        with RawRpc("127.0.0.1", ep["actors"]["gc01"]["nspi"]) as rpc:
            assert rpc.bind(syntax(MGMT.uuid, 1)).ptype == P.PTYPE.BIND_ACK
            reply = rpc.call(0, b"")  # mgmt inq_if_ids (C706 appendix Q) needs no auth
            assert reply.ptype == P.PTYPE.RESPONSE
        state = request(ep["admin"], "GET", "/state", token=ep["admin_token"])
        assert state["health"] == "degraded" and "No space left" in state["problems"][0]
        assert ct.cluster.journal.write_errors > 0


_FILL = """
import sys
from fakegc.journal import Journal
j = Journal(jsonl=sys.argv[1] + "/j.jsonl", rotate_bytes=1 << 30)
for i in range(3000):
    j.record("gc01", "request", i, pad="y" * 100)
j.close()
print(j.write_errors, len(j))
"""


def test_real_full_tmpfs(tmp_path: Path) -> None:
    """A 64 KiB tmpfs in a private mount namespace (unshare -m): ENOSPC for real."""
    unshare = shutil.which("unshare")
    assert unshare is not None  # util-linux
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f"mount -t tmpfs -o size=64k fakegc-full {mnt} && exec {sys.executable} -c '{_FILL}' {mnt}"
    done = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    errors, kept = map(int, done.stdout.split())
    assert errors > 0 and kept == 3000

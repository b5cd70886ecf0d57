"""impacket's installed ``rpcmap.py`` lists what a port serves through the management interface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fakegc.testing.echo import ECHO

RPCMAP = Path(sys.executable).parent / "rpcmap.py"


def test_rpcmap_lists_every_interface(make_server):
    server = make_server()
    done = subprocess.run([sys.executable, str(RPCMAP), f"ncacn_ip_tcp:127.0.0.1[{server.port}]"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout.upper()
    for uuid in (str(ECHO.uuid), "AFA8BD80-7D8A-11C9-BEF4-08002B102989",
                 "E1AF8308-5D1F-11C9-91A4-08002B14A0FA"):
        assert f"UUID: {uuid.upper()}" in out
    # rpcmap binds with anonymous NTLM at privacy: a protected session with no user
    server.journal.expect("auth", user=None, level=6)


def test_rpcmap_on_every_cluster_port(ct):
    ep = ct.endpoints()
    expected = {
        ep["actors"]["gc01"]["nspi"]: "F5CC5A18-4264-101A-8C59-08002B2F8426",
        ep["actors"]["ex01"]["rfr"]: "1544F5E0-613C-11D1-93DF-00C04FD7BD09",
        ep["actors"]["gc01"]["epm"]: "E1AF8308-5D1F-11C9-91A4-08002B14A0FA",
    }
    for port, uuid in expected.items():
        done = subprocess.run([sys.executable, str(RPCMAP), f"ncacn_ip_tcp:127.0.0.1[{port}]"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        out = done.stdout.upper()
        assert f"UUID: {uuid}" in out and "UUID: AFA8BD80-7D8A-11C9-BEF4-08002B102989" in out

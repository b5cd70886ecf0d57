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

"""Samba's DCE/RPC client (python3-samba, Debian's /usr/bin/python3) against the engine.

Samba's client is strict where impacket is lenient: it offers bind-time feature
negotiation, asks for header signing, appends verification trailers at integrity
and privacy, and checks every signature of our answers (PROTOCOL.md §10).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fakegc.testing.echo import ECHO

SCRIPT = Path(__file__).parent / "samba" / "samba_client.py"
SYSTEM_PY = "/usr/bin/python3"


def have_samba() -> bool:
    if not os.path.exists(SYSTEM_PY):
        return False
    probe = subprocess.run([SYSTEM_PY, "-c", "import samba.dcerpc.mgmt"], capture_output=True)
    return probe.returncode == 0


needs_samba = pytest.mark.skipif(
    not have_samba() and os.environ.get("CI") != "true",
    reason="python3-samba not installed (make test installs it when root)")


def samba_call(port: int, options: str, *calls: tuple[str, int, int, bytes],
               user: str = "alice", password: str = "Passw0rd!") -> dict:
    args = [SYSTEM_PY, str(SCRIPT), "127.0.0.1", str(port), options, user, password, "CONTOSO"]
    for uuid, version, opnum, stub in calls:
        args += [uuid, str(version), str(opnum), stub.hex()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"samba client died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout)


@needs_samba
@pytest.mark.parametrize("options,level", [("connect,ntlm", 2), ("sign,ntlm", 5),
                                           ("seal,ntlm", 6)])
def test_samba_mgmt_over_ntlm_at_every_level(make_server, options, level):
    server = make_server()
    out = samba_call(server.port, options)
    assert "error" not in out, out
    assert out["if_ids"] == sorted([str(ECHO.uuid), "afa8bd80-7d8a-11c9-bef4-08002b102989",
                                   "e1af8308-5d1f-11c9-91a4-08002b14a0fa"])
    assert out["listening"] is True
    bind = server.journal.expect("bind", auth_level=level)[0]
    # Samba offers NDR + bind-time feature negotiation; with sign/seal it asks for header signing
    assert len(bind.fields["contexts"]) == 2
    ack = server.journal.expect("bind_ack")[0]
    assert ack.fields["results"] == [(0, 0), (3, 2)]
    assert ack.fields["header_sign"] is (level >= 5)
    server.journal.expect("auth", user="alice", level=level)
    if level >= 5:
        # the verification trailer reached us and was stripped (inq_if_ids has an empty stub)
        req = server.journal.expect("request", op="inq_if_ids")[0]
        assert req.fields["size"] > 0


@needs_samba
def test_samba_adds_interface_on_same_connection(make_server):
    server = make_server()
    out = samba_call(server.port, "connect,ntlm", (str(ECHO.uuid), 1, 0, b"hello-samba!"))
    assert out["calls"] == [{"uuid": str(ECHO.uuid), "opnum": 0,
                             "reply": b"hello-samba!".hex()}]
    server.journal.expect("alter_context")


@needs_samba
def test_samba_wrong_password(make_server):
    server = make_server()
    out = samba_call(server.port, "sign,ntlm", password="nope")
    assert "error" in out
    server.journal.expect("auth_failed", reason=lambda r: "wrong password" in r)


@needs_samba
def test_samba_client_speaks_nspi_and_rfr_to_the_cluster(ct):
    """NspiBind and RfrGetNewDSA stubs sent by Samba's client over its own NTLM connection."""
    import struct

    from impacket.dcerpc.v5 import nspi, oxabref

    from fakegc.nspi import NSPI
    from fakegc.referral import RFR

    ep = ct.endpoints()
    bind = nspi.NspiBind()
    bind["dwFlags"] = 0
    bind["pStat"]["CodePage"] = 1252
    bind["pServerGuid"] = b"\x00" * 16
    out = samba_call(ep["actors"]["gc01"]["nspi"], "connect,ntlm",
                     (str(NSPI.uuid), 56, 0, bind.getData()))
    reply = bytes.fromhex(out["calls"][0]["reply"])
    assert struct.unpack("<I", reply[-4:])[0] == 0  # NSPI Success
    assert reply[4:20] == ct.cluster.gcs["gc01"].server_guid.bytes_le
    req = oxabref.RfrGetNewDSA()
    req["ulFlags"] = 0
    req["pUserDN"] = "\x00"
    req["ppszUnused"] = oxabref.NULL
    req["ppszServer"] = "\x00"
    out = samba_call(ep["actors"]["ex01"]["rfr"], "connect,ntlm", (str(RFR.uuid), 1, 0, req.getData()))
    reply = bytes.fromhex(out["calls"][0]["reply"])
    assert b"gc01.contoso.test\x00" in reply and reply[-4:] == b"\x00\x00\x00\x00"
    ct.journal.expect("auth", actor="gc01", user="alice", mech="ntlm")
    ct.journal.expect("response", op="RfrGetNewDSA", server="gc01.contoso.test")

"""Samba's DCE/RPC client (python3-samba) against SpnegoProvider / KerberosProvider (issue #4).

Samba is the strict client here: over SPNEGO it sends a mechListMIC with its NTLM
AUTHENTICATE and checks ours (PROTOCOL.md §10); with krb5 it runs DCE-style Kerberos
and verifies every CFX token we send.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fakegc.journal import Journal
from fakegc.kdc.principals import PrincipalDb
from fakegc.kdc.server import Kdc
from fakegc.rpc.auth.kerberos import KerberosProvider
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.auth.spnego import SpnegoProvider
from fakegc.rpc.epm import EPM
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.server import RpcServer
from fakegc.testing.echo import ECHO

SCRIPT = Path(__file__).parent / "samba" / "samba_client.py"
SPNS = ["host/gc01.contoso.test", "exchangeAB/gc01.contoso.test"]


def _world(bg_loop, tmp_path, service_etypes=(18, 17, 23)):
    """A KDC and one RPC server offering NTLM (10), Kerberos (16) and SPNEGO (9)."""
    journal = Journal()
    db = PrincipalDb()
    db.add_user("alice", "Passw0rd!")
    for spn in SPNS:
        db.add_service(spn, etypes=service_etypes)
    kdc = Kdc(db, journal)
    bg_loop.run(kdc.start())
    ntlm, krb = NtlmProvider(db, host="gc01"), KerberosProvider(db, SPNS)
    server = RpcServer("gc01", [ECHO, EPM, MGMT], journal=journal,
                       providers=[ntlm, krb, SpnegoProvider(ntlm, krb)])
    bg_loop.run(server.start())
    env = kdc.env(tmp_path)
    server.kdc = kdc  # type: ignore[attr-defined]
    yield server, env, journal
    bg_loop.run(server.close())
    bg_loop.run(kdc.close())
    assert not server.errors, server.errors
    assert not kdc.errors, kdc.errors


@pytest.fixture
def world(bg_loop, tmp_path):
    yield from _world(bg_loop, tmp_path)


@pytest.fixture
def rc4_world(bg_loop, tmp_path):
    """The same, with rc4-hmac-only services (msDS-SupportedEncryptionTypes = RC4)."""
    yield from _world(bg_loop, tmp_path, service_etypes=(23,))


def samba(port: int, options: str, env: dict[str, str], password: str = "Passw0rd!",
          echo: bool = True, payload: bytes = b"over-gss") -> dict:
    args = ["/usr/bin/python3", str(SCRIPT), "127.0.0.1", str(port), options, "alice", password,
            "CONTOSO"]
    if echo:  # a second interface on the same connection (alter_context)
        args += [str(ECHO.uuid), "1", "0", payload.hex()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("options,level", [("connect,spnego,ntlm", 2), ("sign,spnego,ntlm", 5),
                                           ("seal,spnego,ntlm", 6)])
def test_samba_ntlm_inside_spnego_with_mechlistmic(world, options, level):
    server, env, journal = world
    out = samba(server.port, options, env)
    assert "error" not in out, out
    assert out["calls"] == [{"uuid": str(ECHO.uuid), "opnum": 0, "reply": b"over-gss".hex()}]
    auth = journal.expect("auth", user="alice", level=level, auth_type=9)[0]
    assert auth.fields["mech"] == "ntlm"


def test_samba_spnego_wrong_password(world):
    server, env, journal = world
    out = samba(server.port, "sign,spnego,ntlm", env, password="nope")
    assert "error" in out
    journal.expect("auth_failed", reason=lambda r: "wrong password" in r)


@pytest.mark.parametrize("level,name", [(2, "connect"), (5, "sign"), (6, "seal")])
def test_samba_kerberos_inside_spnego(world, level, name):
    """DCE-style Kerberos in SPNEGO: AP-REQ, AP-REP with subkey, the client's AP-REP; CFX tokens
    with header signing (sign-only buffers) verified by MIT's GSS library inside Samba."""
    server, env, journal = world
    out = samba(server.port, f"{name},spnego,krb5,target_hostname=gc01.contoso.test", env)
    assert "error" not in out, out
    assert out["listening"] is True
    assert out["calls"][0]["reply"] == b"over-gss".hex()
    auth = journal.expect("auth", user="alice", level=level, auth_type=9)[0]
    assert auth.fields["mech"] == "kerberos"
    journal.expect("krb_reply", msg="TGS", service="host/gc01.contoso.test")
    if level >= 5:
        assert journal.expect("bind_ack")[0].fields["header_sign"] is True


@pytest.mark.parametrize("level,name", [(2, "connect"), (5, "sign"), (6, "seal")])
def test_samba_bare_kerberos_type_16(world, level, name):
    """Auth type 16, third leg in auth3; replay detection makes MIT check our sequence numbers."""
    server, env, journal = world
    out = samba(server.port, f"{name},krb5,target_hostname=gc01.contoso.test", env, echo=False)
    assert "error" not in out, out
    assert out["listening"] is True and len(out["if_ids"]) == 3
    auth = journal.expect("auth", user="alice", level=level, auth_type=16)[0]
    assert auth.fields["mech"] == "kerberos"
    assert len(journal.entries("response")) == 2


def test_samba_kerberos_sealed_multi_fragment_echo(world):
    """20 KB each way at PKT_PRIVACY: Samba seals its request in several fragments and MIT's
    library (header signing, sign-only buffers) unwraps and verifies every fragment of our
    answer, each an RFC 4121 wrap token laid out in place (MS-RPCE 3.3.1.5.2.2).  (Samba's
    client over bare type-16 Kerberos stops before a second interface's call, as the tests
    above with echo=False show, so SPNEGO carries it.)"""
    server, env, journal = world
    payload = os.urandom(20_000)
    out = samba(server.port, "seal,spnego,krb5,target_hostname=gc01.contoso.test", env,
                payload=payload)
    assert "error" not in out, out
    assert out["calls"][0]["reply"] == payload.hex()  # the echo came back whole
    assert journal.expect("bind_ack")[0].fields["header_sign"] is True
    assert journal.expect("auth", level=6)[0].fields["mech"] == "kerberos"


def test_samba_kerberos_principal_unknown_rule(world):
    """The scripted shutdown error reaches Samba: no ticket, no bind, the server untouched."""
    from fakegc.kdc.server import KdcRule

    server, env, journal = world
    server.kdc.add_rule(KdcRule(msg="TGS", service="host/gc01.contoso.test"))
    out = samba(server.port, "sign,spnego,krb5,target_hostname=gc01.contoso.test", env, echo=False)
    assert "error" in out
    journal.expect("krb_error", msg="TGS", code=7, service="host/gc01.contoso.test")
    assert not journal.entries("auth")


@pytest.mark.parametrize("options,level", [("sign,spnego,krb5", 5), ("seal,spnego,krb5", 6),
                                           ("sign,krb5", 5), ("seal,krb5", 6)])
def test_samba_rc4_with_header_signing(rc4_world, options, level):
    """An rc4-hmac service: RFC 4757 tokens with the PDU header and sec_trailer signed
    (sign-only buffers), both directions checked by Samba's GSS library."""
    server, env, journal = rc4_world
    out = samba(server.port, f"{options},target_hostname=gc01.contoso.test", env,
                echo="spnego" in options)
    assert "error" not in out, out
    assert out["listening"] is True
    tgs = journal.expect("krb_reply", msg="TGS", service="host/gc01.contoso.test")[0]
    assert tgs.fields["etype"] == 23  # the session key, and so the subkey, is rc4-hmac
    assert journal.expect("bind_ack")[0].fields["header_sign"] is True
    assert journal.expect("auth", user="alice", level=level)[0].fields["mech"] == "kerberos"
    assert not journal.entries("fault")

"""MIT's kinit / kvno against the fake KDC (issue #4 "must show"; DESIGN.md §6)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.kdc_fixtures import kdc  # noqa: F401

needs_mit = pytest.mark.skipif(shutil.which("kinit") is None and os.environ.get("CI") != "true",
                               reason="MIT krb5-user not installed (make test installs it)")


def run(args, env, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, text=True, env=env, timeout=30)


def mit_env(kdc, tmp_path, limit=None):
    return dict(os.environ, **kdc.env(tmp_path, limit))


@needs_mit
@pytest.mark.parametrize("limit,transport", [(None, "udp"), (1, "tcp")])
def test_kinit_and_kvno(kdc, tmp_path, limit, transport):
    env = mit_env(kdc, tmp_path, limit)
    done = run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n")
    assert done.returncode == 0, done.stderr
    # §6.2: the first AS-REQ gets PREAUTH_REQUIRED, the second (with a timestamp) the TGT
    kdc.journal.expect("krb_error", code=25, transport=transport)
    kdc.journal.expect("krb_reply", msg="AS", client="alice", transport=transport)
    done = run(["kvno", "exchangeAB/gc01.contoso.test"], env)
    assert done.returncode == 0, done.stderr
    assert "exchangeAB/gc01.contoso.test@CONTOSO.TEST: kvno = 1" in done.stdout
    kdc.journal.expect("krb_reply", msg="TGS", client="alice", service="exchangeAB/gc01.contoso.test")
    listing = run(["klist"], env).stdout
    assert "krbtgt/CONTOSO.TEST@CONTOSO.TEST" in listing and "exchangeAB/gc01" in listing


@needs_mit
def test_principal_unknown_rule_makes_kvno_fail(kdc, tmp_path):
    env = mit_env(kdc, tmp_path)
    assert run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    kdc.add_rule(msg="TGS", service="exchangeAB/gc01.contoso.test", code=7)
    done = run(["kvno", "exchangeAB/gc01.contoso.test"], env)
    assert done.returncode != 0
    # §6.7: the requested sname is echoed, so MIT names the server
    assert "Server not found in Kerberos database" in done.stderr
    assert "exchangeAB/gc01.contoso.test@CONTOSO.TEST" in done.stderr
    # MIT asks twice (referrals on, then off: DESIGN.md §6.9); both get principal-unknown
    assert kdc.journal.count("krb_error", code=7) >= 1
    assert run(["kvno", "exchangeAB/gc02.contoso.test"], env).returncode == 0


@needs_mit
def test_unknown_client_and_wrong_password(kdc, tmp_path):
    env = mit_env(kdc, tmp_path)
    done = run(["kinit", "mallory@CONTOSO.TEST"], env, "x\n")
    assert done.returncode != 0 and "Client 'mallory@CONTOSO.TEST' not found" in done.stderr
    done = run(["kinit", "alice@CONTOSO.TEST"], env, "wrong\n")
    assert done.returncode != 0 and "Password incorrect" in done.stderr
    kdc.journal.expect("krb_error", code=24)


@needs_mit
def test_response_too_big_over_udp_makes_mit_retry_on_tcp(kdc, tmp_path):
    env = mit_env(kdc, tmp_path)
    kdc.udp_max = 300  # the AS-REP (~640 bytes) no longer fits a datagram
    assert run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    kdc.journal.expect("krb_error", code=52, transport="udp")
    kdc.journal.expect("krb_reply", msg="AS", transport="tcp")


@needs_mit
def test_keytab_export_is_read_by_klist(kdc, tmp_path):
    path = kdc.export_keytab(tmp_path / "gc.keytab", ["exchangeAB/gc01.contoso.test"])
    done = run(["klist", "-k", "-e", str(path)], dict(os.environ, **kdc.env(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("exchangeAB/gc01.contoso.test@CONTOSO.TEST") == 3
    assert "aes256-cts-hmac-sha1-96" in done.stdout

"""MIT's kinit / kvno against the fake KDC (issue #4 "must show"; PROTOCOL.md §6)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

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
    # MIT asks twice (referrals on, then off: PROTOCOL.md §6.9); both get principal-unknown
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


@needs_mit
def test_forwardable_renewable_flags_and_kinit_renew(kdc, tmp_path):
    """kinit -f -r: flags F R I A; kinit -R renews inside the original renew-till (RFC 4120 §3.3.3)."""
    env = mit_env(kdc, tmp_path)
    assert run(["kinit", "-f", "-r", "2d", "-l", "1h", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    first = run(["klist", "-f"], env).stdout
    assert "Flags: FRIA" in first
    renew_line = next(line for line in first.splitlines() if "renew until" in line)
    assert run(["kinit", "-R"], env).returncode == 0
    second = run(["klist", "-f"], env).stdout
    assert "Flags: FRA" in second  # a renewed ticket is no longer initial
    assert renew_line.split(",")[0] in second  # same renew-till
    kdc.journal.expect("krb_reply", msg="TGS", service="krbtgt/CONTOSO.TEST")
    # a service ticket from a forwardable TGT may be forwardable; kvno works with it
    assert run(["kvno", "exchangeAB/gc01.contoso.test"], env).returncode == 0


@needs_mit
def test_renewing_a_non_renewable_ticket_is_badoption(kdc, tmp_path):
    env = mit_env(kdc, tmp_path)
    assert run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    assert "Flags: IA" in run(["klist", "-f"], env).stdout  # nothing asked, nothing granted
    assert run(["kinit", "-R"], env).returncode != 0
    kdc.journal.expect("krb_error", msg="TGS", code=13)


@needs_mit
def test_fact9_cached_tickets_skip_the_kdc_and_refused_ones_are_asked_twice(kdc, tmp_path):
    env = mit_env(kdc, tmp_path)
    assert run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    assert run(["kvno", "exchangeAB/gc01.contoso.test"], env).returncode == 0
    before = kdc.journal.count("krb_request", msg="TGS")
    assert run(["kvno", "exchangeAB/gc01.contoso.test"], env).returncode == 0
    assert kdc.journal.count("krb_request", msg="TGS") == before  # served from the ccache
    kdc.add_rule(msg="TGS", service="exchangeAB/gc02.contoso.test")
    assert run(["kvno", "exchangeAB/gc02.contoso.test"], env).returncode != 0
    asked = kdc.journal.count("krb_request", msg="TGS", service="exchangeAB/gc02.contoso.test")
    assert asked == 2  # referrals on, then off (PROTOCOL.md §6.9)


@needs_mit
def test_exported_keytab_decrypts_the_service_ticket(kdc, tmp_path):
    """kvno -k: MIT decrypts the ticket we issued with the keys we exported."""
    env = mit_env(kdc, tmp_path)
    keytab = kdc.export_keytab(tmp_path / "gc01.keytab", ["exchangeAB/gc01.contoso.test"])
    assert run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    done = run(["kvno", "-k", str(keytab), "exchangeAB/gc01.contoso.test"], env)
    assert done.returncode == 0, done.stderr
    assert "keytab entry valid" in done.stdout


@needs_mit
def test_tickets_with_a_pac_still_work_for_mit(kdc, tmp_path):
    kdc.core.pac = True
    env = mit_env(kdc, tmp_path)
    keytab = kdc.export_keytab(tmp_path / "gc01.keytab", ["exchangeAB/gc01.contoso.test"])
    assert run(["kinit", "alice@CONTOSO.TEST"], env, "Passw0rd!\n").returncode == 0
    done = run(["kvno", "-k", str(keytab), "exchangeAB/gc01.contoso.test"], env)
    assert done.returncode == 0 and "keytab entry valid" in done.stdout, done.stderr
    rep = kdc.journal.expect("krb_reply", msg="TGS")[0]
    assert rep.fields["size"] > 1000  # the PAC travels in the ticket

"""impacket's Kerberos client against the fake KDC (issue #4; PROTOCOL.md §6)."""

from __future__ import annotations

import pytest
from impacket.krb5.kerberosv5 import KerberosError

from fakegc.client.kerberos import get_tgs, get_tgt


def test_tgt_and_tgs(kdc):
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    tgs, *_ = get_tgs("exchangeAB/gc01.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port,
                      tgt, cipher, key)
    assert tgs[0] == 0x6D  # [APPLICATION 13] TGS-REP
    kdc.journal.expect("krb_reply", msg="AS", client="alice", transport="tcp")
    kdc.journal.expect("krb_reply", msg="TGS", service="exchangeAB/gc01.contoso.test")


def test_scripted_principal_unknown(kdc):
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    rule = kdc.add_rule(msg="TGS", service="exchangeAB/gc01.*", code=7, e_text="GC shutting down")
    with pytest.raises(KerberosError) as err:
        get_tgs("exchangeAB/gc01.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)
    assert err.value.getErrorCode() == 7
    kdc.journal.expect("rule", action="error", code=7)
    kdc.remove_rule(rule)
    get_tgs("exchangeAB/gc01.contoso.test", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)


def test_rule_counts_after_and_times(kdc):
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    kdc.add_rule(msg="TGS", service="exchangeAB/*", code=6, after=1, times=1)
    spn = "exchangeAB/gc02.contoso.test"
    get_tgs(spn, "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)  # 1st: passes
    with pytest.raises(KerberosError) as err:  # 2nd: fires
        get_tgs(spn, "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)
    assert err.value.getErrorCode() == 6
    get_tgs(spn, "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)  # times exhausted


def test_wrong_password_and_unknown_user(kdc):
    with pytest.raises(KerberosError) as err:
        get_tgt("alice", "nope", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    assert err.value.getErrorCode() == 24
    with pytest.raises(KerberosError) as err:
        get_tgt("nobody", "x", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    assert err.value.getErrorCode() == 6


def test_clock_skew(kdc):
    kdc.clock_offset = 3600
    with pytest.raises(KerberosError) as err:
        get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    assert err.value.getErrorCode() == 37


def test_rc4_only_gc_account_from_cluster_config():
    """ClusterConfig.service_etypes plays msDS-SupportedEncryptionTypes: gc02's accounts
    support rc4-hmac only, so impacket's ticket for exchangeAB/gc02 is rc4 while gc01's is aes."""
    from impacket.krb5.asn1 import TGS_REP
    from pyasn1.codec.der import decoder

    from fakegc.scenario.cluster import ClusterConfig, ClusterThread

    with pytest.raises(ValueError, match="gc09"):
        ClusterThread(ClusterConfig(service_etypes={"gc09": [23]}))
    ct = ClusterThread(ClusterConfig(service_etypes={"gc02": [23]}))
    try:
        port = ct.endpoints()["kdc"]["tcp"]
        tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", port)
        etypes = {}
        for gc in ("gc01", "gc02"):
            tgs, *_ = get_tgs(f"exchangeAB/{gc}.contoso.test", "CONTOSO.TEST", "127.0.0.1", port,
                              tgt, cipher, key)
            rep = decoder.decode(tgs, asn1Spec=TGS_REP())[0]
            etypes[gc] = int(rep["ticket"]["enc-part"]["etype"])
        assert etypes == {"gc01": 18, "gc02": 23}
    finally:
        ct.close()


@pytest.mark.parametrize("domain", ["CONTOSO", "contoso", "CONTOSO.TEST"])
def test_netbios_domain_is_a_realm_alias(kdc, domain):
    """impacket users type ``CONTOSO/alice``: getKerberosTGT sends realm "CONTOSO" in the
    AS-REQ and asks for krbtgt/CONTOSO; an AD KDC accepts the NetBIOS domain name as an alias
    of its DNS realm (Samba's AD KDC: lpcfg_is_my_domain_or_realm in lib/param/util.c takes the
    workgroup or the realm; impacket's docs use DOMAIN/user with the NetBIOS name against
    Windows DCs) and returns its DNS realm as crealm."""
    from impacket.krb5.asn1 import AS_REP, TGS_REP
    from pyasn1.codec.der import decoder

    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", domain, "127.0.0.1", kdc.tcp_port)
    assert str(decoder.decode(tgt, asn1Spec=AS_REP())[0]["crealm"]) == "CONTOSO.TEST"
    # the TGS-REQ names realm "CONTOSO" while the TGT and authenticator say CONTOSO.TEST
    # (impacket copies crealm from the AS-REP): RFC 4120 §3.3.3 realm cross-check with the alias
    tgs, *_ = get_tgs("exchangeAB/gc01.contoso.test", domain, "127.0.0.1", kdc.tcp_port,
                      tgt, cipher, key)
    rep = decoder.decode(tgs, asn1Spec=TGS_REP())[0]
    assert [str(c) for c in rep["ticket"]["sname"]["name-string"]] == ["exchangeAB",
                                                                      "gc01.contoso.test"]


def test_other_realm_still_wrong_realm(kdc):
    """RFC 4120 §3.1.2: a realm the KDC does not serve gets KDC_ERR_WRONG_REALM (68)."""
    with pytest.raises(KerberosError) as err:
        get_tgt("alice", "Passw0rd!", "FABRIKAM", "127.0.0.1", kdc.tcp_port)
    assert err.value.getErrorCode() == 68

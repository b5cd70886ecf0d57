"""Wireshark dissects the cluster's NSPI, RFR, EPM and Kerberos traffic cleanly (issues #11, #12).

The KB 929439 failover flow of the reference provider plus a browse/resolve/details flow with
impacket at packet privacy (NTLM-sealed traffic is decrypted with the user's password)."""

from __future__ import annotations

import os

import pytest
from impacket.dcerpc.v5 import nspi

from fakegc.client import AddressBook, Endpoints, Profile
from fakegc.codes import MapiCode
from fakegc.testing.capture import capture, tshark_available

from .test_kerberos_rpc import kerberos_dce

needs_tshark = pytest.mark.skipif(not tshark_available() and os.environ.get("CI") != "true",
                                  reason="tshark missing or not root")


@needs_tshark
def test_failover_and_outlook_flows_dissect_cleanly(ct):
    ep = ct.endpoints()
    a = ep["actors"]
    tcp = [a["gc01"]["nspi"], a["gc01"]["epm"], a["gc02"]["nspi"], a["gc02"]["epm"], a["ex01"]["rfr"],
           ep["kdc"]["tcp"]]
    with capture(tcp, [ep["kdc"]["udp"]], kerberos_ports=[ep["kdc"]["tcp"]]) as cap:
        ab = AddressBook(Profile(allow_reconnect=True, user_auth_credentials=True),
                         Endpoints.from_cluster(ep), ct.journal)
        assert ab.logon() is MapiCode.SUCCESS
        assert ab.browse(20)[0] is MapiCode.SUCCESS
        alice = ct.cluster.directory.find_alias("alice")
        assert ab.open_entry(alice.dn)[0] is MapiCode.SUCCESS
        ct.fire("shutdown_begin", gc="gc01")
        assert ab.resolve_name("alice")[0] is MapiCode.NETWORK_ERROR
        ct.fire("gc_down", gc="gc01")
        ct.fire("new_gc_ready", gc="gc02")
        assert ab.resolve_name("alice")[0] is MapiCode.END_OF_SESSION
        assert ab.resolve_name("bob")[0] is MapiCode.SUCCESS
        ab.close()
        d = kerberos_dce(ep, gc="gc02")
        h = nspi.hNspiBind(d)["contextHandle"]
        nspi.hNspiQueryRows(d, h, Count=10, pPropTags=[0x3001001F])
    report = cap.check(password="Passw0rd!")
    assert {"nspi", "rfr", "epm"} <= report.protocols or {"dcerpc", "epm"} <= report.protocols, report.protocols
    assert "kerberos" in report.protocols, report.protocols
    assert "NspiBind" in report.text or "NspiBind".lower() in report.text.lower()
    assert report.clean, (report.malformed, report.errors)

"""NSPI in NDR64 (MS-RPCE 2.2.5; issue #17 item 5): impacket bound with the NDR64 syntax.

impacket's DCE/RPC client negotiates NDR64 and then marshals its NSPI requests and reads
our answers with its NDR64 engine (``isNDR64``), an implementation independent of ours.
NspiGetSpecialTable and NspiGetProps go in MS-OXNSPI's IDL form (impacket's request
classes for those two differ from the IDL, PROTOCOL.md §13.2), written in NDR64 by the
IDL oracle (tests/idl); their answers are read by impacket's response classes.
"""

from __future__ import annotations

import os

import pytest
from impacket.dcerpc.v5 import nspi, transport

from fakegc.directory import Directory, loader
from fakegc.directory import props as P
from fakegc.nspi import NSPI, StaticGc
from fakegc.rpc.mgmt import MGMT
from fakegc.testing.capture import capture, tshark_available
from tests.idl import nspi_idl as I
from tests.idl.ndr import encode_params

needs_tshark = pytest.mark.skipif(not tshark_available() and os.environ.get("CI") != "true",
                                  reason="tshark missing or not root")
NDR64 = ("71710533-BEBA-4937-8319-B5DBEF9CCC36", "1.0")
STAT = {"SortType": 0, "ContainerID": 0, "CurrentRec": 0, "Delta": 0, "NumPos": 0,
        "TotalRecs": 0, "CodePage": 1252, "TemplateLocale": 0x409, "SortLocale": 0x409}


def ndr64_session(port: int, level: int) -> object:
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    t.set_credentials("alice", "Passw0rd!", "CONTOSO")
    d = t.get_dce_rpc()
    d.set_auth_level(level)
    d.connect()
    d.bind(nspi.MSRPC_UUID_NSPI, transfer_syntax=NDR64)
    return d


def idl_call(d, opnum: int, response: type, **params: object):
    d.call(opnum, encode_params(I.METHODS[opnum][1], params, ndr64=True))
    out = response(isNDR64=True)
    out.fromString(d.recv())
    return out


def flows(d, directory: Directory) -> None:
    bob = directory.find_alias("bob")
    assert bob is not None
    h = nspi.hNspiBind(d)["contextHandle"]
    # MS-OXNSPI 3.1.4.1.3: the hierarchy table, read by impacket's NDR64 decoder
    special = idl_call(d, 12, nspi.NspiGetSpecialTableResponse, hRpc=h.getData(), dwFlags=4,
                       pStat=STAT, lpVersion=0)
    assert special["ErrorCode"] == 0 and special["ppRows"]["cRows"] >= 1
    names = [nspi.simplifyPropertyRow(r)[P.PR_DISPLAY_NAME]
             for r in special["ppRows"]["aRow"]]
    assert "Global Address List" in names or "" in names
    # MS-OXNSPI 3.1.4.1.8: rows from the start of the GAL, the columns asked for
    rows = nspi.hNspiQueryRows(d, h, Count=5, pPropTags=[P.PR_DISPLAY_NAME, P.PR_SMTP_ADDRESS])
    got = nspi.simplifyPropertyRowSet(rows["ppRows"])
    assert len(got) == 5 and all(P.PR_DISPLAY_NAME in r for r in got)
    # MS-OXNSPI 3.1.4.1.20: MID_RESOLVED (2) for exactly one match, its row in ppRows
    resolved = nspi.hNspiResolveNamesW(d, h, pPropTags=[P.PR_DISPLAY_NAME], paStr=["bob"])
    assert [m["Data"] for m in resolved["ppMIds"]["aulPropTag"]] == [2]
    row = nspi.simplifyPropertyRowSet(resolved["ppRows"])[0]
    assert row[P.PR_DISPLAY_NAME] == bob.display_name
    # MS-OXNSPI 3.1.4.1.7: one object's properties by MId (CurrentRec)
    mids = nspi.hNspiDNToMId(d, h, [bob.dn])["ppOutMIds"]["aulPropTag"]
    props = idl_call(d, 9, nspi.NspiGetPropsResponse, hRpc=h.getData(), dwFlags=0,
                     pStat=dict(STAT, CurrentRec=mids[0]["Data"]),
                     pPropTags={"aulPropTag": [P.PR_DISPLAY_NAME, P.PR_SMTP_ADDRESS]})
    assert props["ErrorCode"] == 0
    values = nspi.simplifyPropertyRow(props["ppRows"])
    assert values[P.PR_DISPLAY_NAME] == bob.display_name and values[P.PR_SMTP_ADDRESS] == bob.smtp
    nspi.hNspiUnbind(d, h)


@pytest.mark.parametrize("level", [2, 6])  # connect; privacy (sealed NDR64 stubs)
def test_impacket_in_ndr64_binds_browses_resolves(make_server, level):
    directory = loader.load_default()
    server = make_server([NSPI, MGMT], actor=StaticGc(directory))
    d = ndr64_session(server.port, level)
    flows(d, directory)
    d.disconnect()
    ack = server.journal.expect("bind_ack")[-1]
    # MS-RPCE 3.3.1.5.6: the NDR64 context accepted (result 0)
    assert ack.fields["results"][0] == (0, 0)


@needs_tshark
def test_ndr64_nspi_capture_dissects_cleanly(make_server):
    directory = loader.load_default()
    server = make_server([NSPI, MGMT], actor=StaticGc(directory))
    with capture([server.port]) as cap:
        d = ndr64_session(server.port, 2)  # connect: the stubs stay readable
        flows(d, directory)
        d.disconnect()
    report = cap.check(password="Passw0rd!")
    assert "dcerpc" in report.protocols, report.protocols
    assert report.clean, (report.malformed, report.errors)  # Wireshark's dissectors

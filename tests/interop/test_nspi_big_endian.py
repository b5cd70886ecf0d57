"""NSPI from a big-endian sender (drep 0x00; C706 14.1 "receiver makes it right"; #17 item 4).

The requests are marshalled big-endian by the IDL oracle (tests/idl, MS-OXNSPI section 6)
and sent in hand-built big-endian PDUs; the answers come back little-endian, as Windows
answers in its own byte order, and the oracle decodes them.  Wireshark must dissect
the exchange without a malformed frame.
"""

from __future__ import annotations

import os
import socket

import pytest

from fakegc.directory import Directory, loader
from fakegc.directory import props as P
from fakegc.nspi import NSPI, StaticGc
from fakegc.testing.capture import capture, tshark_available
from tests.idl import nspi_idl as I
from tests.idl.ndr import decode_params, encode_params

from .test_ndr_variants import _be_bind, _be_request, _recv

needs_tshark = pytest.mark.skipif(not tshark_available() and os.environ.get("CI") != "true",
                                  reason="tshark missing or not root")
STAT = {"SortType": 0, "ContainerID": 0, "CurrentRec": 0, "Delta": 0, "NumPos": 0,
        "TotalRecs": 0, "CodePage": 1252, "TemplateLocale": 0x409, "SortLocale": 0x409}
NSPI_SYNTAX = ("f5cc5a18-4264-101a-8c59-08002b2f8426", 56, 0)


def call(sock: socket.socket, call_id: int, opnum: int, **params: object) -> dict:
    sock.sendall(_be_request(call_id, opnum, encode_params(I.METHODS[opnum][1], params, ">")))
    reply = _recv(sock)
    # C706 12.6.4.10: a response to this call, in the server's drep (little-endian, 0x10)
    assert reply[2] == 2 and reply[4] == 0x10, reply[:28].hex()
    assert int.from_bytes(reply[12:16], "little") == call_id
    values, left = decode_params(I.METHODS[opnum][2], reply[24:])
    assert left == 0  # MS-OXNSPI section 6: nothing after the return value
    return values


def bind_and_query(port: int, d: Directory) -> None:
    bob, alice = d.find_alias("bob"), d.find_alias("alice")
    assert bob is not None and alice is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_be_bind(NSPI_SYNTAX))
        ack = _recv(sock)
        assert ack[2] == 12 and ack[4] == 0x10
        bound = call(sock, 2, 0, dwFlags=0, pStat=STAT, pServerGuid=b"\x00" * 16)
        assert bound["result"] == 0  # MS-OXNSPI 3.1.4.1.1: Success
        # the oracle re-marshals the handle big-endian ({long; GUID}, C706 14.3.11)
        h = bound["contextHandle"]
        rows = call(sock, 3, 3, hRpc=h, dwFlags=0, pStat=STAT, lpETable=[bob.mid, alice.mid],
                    Count=2, pPropTags={"aulPropTag": [P.PR_DISPLAY_NAME, P.PR_SMTP_ADDRESS]})
        # MS-OXNSPI 3.1.4.1.8: one row per MId of lpETable, in its order, the columns asked
        assert rows["result"] == 0
        got = [[v["Value"] for v in r["lpProps"]] for r in rows["ppRows"]["aRow"]]
        assert got == [[bob.display_name, bob.smtp], [alice.display_name, alice.smtp]]
        names = call(sock, 4, 20, hRpc=h, Reserved=0, pStat=STAT,
                     pPropTags={"aulPropTag": [P.PR_DISPLAY_NAME]},
                     paWStr={"Strings": ["bob"]})
        # MS-OXNSPI 3.1.4.1.20: MID_RESOLVED (2) for a single match; the UTF-16BE name was read
        assert names["ppMIds"]["aulPropTag"] == [2]
        gone = call(sock, 5, 1, contextHandle=h, Reserved=0)
        assert gone["result"] == 1  # MS-OXNSPI 3.1.4.1.2: UnbindSuccess


def test_big_endian_bind_and_query_rows(make_server):
    d = loader.load_default()
    server = make_server([NSPI], anonymous=True, actor=StaticGc(d, allow_anonymous=True))
    bind_and_query(server.port, d)


@needs_tshark
def test_big_endian_nspi_dissects_cleanly(make_server):
    d = loader.load_default()
    server = make_server([NSPI], anonymous=True, actor=StaticGc(d, allow_anonymous=True))
    with capture([server.port]) as cap:
        bind_and_query(server.port, d)
    report = cap.check()
    # Wireshark's DCE/RPC and NSPI dissectors (drep-aware): nothing malformed either way
    assert {"dcerpc", "nspi"} <= report.protocols, report.protocols
    assert report.clean, (report.malformed, report.errors)
    assert "Malformed" not in report.text

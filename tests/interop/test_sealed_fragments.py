"""NTLM packet privacy across multi-fragment NSPI calls (PROTOCOL.md §13.4).

MS-RPCE 3.3.1.5.2.2 / MS-NLMP 3.4.3: every fragment carries its own sec_trailer and
signature; the RC4 sealing stream and the sequence number run on from one fragment to
the next. Samba's client (python3-samba) is the oracle: it checks the signature of
every response fragment and unseals it, and it seals its own long requests fragment by
fragment the same way. A multi-fragment answer followed by further sealed calls, and a
multi-fragment sealed request from Samba, must all go through.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fakegc.directory import loader
from fakegc.directory import props as P
from fakegc.nspi import NSPI, StaticGc
from fakegc.rpc.mgmt import MGMT
from tests.idl import nspi_idl as I
from tests.idl.ndr import decode_params, encode_params

from .test_samba_client import SYSTEM_PY, needs_samba

SCRIPT = Path(__file__).parent / "samba" / "samba_nspi.py"
STAT = {"SortType": 0, "ContainerID": 0, "CurrentRec": 0, "Delta": 0, "NumPos": 0,
        "TotalRecs": 0, "CodePage": 1252, "TemplateLocale": 0x409, "SortLocale": 0x409}
TAGS = [P.PR_DISPLAY_NAME, P.PR_SMTP_ADDRESS, P.PR_EMAIL_ADDRESS, P.PR_TITLE]


def query_rows(mids: list[int], tags: list[int], ndr64: bool = False) -> bytes:
    return encode_params(I.METHODS[3][1], {
        "hRpc": b"\x00" * 20, "dwFlags": 0, "pStat": STAT, "lpETable": mids,
        "Count": len(mids), "pPropTags": {"aulPropTag": tags}}, ndr64=ndr64)


def samba_nspi(port: int, *calls: tuple[int, bytes], options: str = "seal,ntlm") -> list:
    bind = encode_params(I.METHODS[0][1], {"dwFlags": 0, "pStat": STAT,
                                           "pServerGuid": b"\x00" * 16},
                         ndr64="ndr64" in options)
    args = [SYSTEM_PY, str(SCRIPT), "127.0.0.1", str(port), options, "alice", "Passw0rd!",
            "CONTOSO", bind.hex()] + [f"{op}:{stub.hex()}" for op, stub in calls]
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"samba client died ({done.returncode}): {done.stderr[-2000:]}"
    out = json.loads(done.stdout)
    assert "error" not in out, out
    return out["replies"][1:]


def rows_of(reply: str | dict, ndr64: bool = False) -> int:
    assert isinstance(reply, str), reply  # Samba raised: a fragment failed its checks
    values, left = decode_params(I.METHODS[3][2], bytes.fromhex(reply), ndr64=ndr64)
    assert left == 0 and values["result"] == 0  # MS-OXNSPI 3.1.4.1.8: status Success
    return len(values["ppRows"]["aRow"])


@needs_samba
def test_sealed_multi_fragment_answers_then_more_calls(make_server):
    d = loader.load_default()
    server = make_server([NSPI, MGMT], actor=StaticGc(d))
    mids = [e.mid for e in d][:200]
    big, small = query_rows(mids, TAGS), query_rows(mids[:2], TAGS)
    replies = samba_nspi(server.port, (3, big), (3, small), (3, small), (3, big), (3, small))
    # Samba's client verified and unsealed every fragment (dcerpc_pull_auth_trailer,
    # gensec_unseal_packet): the big answers span many fragments (Samba receives at most
    # 5840 bytes a fragment) and the calls after them still verify
    assert len(replies[0]) // 2 > 5840 * 4
    assert [rows_of(r) for r in replies] == [200, 2, 2, 200, 2]


@needs_samba
def test_sealed_multi_fragment_request_from_samba(make_server):
    d = loader.load_default()
    server = make_server([NSPI, MGMT], actor=StaticGc(d))
    mids = [e.mid for e in d][:200]
    long_table = (mids * 40)[:5000]  # 20 KB of MIds: Samba sends it in several fragments
    big = encode_params(I.METHODS[3][1], {
        "hRpc": b"\x00" * 20, "dwFlags": 0, "pStat": STAT, "lpETable": long_table,
        "Count": 3, "pPropTags": {"aulPropTag": TAGS[:1]}})
    small = query_rows(mids[:2], TAGS)
    replies = samba_nspi(server.port, (3, small), (3, big), (3, small))
    # our server unsealed Samba's per-fragment sealing (MS-RPCE 3.3.1.5.2.2) and Samba
    # verified the answers: MS-OXNSPI 3.1.4.1.8 returns one row per MId of lpETable
    assert [rows_of(r) for r in replies] == [2, 5000, 2]


@needs_samba
def test_samba_in_ndr64_sealed_multi_fragment_answers(make_server):
    d = loader.load_default()
    server = make_server([NSPI, MGMT], actor=StaticGc(d))
    mids = [e.mid for e in d][:200]
    big, small = query_rows(mids, TAGS, ndr64=True), query_rows(mids[:2], TAGS, ndr64=True)
    replies = samba_nspi(server.port, (3, big), (3, small), options="seal,ntlm,ndr64")
    # Samba's client with its ndr64 binding option negotiates NDR64 (MS-RPCE 2.2.5) and
    # verifies/unseals every fragment; the IDL oracle reads the NDR64 answers
    assert [rows_of(r, ndr64=True) for r in replies] == [200, 2]
    assert server.journal.expect("bind_ack")[0].fields["results"][0] == (0, 0)

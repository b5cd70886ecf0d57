"""The hand-written NSPI request decoders (``nspi/fastcodec.py``) against the IDL-driven
reference (tests/idl), not impacket (issue #22), and the regressions that started it.

The oracle encodes requests from MS-OXNSPI's IDL table; the decoders must read back
exactly those values on the hot paths (NspiQueryRows, NspiResolveNamesW) over wide
ranges, and every regression below cites its MS-OXNSPI section and the gromox
``nsp_ndr.cpp`` pull function that reads the same bytes.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakegc.directory import props as P
from fakegc.nspi import fastcodec
from fakegc.nspi.table import Stat
from tests.idl import nspi_idl as I
from tests.idl.ndr import encode_params
from tests.idl.values import params_for, request_message

H = b"\x01" * 20
STAT = dict(zip(("SortType", "ContainerID", "CurrentRec", "Delta", "NumPos", "TotalRecs",
                 "CodePage", "TemplateLocale", "SortLocale"), (0, 0, 0x1234, -3, 0, 0, 1252,
                                                                 0x409, 0x409), strict=True))


@pytest.mark.parametrize("opnum", [3, 20])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_hot_decoders_read_what_the_idl_writes(opnum, data):
    params = data.draw(params_for(opnum))
    stub = encode_params(I.METHODS[opnum][1], params)
    # MS-OXNSPI 3.1.4.1.8 / 3.1.4.1.20 and section 6 (IDL)
    assert fastcodec.decode(opnum, stub) == request_message(opnum, params)


def test_get_props_reference_stat_is_inline():
    """[in] STAT* pStat is a reference pointer: the STAT follows dwFlags with no referent ID
    (MS-OXNSPI 3.1.4.1.7; gromox nsp_ndr_pull_nspigetprops calls nsp_ndr_pull_stat directly)."""
    stub = encode_params(I.METHODS[9][1], {"hRpc": H, "dwFlags": 0, "pStat": STAT,
                                           "pPropTags": {"aulPropTag": [P.PR_DISPLAY_NAME]}})
    assert stub[24:28] == struct.pack("<I", 0)  # SortType, not a referent ID
    req = fastcodec.decode(9, stub)
    assert req.stat == Stat(0, 0, 0x1234, -3, 0, 0, 1252, 0x409, 0x409)
    assert req.tags == [P.PR_DISPLAY_NAME] and req.trailing == 0


def test_seek_entries_null_unique_pointers():
    """[in, unique] lpETable and pPropTags both NULL: one zero referent ID each
    (MS-OXNSPI 3.1.4.1.9; gromox nsp_ndr_pull_nspiseekentries reads a generic pointer each)."""
    target = {"ulPropTag": 0x3001001F, "ulReserved": 0, "Value": "Bob"}
    stub = encode_params(I.METHODS[4][1], {"hRpc": H, "Reserved": 0, "pStat": STAT,
                                           "pTarget": target, "lpETable": None,
                                           "pPropTags": None})
    assert stub.endswith(b"\x00" * 8)
    req = fastcodec.decode(4, stub)
    assert req.target == (0x3001001F, "Bob") and req.etable is None and req.tags is None
    assert req.trailing == 0


def test_tag_array_must_carry_size_cvalues_plus_one():
    """PropertyTagArray_r: [size_is(cValues+1), length_is(cValues)] (MS-OXNSPI 2.2.2.2;
    gromox nsp_ndr_pull_proptag_array returns NDR_ERR_ARRAY_SIZE otherwise)."""
    good = struct.pack("<4I", 2, 1, 0, 1) + struct.pack("<I", P.PR_DISPLAY_NAME)
    assert fastcodec.Reader(good).tag_array() == [P.PR_DISPLAY_NAME]
    for bad in (struct.pack("<4I", 1, 1, 0, 1), struct.pack("<4I", 2, 2, 0, 1),
                struct.pack("<4I", 2, 1, 1, 1)):
        with pytest.raises(ValueError):
            fastcodec.Reader(bad + b"\x00" * 8).tag_array()


def test_impacket_get_props_layout_is_read_as_the_idl_says():
    """impacket's NspiGetProps puts a referent ID before the STAT.  Read as the IDL says
    (as a MIDL server reads it), the STAT's fields shift by one and the tail is left over;
    the boundary journals the leftover as a nonconformant request."""
    from impacket.dcerpc.v5 import nspi

    req = nspi.NspiGetProps()
    req["hRpc"] = nspi.handle_t()
    req["hRpc"].fromString(H)
    req["dwFlags"] = 0
    req["pStat"]["CurrentRec"] = 0x1234
    req["pStat"]["CodePage"] = 1252
    got = fastcodec.decode(9, req.getData())
    assert got.stat.CurrentRec == 0 and got.stat.Delta == 0x1234  # shifted by one DWORD
    assert got.trailing > 0

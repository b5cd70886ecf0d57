"""The IDL oracle's NDR64 agrees with impacket's NDR64 engine (MS-RPCE 2.2.5).

Two independent NDR64 implementations: a request the oracle marshals is parsed by
impacket's request class in NDR64 (``isNDR64``) and marshalled again by impacket; the
oracle must read impacket's bytes back to the same values, with nothing left over.
Only the opnums whose impacket request class follows MS-OXNSPI's IDL (PROTOCOL.md §13.2).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from impacket.dcerpc.v5 import nspi

from tests.idl import nspi_idl as I
from tests.idl.ndr import decode_params, encode_params
from tests.idl.values import params_for

#: impacket request classes that agree with the IDL (PROTOCOL.md §13.2 "agrees")
AGREE = {0: nspi.NspiBind, 1: nspi.NspiUnbind, 2: nspi.NspiUpdateStat, 3: nspi.NspiQueryRows,
         7: nspi.NspiDNToMId, 8: nspi.NspiGetPropList, 10: nspi.NspiCompareMIds,
         13: nspi.NspiGetTemplateInfo, 14: nspi.NspiModLinkAtt, 16: nspi.NspiQueryColumns,
         17: nspi.NspiGetNamesFromIDs, 19: nspi.NspiResolveNames, 20: nspi.NspiResolveNamesW}


@pytest.mark.parametrize("opnum", sorted(AGREE))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_impacket_reads_and_rewrites_what_the_oracle_writes_in_ndr64(opnum, data):
    _, ins, _ = I.METHODS[opnum]
    params = data.draw(params_for(opnum))
    ours = encode_params(ins, params, ndr64=True)
    theirs = AGREE[opnum](isNDR64=True)
    theirs.fromString(ours)
    again = theirs.getData()
    # impacket's NDR64 layout (an independent implementation) is the oracle's layout
    assert decode_params(ins, again, ndr64=True) == decode_params(ins, ours, ndr64=True)
    assert decode_params(ins, again, ndr64=True)[1] == 0

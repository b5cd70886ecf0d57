"""The shipped strategies drive real checks: NDR rows round-trip through impacket; restrictions
never crash the evaluator."""

from __future__ import annotations

from hypothesis import given, settings
from impacket.dcerpc.v5 import nspi

from fakegc.directory import loader
from fakegc.nspi.ndr import write_row
from fakegc.nspi.restrictions import matches
from fakegc.testing.strategies import property_rows, restrictions
from fakegc.wire.ndr import NdrWriter

D = loader.load_default()
SAMPLE = [D.objects[m] for m in D.table(D.gal)[:60]]


@settings(max_examples=80, deadline=None)
@given(row=property_rows())
def test_encoded_rows_decode_with_impacket(row):
    w = NdrWriter()
    write_row(w, row, 1252)
    w.u32(0)
    decoded = nspi.simplifyPropertyRow(nspi.NspiGetPropsResponse(w.getvalue())["ppRows"])
    for tag, value in row:
        got = decoded[tag]
        if isinstance(value, bool):
            assert got == int(value)
        elif isinstance(value, bytes):
            assert bytes(got) == value
        else:
            assert got == value


@settings(max_examples=60, deadline=None)
@given(r=restrictions())
def test_any_restriction_evaluates(r):
    hits = [o for o in SAMPLE if matches(D, o, r)]
    assert len(hits) <= len(SAMPLE)

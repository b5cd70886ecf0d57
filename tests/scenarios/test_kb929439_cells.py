"""One test per KB 929439 matrix cell: exact MAPI codes and the protocol traffic behind them (issue #6)."""

from __future__ import annotations

import pytest

from fakegc.kbdemo import CELLS, Cell, expected, run_cell
from fakegc.scenario.model import load_scenario

SCENARIO = load_scenario("kb929439")


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.label.replace(" ", "_"))
def test_cell(ct, cell: Cell):
    result = run_cell(ct, cell, SCENARIO)
    want_codes, want_state, _ = expected(cell)
    assert result.phases == ["HEALTHY", "SHUTTING_DOWN", "DOWN", "NEW_GC", "retry"]
    assert result.codes == want_codes
    assert result.final_state == want_state
    j = ct.journal
    actor = f"client:{cell.label.replace(' ', '_')}"
    shutdown = j.expect("event", event="shutdown_begin")[0]
    new_gc = j.expect("event", event="new_gc_ready")[0]
    # the GC cut the provider's connection when it began shutting down
    j.expect("client", actor=actor, event="rpc_failure", after=shutdown)
    if cell.reconnect and (cell.user_auth_credentials or (cell.mode == "interactive" and not cell.cancel)):
        # recovery after NEW_GC: referral names gc02, a TGS-REQ for exchangeAB/gc02, NspiBind on gc02
        j.expect("response", op="RfrGetNewDSA", server="gc02.contoso.test", after=new_gc, within=5.0)
        j.expect("krb_reply", msg="TGS", service="exchangeAB/gc02.contoso.test", after=new_gc)
        j.expect("response", op="NspiBind", gc="gc02", status=0, after=new_gc)
        j.expect("auth", actor="gc02", mech="kerberos", after=new_gc)  # bound with that ticket
        eos = j.expect("client", actor=actor, event="call", code="END_OF_SESSION")
        assert len(eos) == 1  # exactly once
        # while gc01 shut down, the referral failed with a credentials error (KDC principal unknown)
        j.expect("krb_check", service="exchangeAB/gc01.contoso.test", code=7)
        j.expect("response", op="RfrGetNewDSA", status=0x80040111, after=shutdown)
    else:
        j.expect("response", op="NspiBind", gc="gc02", count=0)
    if cell.reconnect and not cell.user_auth_credentials and cell.mode == "service":
        j.expect("client", actor=actor, event="transition", to="USERCRED",
                 reason=lambda r: "cannot prompt" in r)
        # stuck: no referral attempt at all after NEW_GC
        j.expect("response", op="RfrGetNewDSA", after=new_gc, count=0)
    if not cell.reconnect:
        j.expect("client", actor=actor, event="transition", to="DEAD")
        j.expect("response", op="RfrGetNewDSA", after=shutdown, count=0)
    if cell.cancel:
        j.expect("client", actor=actor, event="prompt", answered=False)
    elif cell.reconnect and not cell.user_auth_credentials and cell.mode == "interactive":
        j.expect("client", actor=actor, event="prompt", answered=True)
        j.expect("krb_reply", msg="TGS", client="alice", service="exchangeAB/gc02.contoso.test")

"""The provider's reconnect state machine, cell by cell, without servers (PROTOCOL.md §3)."""

from __future__ import annotations

import pytest

from fakegc.client.machine import Happening, Mode, State, decide
from fakegc.codes import MapiCode

H = Happening


def run(happenings, *, r, u, mode):
    state, out = State.BOUND, []
    for h in happenings:
        d = decide(state, h, reconnect=r, user_auth_credentials=u, mode=Mode(mode))
        state = d.state
        out.append((d.code, state))
    return out


def test_without_reconnect_dead_forever():
    seq = run([H.CALL_OK, H.RPC_FAILURE, H.REBOUND, H.CALL_OK], r=False, u=True, mode="service")
    assert [c for c, _ in seq] == [MapiCode.SUCCESS, MapiCode.NETWORK_ERROR, MapiCode.NETWORK_ERROR,
                                   MapiCode.NETWORK_ERROR]
    assert seq[-1][1] is State.DEAD


def test_service_without_userauth_is_stuck_in_usercred():
    d = decide(State.RECOVERING, H.PRINCIPAL_UNKNOWN, reconnect=True, user_auth_credentials=False,
               mode=Mode.SERVICE)
    assert (d.state, d.code, d.prompt) == (State.USERCRED, MapiCode.NETWORK_ERROR, False)
    d = decide(State.USERCRED, H.OTHER_FAILURE, reconnect=True, user_auth_credentials=False,
               mode=Mode.SERVICE)
    assert (d.state, d.code) == (State.USERCRED, MapiCode.NETWORK_ERROR)


@pytest.mark.parametrize("mode", ["service", "interactive"])
def test_userauth_keeps_process_credentials(mode):
    d = decide(State.RECOVERING, H.PRINCIPAL_UNKNOWN, reconnect=True, user_auth_credentials=True,
               mode=Mode(mode))
    assert (d.state, d.code) == (State.RECOVERING, MapiCode.NETWORK_ERROR)
    d = decide(State.RECOVERING, H.REBOUND, reconnect=True, user_auth_credentials=True, mode=Mode(mode))
    assert (d.state, d.code) == (State.BOUND, MapiCode.END_OF_SESSION)


def test_interactive_prompts_and_cancel():
    d = decide(State.RECOVERING, H.PRINCIPAL_UNKNOWN, reconnect=True, user_auth_credentials=False,
               mode=Mode.INTERACTIVE)
    assert d.prompt and d.code is None and d.state is State.USERCRED
    d = decide(State.USERCRED, H.PROMPT_CANCELLED, reconnect=True, user_auth_credentials=False,
               mode=Mode.INTERACTIVE)
    assert d.code is MapiCode.USER_CANCEL
    d = decide(State.USERCRED, H.PROMPT_GIVEN, reconnect=True, user_auth_credentials=False,
               mode=Mode.INTERACTIVE)
    assert d.recover and d.state is State.USERCRED


def test_rpc_failure_with_reconnect_asks_for_recovery():
    d = decide(State.BOUND, H.RPC_FAILURE, reconnect=True, user_auth_credentials=False, mode=Mode.SERVICE)
    assert d.recover and d.code is None and d.state is State.RECOVERING

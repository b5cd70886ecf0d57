"""The address-book provider's reconnect logic as a pure state machine (PROTOCOL.md §3, KB 929439).

Inputs: R = PR_PROFILE_ABP_ALLOW_RECONNECT, U = EMSAB_UserAuth_Credentials, mode =
service | interactive.  States: BOUND(gc, credentials) · RECOVERING · USERCRED
(sticky) · DEAD.  :func:`decide` maps (state, what just happened) to the next state
and the MAPI code the current call returns; it does no I/O, so every cell of the
KB matrix is testable without servers.

==============  ========================================================  =========================
state           happening                                                 → state, code
==============  ========================================================  =========================
BOUND           call OK                                                   BOUND, SUCCESS
BOUND           RPC failure (1722, 1726, 1727, fault 0x1C00001A), R=0     DEAD, NETWORK_ERROR
BOUND           RPC failure, R=1                                          RECOVERING, (recover now)
RECOVERING      KDC principal unknown, U=1                                RECOVERING, NETWORK_ERROR
RECOVERING      KDC principal unknown, U=0, service                       USERCRED, NETWORK_ERROR
RECOVERING      KDC principal unknown, U=0, interactive, creds given      USERCRED(creds), NETWORK_ERROR
RECOVERING      KDC principal unknown, U=0, interactive, cancelled        USERCRED, USER_CANCEL
RECOVERING      other failure (no referral, bind refused, TCP refused)    RECOVERING, NETWORK_ERROR
RECOVERING      bound to a new GC                                         BOUND, END_OF_SESSION (once)
USERCRED        service (cannot prompt)                                   USERCRED, NETWORK_ERROR
DEAD            anything                                                  DEAD, NETWORK_ERROR
==============  ========================================================  =========================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from fakegc.codes import MapiCode

__all__ = ["RPC_FAILURES", "Decision", "Happening", "Mode", "State", "decide"]

#: Win32/RPC statuses that make the provider reconnect (PROTOCOL.md §3).
RPC_FAILURES = frozenset({1722, 1726, 1727, 0x1C00001A})


class State(str, Enum):
    """Provider states."""

    BOUND = "BOUND"
    RECOVERING = "RECOVERING"
    USERCRED = "USERCRED"
    DEAD = "DEAD"


class Mode(str, Enum):
    """How the MAPI program runs."""

    SERVICE = "service"
    INTERACTIVE = "interactive"


class Happening(str, Enum):
    """What the I/O layer observed."""

    CALL_OK = "call_ok"
    RPC_FAILURE = "rpc_failure"
    PRINCIPAL_UNKNOWN = "principal_unknown"
    PROMPT_GIVEN = "prompt_given"
    PROMPT_CANCELLED = "prompt_cancelled"
    OTHER_FAILURE = "other_failure"
    REBOUND = "rebound"


@dataclass(frozen=True)
class Decision:
    """The machine's answer: next state, the code for the call (None: keep going), why."""

    state: State
    code: MapiCode | None
    reason: str
    recover: bool = False  # the caller should run the recovery sequence now
    prompt: bool = False  # the caller should ask for credentials now


def decide(state: State, happening: Happening, *, reconnect: bool, user_auth_credentials: bool,
           mode: Mode) -> Decision:
    """Pure transition function (see the module table)."""
    if state is State.DEAD:
        return Decision(State.DEAD, MapiCode.NETWORK_ERROR, "dead until the program restarts")
    if happening is Happening.CALL_OK:
        return Decision(State.BOUND, MapiCode.SUCCESS, "call served")
    if happening is Happening.RPC_FAILURE:
        if not reconnect:
            return Decision(State.DEAD, MapiCode.NETWORK_ERROR,
                            "RPC failure without PR_PROFILE_ABP_ALLOW_RECONNECT")
        return Decision(State.RECOVERING, None, "RPC failure: reconnecting", recover=True)
    if happening is Happening.PRINCIPAL_UNKNOWN:
        if user_auth_credentials:
            return Decision(State.RECOVERING, MapiCode.NETWORK_ERROR,
                            "KDC principal unknown; EMSAB_UserAuth_Credentials=1 keeps process credentials")
        if mode is Mode.SERVICE:
            return Decision(State.USERCRED, MapiCode.NETWORK_ERROR,
                            "KDC principal unknown: user-credentials state, a service cannot prompt")
        return Decision(State.USERCRED, None, "KDC principal unknown: prompting for credentials",
                        prompt=True)
    if happening is Happening.PROMPT_GIVEN:
        return Decision(State.USERCRED, None, "credentials given: retrying with them", recover=True)
    if happening is Happening.PROMPT_CANCELLED:
        return Decision(State.USERCRED, MapiCode.USER_CANCEL, "credential prompt cancelled")
    if happening is Happening.REBOUND:
        return Decision(State.BOUND, MapiCode.END_OF_SESSION,
                        "bound to a new GC: END_OF_SESSION once, the retry succeeds")
    # OTHER_FAILURE
    if state is State.USERCRED:
        return Decision(State.USERCRED, MapiCode.NETWORK_ERROR, "no GC reachable with user credentials")
    return Decision(State.RECOVERING, MapiCode.NETWORK_ERROR, "no GC reachable yet")

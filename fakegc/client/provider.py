"""The emulated Exchange address-book provider: a MAPI-like profile + reconnect logic + I/O.

A reference implementation of correct reconnect behaviour (and of the KB 929439
bug, when configured like the article's service): compare your own client's
codes and traffic against it.  Every transition is journaled (kind ``client``).

Example::

    from fakegc.client import AddressBook, Profile
    ab = AddressBook(Profile(allow_reconnect=True, user_auth_credentials=True,
                             mode="service", process=Credentials("svc-mapi", "Passw0rd!")),
                     Endpoints.from_cluster(cluster.endpoints()), journal=cluster.journal)
    code, row = ab.resolve_name("alice")      # MapiCode.SUCCESS, {...}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakegc.client.machine import Happening, Mode, State, decide
from fakegc.client.transport import (
    AbTransport,
    Credentials,
    Endpoints,
    KdcFailure,
    NspiFailure,
    RfrFailure,
    RpcFailure,
)
from fakegc.codes import KrbError, MapiCode, NspiStatus
from fakegc.journal import Journal

__all__ = [
    "MUIDEMSAB",
    "PR_PROFILE_ABP_ALLOW_RECONNECT",
    "PR_PROFILE_HOME_SERVER",
    "AddressBook",
    "Profile",
]

PR_PROFILE_ABP_ALLOW_RECONNECT = 0x66390003
PR_PROFILE_HOME_SERVER = 0x6612001E
MUIDEMSAB = "C840A7DC-42C0-1A10-B4B9-08002B2FE182"
_PRINCIPAL_UNKNOWN = {KrbError.KDC_ERR_S_PRINCIPAL_UNKNOWN, KrbError.KDC_ERR_C_PRINCIPAL_UNKNOWN}


@dataclass
class Profile:
    """The provider's profile: the MUIDEMSAB section plus the registry value of KB 929439."""

    allow_reconnect: bool = False  # PR_PROFILE_ABP_ALLOW_RECONNECT (0x66390003) in MUIDEMSAB
    user_auth_credentials: bool = False  # HKLM\...\Exchange Provider\EMSAB_UserAuth_Credentials
    mode: Mode | str = Mode.SERVICE
    process: Credentials = field(default_factory=lambda: Credentials("svc-mapi", "Passw0rd!"))
    home_server: str = "ex01.contoso.test"  # PR_PROFILE_HOME_SERVER
    prompt: Callable[[], Credentials | None] | None = None  # interactive credential dialog
    user_dn: str = ""
    auth: str = "kerberos"  # how NSPI is bound: with the exchangeAB/<gc> ticket, or "ntlm"

    def __post_init__(self) -> None:
        self.mode = Mode(self.mode)

    def sections(self) -> dict[str, dict[int, Any]]:
        """The profile as MAPI sections (for display and tests)."""
        return {MUIDEMSAB: {PR_PROFILE_ABP_ALLOW_RECONNECT: int(self.allow_reconnect),
                            PR_PROFILE_HOME_SERVER: self.home_server}}


class AddressBook:
    """Address-book calls returning MAPI codes, with the reconnect state machine."""

    def __init__(self, profile: Profile, endpoints: Endpoints, journal: Journal | None = None,
                 name: str = "provider") -> None:
        self.profile = profile
        self.io = AbTransport(endpoints, auth=profile.auth)
        self.journal = journal
        self.name = name
        self.state = State.RECOVERING
        self.user_creds: Credentials | None = None
        self.gc: str | None = None
        self.history: list[tuple[str, MapiCode]] = []

    # -- plumbing ------------------------------------------------------------------------
    def _log(self, kind: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.record(f"client:{self.name}", "client", event=kind, **fields)

    def _move(self, to: State, reason: str, code: MapiCode | None = None) -> None:
        if to is not self.state:
            self._log("transition", **{"from": self.state.value}, to=to.value, reason=reason,
                      code=code.name if code is not None else None)
        self.state = to

    def _decide(self, happening: Happening) -> Any:
        d = decide(self.state, happening, reconnect=self.profile.allow_reconnect,
                   user_auth_credentials=self.profile.user_auth_credentials,
                   mode=Mode(self.profile.mode))
        self._move(d.state, d.reason, d.code)
        return d

    @property
    def credentials(self) -> Credentials:
        """The credentials in use: the user's after a prompt, else the process's."""
        return self.user_creds or self.profile.process

    # -- connect / recover -------------------------------------------------------------
    def logon(self) -> MapiCode:
        """Initial connection: referral, ticket, bind (Outlook's connect sequence)."""
        try:
            self._connect()
        except (RpcFailure, RfrFailure, KdcFailure, NspiFailure) as exc:
            self._log("logon_failed", error=str(exc))
            return MapiCode.NETWORK_ERROR
        self._move(State.BOUND, f"logged on to {self.gc}")
        return MapiCode.SUCCESS

    def _connect(self) -> None:
        creds = self.credentials
        fqdn = self.io.get_new_dsa(creds, self.profile.user_dn)
        self.io.get_ticket(creds, fqdn)
        self.io.bind(creds, fqdn)
        self.gc = fqdn
        self._log("bound", gc=fqdn, user=creds.user)

    def _recover(self) -> MapiCode:
        """Run the recovery sequence from RECOVERING / USERCRED; the code for the call."""
        while True:
            if self.state is State.USERCRED and self.user_creds is None:
                if Mode(self.profile.mode) is Mode.SERVICE:
                    return self._decide(Happening.OTHER_FAILURE).code  # type: ignore[no-any-return]
                return self._prompt()
            try:
                self._connect()
            except (RfrFailure, KdcFailure) as exc:
                if self._credential_failure(exc) and self.user_creds is None:
                    d = self._decide(Happening.PRINCIPAL_UNKNOWN)
                    if d.prompt:
                        return self._prompt()
                    return d.code  # type: ignore[no-any-return]
                return self._decide(Happening.OTHER_FAILURE).code  # type: ignore[no-any-return]
            except (RpcFailure, NspiFailure) as exc:
                self._log("recover_failed", error=str(exc))
                return self._decide(Happening.OTHER_FAILURE).code  # type: ignore[no-any-return]
            return self._decide(Happening.REBOUND).code  # type: ignore[no-any-return]

    def _credential_failure(self, exc: Exception) -> bool:
        """KDC principal-unknown, seen directly or as the referral's credentials failure (KB 929439)."""
        if isinstance(exc, KdcFailure):
            return exc.code in _PRINCIPAL_UNKNOWN
        if isinstance(exc, RfrFailure):
            return exc.code == NspiStatus.LogonFailed
        return False

    def _prompt(self) -> MapiCode:
        given = self.profile.prompt() if self.profile.prompt else None
        self._log("prompt", answered=given is not None)
        if given is None:
            return self._decide(Happening.PROMPT_CANCELLED).code  # type: ignore[no-any-return]
        self.user_creds = given
        self._decide(Happening.PROMPT_GIVEN)
        try:
            self._connect()
        except (RfrFailure, KdcFailure, RpcFailure, NspiFailure) as exc:
            self._log("recover_failed", error=str(exc))
            return self._decide(Happening.OTHER_FAILURE).code  # type: ignore[no-any-return]
        return self._decide(Happening.REBOUND).code  # type: ignore[no-any-return]

    # -- address-book calls ----------------------------------------------------------------
    def _call(self, op: str, fn: Callable[[], Any]) -> tuple[MapiCode, Any]:
        result = None
        if self.state is State.DEAD:
            code = self._decide(Happening.RPC_FAILURE).code
        elif self.state in (State.RECOVERING, State.USERCRED):
            code = self._recover()
        else:
            try:
                result = fn()
                code = self._decide(Happening.CALL_OK).code
            except NspiFailure as exc:
                code = MapiCode.NOT_FOUND if exc.code == NspiStatus.NotFound else MapiCode.CALL_FAILED
            except RpcFailure as exc:
                self._log("rpc_failure", status=exc.status, detail=exc.detail[:80])
                self.io.close()
                d = self._decide(Happening.RPC_FAILURE)
                code = self._recover() if d.recover else d.code
        assert code is not None
        self.history.append((op, code))
        self._log("call", op=op, code=code.name, state=self.state.value, gc=self.gc)
        return code, result

    def resolve_name(self, name: str) -> tuple[MapiCode, dict[int, Any] | None]:
        """ResolveName (NspiResolveNamesW)."""
        return self._call("ResolveName", lambda: self.io.resolve_name(name))

    def open_entry(self, dn: str, tags: list[int] | None = None) -> tuple[MapiCode, dict[int, Any] | None]:
        """OpenEntry / GetProps by DN (NspiDNToMId + NspiGetProps)."""
        return self._call("OpenEntry", lambda: self.io.get_props_by_dn(dn, tags or [0x3001001F, 0x39FE001F]))

    def browse(self, count: int = 10) -> tuple[MapiCode, list[dict[int, Any]] | None]:
        """Browse the GAL (GetSpecialTable + QueryRows)."""
        return self._call("BrowseGAL", lambda: self.io.browse_gal(count))

    def close(self) -> None:
        """Disconnect."""
        self.io.close()

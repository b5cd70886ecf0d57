"""The emulated provider's protocol I/O, on impacket's real clients.

RfrGetNewDSA on the Exchange server (RFR over ncacn_ip_tcp, NTLM at privacy), a
Kerberos TGS-REQ for ``exchangeAB/<gc>`` (impacket's getKerberosTGT/TGS), the GC's
endpoint mapper (ept_map) and NSPI (bind, resolve names, get properties, browse).
Failures are mapped to what a Windows RPC client reports: 1722 (server
unavailable), 1726 (call failed), 1727, fault statuses, NSPI return codes, KRB
error codes.  Any endpoints work: the fake cluster's, or real ones.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass, field
from typing import Any

from impacket.dcerpc.v5 import epm, nspi, oxabref, transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException
from impacket.krb5.kerberosv5 import KerberosError

from fakegc.client import nspi_wire
from fakegc.client.kerberos import get_tgs, get_tgt
from fakegc.client.resolve import DnsResolver, NameNotFound
from fakegc.nspi.handlers_props import MID_RESOLVED

__all__ = [
    "AbTransport",
    "Credentials",
    "Endpoints",
    "KdcFailure",
    "NspiFailure",
    "OutlookFlows",
    "RfrFailure",
    "RpcFailure",
    "anr_restriction",
    "get_matches",
]


@dataclass(frozen=True)
class Credentials:
    """A user and password (process or user credentials)."""

    user: str
    password: str
    domain: str = "CONTOSO"


@dataclass
class Endpoints:
    """Where things are: FQDN → (host, EPM port) for GCs; the RFR and KDC addresses."""

    realm: str
    rfr: tuple[str, int]  # (host, port); port 0: ask the host's endpoint mapper (lab mode)
    kdc: tuple[str, int]
    gc_epm: dict[str, tuple[str, int]] = field(default_factory=dict)
    # lab mode: hosts are names, resolved through this DNS resolver before each connection
    resolver: DnsResolver | None = None

    @classmethod
    def from_cluster(cls, doc: dict[str, Any], by_name: bool | None = None) -> Endpoints:
        """From a fake cluster's endpoints document; ``by_name`` (default: when the cluster
        serves DNS, i.e. lab mode) keeps host names and resolves them through its DNS."""
        ex = next(a for a in doc["actors"].values() if a["role"] == "exchange")
        gcs = [a for a in doc["actors"].values() if a["role"] == "gc"]
        if by_name is None:
            by_name = "dns" in doc
        if by_name:
            dns = doc["dns"]
            return cls(doc["realm"], (ex["fqdn"], 0), ("", 0),  # RFR port: from ex01's EPM
                       {a["fqdn"]: (a["fqdn"], a["epm"]) for a in gcs},
                       DnsResolver(dns["address"], dns.get("port", 53)))
        return cls(doc["realm"], (ex["host"], ex["rfr"]), (doc["kdc"]["host"], doc["kdc"]["tcp"]),
                   {a["fqdn"]: (a["host"], a["epm"]) for a in gcs})

    def address(self, host: str) -> str:
        """``host`` itself, or in lab mode its address from DNS (NameNotFound otherwise)."""
        return self.resolver.address(host) if self.resolver is not None else host

    def kdc_address(self) -> tuple[str, int]:
        """The KDC: fixed, or in lab mode found by SRV (RFC 4120 §7.2.3.2)."""
        return self.resolver.kdc(self.realm) if self.resolver is not None else self.kdc


class RpcFailure(Exception):
    """Transport-level failure with the Win32 / fault status a Windows client would see."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"RPC failure {status} ({detail})")
        self.status = status
        self.detail = detail


class KdcFailure(Exception):
    """KRB-ERROR from the KDC."""

    def __init__(self, code: int) -> None:
        super().__init__(f"KRB-ERROR {code}")
        self.code = code


class NspiFailure(Exception):
    """An NSPI method returned a failure code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"NSPI 0x{code:08X}")
        self.code = code


class RfrFailure(Exception):
    """RfrGetNewDSA returned a failure code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"RFR 0x{code:08X}")
        self.code = code


def _rpc_status(exc: BaseException) -> int:
    text = str(exc)
    if isinstance(exc, NameNotFound):  # the RPC runtime cannot reach a server it cannot resolve
        return 1722
    if isinstance(exc, ConnectionRefusedError) or "Connection refused" in text or \
            getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return 1722
    if "context_mismatch" in text:
        return 0x1C00001A
    if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in text:
        return 1727
    return 1726


class AbTransport:
    """One provider's connections: RFR, KDC and the current GC's NSPI."""

    def __init__(self, endpoints: Endpoints, timeout: float = 5.0, auth: str = "ntlm") -> None:
        self.ep = endpoints
        self.timeout = timeout
        self.auth = auth  # "ntlm", or "kerberos": NSPI bound with the exchangeAB/<gc> ticket
        self.dce: Any = None
        self.handle: Any = None
        self.gc: str | None = None
        self._tgt: dict[str, Any] = {}
        self._tgs: dict[tuple[str, str], Any] = {}

    def _dce(self, host: str, port: int, iface: bytes, creds: Credentials | None) -> Any:
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{host}[{port}]")
        t.set_connect_timeout(self.timeout)
        if creds is not None:
            t.set_credentials(creds.user, creds.password, creds.domain)
        d = t.get_dce_rpc()
        if creds is not None:
            d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
        d.connect()
        d.bind(iface)
        return d

    def _kerberos_dce(self, host: str, port: int, fqdn: str, creds: Credentials) -> Any:
        """NSPI over SPNEGO/Kerberos with the service ticket get_ticket obtained."""
        from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_GSS_NEGOTIATE

        tgs = self._tgs.get((creds.user, fqdn))
        if tgs is None:
            self.get_ticket(creds, fqdn)
            tgs = self._tgs[(creds.user, fqdn)]
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{fqdn}[{port}]")
        t.setRemoteHost(host)
        t.set_connect_timeout(self.timeout)
        t.set_credentials(creds.user, creds.password, self.ep.realm,
                          TGS={"KDC_REP": tgs[0], "cipher": tgs[1], "sessionKey": tgs[3]})
        t.set_kerberos(True, kdcHost=self.ep.kdc_address()[0])
        d = t.get_dce_rpc()
        d.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
        d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
        d.connect()
        d.bind(nspi.MSRPC_UUID_NSPI)
        return d

    def close(self) -> None:
        """Drop the NSPI connection."""
        if self.dce is not None:
            with contextlib.suppress(Exception):  # already dead
                self.dce.disconnect()
        self.dce, self.handle, self.gc = None, None, None

    # -- referral ------------------------------------------------------------------
    def _ept_map(self, host: str, epm_port: int, iface: bytes) -> int:
        """The port ``host``'s endpoint mapper names for ``iface`` (MS-RPCE 2.2.1.2.5 ept_map)."""
        t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{host}[{epm_port}]")
        t.set_connect_timeout(self.timeout)
        d = t.get_dce_rpc()
        d.connect()
        try:
            binding = epm.hept_map(host, iface, protocol="ncacn_ip_tcp", dce=d)
        finally:
            d.disconnect()
        return int(binding.rsplit("[", 1)[1].rstrip("]"))

    def get_new_dsa(self, creds: Credentials, user_dn: str = "") -> str:
        """RfrGetNewDSA → the FQDN of a GC (RfrFailure / RpcFailure otherwise); in lab mode
        the Exchange server is resolved by name and its endpoint mapper (135) names the port."""
        try:
            host, port = self.ep.address(self.ep.rfr[0]), self.ep.rfr[1]
            if port == 0:
                port = self._ept_map(host, 135, oxabref.MSRPC_UUID_OXABREF)
            d = self._dce(host, port, oxabref.MSRPC_UUID_OXABREF, creds)
            try:
                resp = oxabref.hRfrGetNewDSA(d, user_dn)
            finally:
                d.disconnect()
        except oxabref.DCERPCSessionError as exc:
            raise RfrFailure(exc.error_code) from None
        except (DCERPCException, OSError) as exc:
            raise RpcFailure(_rpc_status(exc), str(exc)) from None
        return str(resp["ppszServer"]).lower()

    # -- Kerberos ---------------------------------------------------------------------
    def get_ticket(self, creds: Credentials, fqdn: str) -> None:
        """A service ticket for exchangeAB/<fqdn> (KdcFailure on a KRB-ERROR)."""
        try:
            host, port = self.ep.kdc_address()
            tgt = self._tgt.get(creds.user)
            if tgt is None:
                tgt = get_tgt(creds.user, creds.password, self.ep.realm, host, port)
                self._tgt[creds.user] = tgt
            tgs = get_tgs(f"exchangeAB/{fqdn}", self.ep.realm, host, port, tgt[0], tgt[1], tgt[3])
            self._tgs[(creds.user, fqdn)] = tgs
        except KerberosError as exc:
            raise KdcFailure(exc.getErrorCode()) from None
        except OSError as exc:
            raise RpcFailure(_rpc_status(exc), str(exc)) from None

    # -- NSPI -----------------------------------------------------------------------------
    def bind(self, creds: Credentials, fqdn: str) -> None:
        """EPM lookup on the GC, then NspiBind."""
        self.close()
        if fqdn not in self.ep.gc_epm:
            raise RpcFailure(1722, f"no address for {fqdn}")
        host, epm_port = self.ep.gc_epm[fqdn]
        try:
            host = self.ep.address(host)
            port = self._ept_map(host, epm_port, nspi.MSRPC_UUID_NSPI)
            if self.auth == "kerberos":
                self.dce = self._kerberos_dce(host, port, fqdn, creds)
            else:
                self.dce = self._dce(host, port, nspi.MSRPC_UUID_NSPI, creds)
            self.handle = nspi.hNspiBind(self.dce)["contextHandle"]
            self.gc = fqdn
        except nspi.DCERPCSessionError as exc:
            self.close()
            raise NspiFailure(exc.error_code) from None
        except (DCERPCException, OSError) as exc:
            self.close()
            raise RpcFailure(_rpc_status(exc), str(exc)) from None

    def _nspi(self, fn: Any, *args: Any, **kw: Any) -> Any:
        if self.dce is None:
            raise RpcFailure(1726, "not bound")
        try:
            return fn(self.dce, self.handle, *args, **kw)
        except nspi.DCERPCSessionError as exc:
            raise NspiFailure(exc.error_code) from None
        except (DCERPCException, OSError, ConnectionError) as exc:
            raise RpcFailure(_rpc_status(exc), str(exc)) from None

    def resolve_name(self, name: str) -> dict[int, Any] | None:
        """NspiResolveNamesW → the row of the resolved object (None when unresolved)."""
        resp = self._nspi(nspi.hNspiResolveNamesW, pPropTags=[0x3001001F, 0x3003001F, 0x39FE001F],
                          paStr=[name])
        # MS-OXNSPI 2.2.9: MID_RESOLVED (2) marks a name that has a row in ppRows
        mids = [m["Data"] for m in resp["ppMIds"]["aulPropTag"]]
        rows = nspi.simplifyPropertyRowSet(resp["ppRows"]) if resp["ppRows"] else []
        return rows[0] if mids and mids[0] == MID_RESOLVED and rows else None

    def get_props_by_dn(self, dn: str, tags: list[int]) -> dict[int, Any]:
        """NspiDNToMId then NspiGetProps (the "open entry" path)."""
        mids = self._nspi(nspi.hNspiDNToMId, pNames=[dn])["ppOutMIds"]["aulPropTag"]
        mid = mids[0]["Data"]
        if mid == 0:
            raise NspiFailure(0x8004010F)
        resp = self._nspi(nspi_wire.get_props, nspi_wire.stat_values(current_rec=mid), tags=tags)
        return nspi.simplifyPropertyRow(resp["ppRows"])  # type: ignore[no-any-return]

    def browse_gal(self, count: int = 10) -> list[dict[int, Any]]:
        """GetSpecialTable then QueryRows on the GAL."""
        self._nspi(nspi_wire.get_special_table)
        resp = self._nspi(nspi.hNspiQueryRows, Count=count, pPropTags=[0x3001001F, 0x39FE001F])
        return nspi.simplifyPropertyRowSet(resp["ppRows"])  # type: ignore[no-any-return]


def anr_restriction(text: str) -> Any:
    """A PR_ANR property restriction (what Outlook sends when ResolveNames misses)."""
    r = nspi.Restriction_r()
    r["rt"] = 4
    r["res"]["tag"] = 4
    pr = r["res"]["resProperty"]
    pr["relop"] = 4
    pr["ulPropTag"] = 0x360C001F
    pr["lpProp"]["ulPropTag"] = 0x360C001F
    pr["lpProp"]["Value"]["tag"] = 0x1F
    pr["lpProp"]["Value"]["lpszW"] = text + "\x00"
    return r


def get_matches(dce: Any, handle: Any, stat: Any, restriction: Any, tags: list[int] | tuple[int, ...],
                requested: int = 0) -> Any:
    """NspiGetMatches through impacket's NDR (impacket has no helper for opnum 5)."""
    from impacket.dcerpc.v5.dtypes import DWORD

    from fakegc.wire.impacket_ndr import NspiGetMatches, NspiGetMatchesResponse

    req = NspiGetMatches()
    req["hRpc"] = handle
    req["pStat"] = stat
    req["pReserved"] = nspi.NULL
    req["Filter"] = restriction if restriction is not None else nspi.NULL
    req["lpPropName"] = nspi.NULL
    req["ulRequested"] = requested
    for tag in tags:
        d = DWORD()
        d["Data"] = tag
        req["pPropTags"]["aulPropTag"].append(d)
    req["pPropTags"]["cValues"] = len(tags)
    # PropertyTagArray_r: size_is(cValues + 1), length_is(cValues) (MS-OXNSPI 2.2.2.2)
    req.fields["pPropTags"].fields["Data"].fields["aulPropTag"].fields["MaximumCount"] = len(tags) + 1
    dce.call(5, req)
    resp = NspiGetMatchesResponse(dce.recv())
    if resp["ErrorCode"] not in (0,):
        raise nspi.DCERPCSessionError(error_code=resp["ErrorCode"])
    return resp


class OutlookFlows:
    """Outlook's call sequences (PROTOCOL.md §11, issue #12) on an :class:`AbTransport`."""

    def __init__(self, io: AbTransport) -> None:
        self.io = io

    def anr(self, text: str, tags: list[int] | None = None) -> list[dict[int, Any]]:
        """GetMatches with PR_ANR in the GAL."""
        stat = nspi.STAT()
        stat["CodePage"] = 1252
        stat["SortLocale"] = 0x409
        resp = self.io._nspi(lambda d, h: get_matches(d, h, stat, anr_restriction(text),
                                                       tags or [0x3001001F, 0x3003001F]))
        return nspi.simplifyPropertyRowSet(resp["ppRows"]) if resp["ppRows"] else []

    def profile_creation(self, name: str) -> dict[str, Any]:
        """GetMatches(PR_ANR) → QueryRows with HOME_MDB and proxies → DNToMId(server) →
        GetProps(PR_EMS_AB_NETWORK_ADDRESS)."""
        rows = self.anr(name, [0x3001001F, 0x3003001F, 0x0FF60102])
        if len(rows) != 1:
            raise NspiFailure(0x8004010F)
        mid = rows[0][0x0FF60102]
        stat = nspi.STAT()
        stat["CodePage"] = 1252
        stat["SortLocale"] = 0x409
        resp = self.io._nspi(nspi.hNspiQueryRows, pStat=stat, lpETable=[mid], Count=1,
                             pPropTags=[0x8006001F, 0x800F101F, 0x3001001F])
        user = nspi.simplifyPropertyRowSet(resp["ppRows"])[0]
        home_mdb = user[0x8006001F]
        server_dn = home_mdb.rsplit("/cn=", 1)[0]
        server_mid = self.io._nspi(nspi.hNspiDNToMId, pNames=[server_dn])["ppOutMIds"]["aulPropTag"][0]["Data"]
        props = self.io._nspi(nspi_wire.get_props, nspi_wire.stat_values(current_rec=server_mid),
                              tags=[0x8170101F])
        network = nspi.simplifyPropertyRow(props["ppRows"])[0x8170101F]
        return {"user": user, "server_dn": server_dn, "network_address": network}

    def check_name(self, name: str) -> list[dict[int, Any]]:
        """ResolveNamesW; on a miss, GetMatches with PR_ANR (what Outlook retries with)."""
        row = self.io.resolve_name(name)
        return [row] if row is not None else self.anr(name)

    def details(self, dn: str) -> tuple[dict[int, Any], bytes]:
        """GetProps of the entry and its display template (GetTemplateInfo)."""
        props = self.io.get_props_by_dn(dn, [0x3001001F, 0x3A17001F, 0x3A18001F, 0x39000003])
        tmpl = self.io._nspi(nspi.hNspiGetTemplateInfo, ulType=props[0x39000003], dwLocaleID=0x409,
                             dwCodePage=1252, dwFlags=1)
        blob = nspi.simplifyPropertyRow(tmpl["ppData"])[0x00010102]
        return props, bytes(blob)

    def expand_dl(self, dl_dn: str) -> list[str]:
        """DL members: GetMatches with ContainerID = PR_EMS_AB_MEMBER, CurrentRec = the DL's MId."""
        mid = self.io._nspi(nspi.hNspiDNToMId, pNames=[dl_dn])["ppOutMIds"]["aulPropTag"][0]["Data"]
        stat = nspi.STAT()
        stat["CodePage"] = 1252
        stat["SortLocale"] = 0x409
        stat["ContainerID"] = 0x8009000D
        stat["CurrentRec"] = mid
        resp = self.io._nspi(lambda d, h: get_matches(d, h, stat, None, [0x3001001F]))
        return [r[0x3001001F] for r in nspi.simplifyPropertyRowSet(resp["ppRows"])]

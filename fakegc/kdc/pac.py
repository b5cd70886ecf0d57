"""An optional PAC for issued tickets (MS-PAC 2.3–2.8; off by default, PROTOCOL.md §6.10, §10).

Buffers: KERB_VALIDATION_INFO (logon info, NDR type serialization 1 through impacket's
structures), PAC_CLIENT_INFO, the server checksum (service key) and the KDC checksum
(krbtgt key), keyed checksums with usage 17 (MS-PAC 2.8.1).  The PAC goes into the
ticket's authorization-data as AD-IF-RELEVANT { AD-WIN2K-PAC } (MS-PAC 2.3, RFC 4120
§5.2.6.1).  SIDs are made up: a fixed domain SID and a RID derived from the name.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib

from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.nrpc import GROUP_MEMBERSHIP
from impacket.krb5.crypto import Key, _checksum_table
from impacket.krb5.pac import (
    KERB_VALIDATION_INFO,
    PAC_CLIENT_INFO_TYPE,
    PAC_LOGON_INFO,
    PAC_PRIVSVR_CHECKSUM,
    PAC_SERVER_CHECKSUM,
    VALIDATION_INFO,
)

from fakegc.kdc.fastder import der, der_int

__all__ = [
    "AD_IF_RELEVANT",
    "AD_WIN2K_PAC",
    "DOMAIN_SID",
    "KERB_NON_KERB_CKSUM_SALT",
    "authorization_data",
    "build_pac",
    "checksum_type",
    "if_relevant_payload",
    "rid_of",
]

DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"
AD_IF_RELEVANT = 1
AD_WIN2K_PAC = 128
KERB_NON_KERB_CKSUM_SALT = 17
_NEVER = 0x7FFFFFFFFFFFFFFF


def rid_of(name: str) -> int:
    """A stable made-up RID (≥ 1100) for ``name``."""
    return 1100 + zlib.crc32(name.lower().encode()) % 1_000_000


def checksum_type(key: Key) -> int:
    """MS-PAC 2.8: HMAC-SHA1-96-AES256 (16) / -AES128 (15) / HMAC-MD5 (-138) by key type."""
    return {18: 16, 17: 15, 23: -138}[key.enctype]


def _filetime(when: dt.datetime) -> int:
    return int((when.timestamp() + 11644473600) * 10_000_000)


def _set_filetime(field: object, value: int) -> None:
    field["dwLowDateTime"] = value & 0xFFFFFFFF  # type: ignore[index]
    field["dwHighDateTime"] = value >> 32  # type: ignore[index]


def _logon_info(user: str, netbios: str, authtime: dt.datetime, rid: int) -> bytes:
    info = KERB_VALIDATION_INFO()
    _set_filetime(info["LogonTime"], _filetime(authtime))
    for name in ("LogoffTime", "KickOffTime", "PasswordMustChange"):
        _set_filetime(info[name], _NEVER)
    for name in ("PasswordLastSet", "PasswordCanChange"):
        _set_filetime(info[name], 0)
    for name in ("LastSuccessfulILogon", "LastFailedILogon"):
        _set_filetime(info[name], 0)
    info["EffectiveName"] = user
    info["FullName"] = user
    for name in ("LogonScript", "ProfilePath", "HomeDirectory", "HomeDirectoryDrive"):
        info[name] = ""
    info["LogonCount"] = 1
    info["BadPasswordCount"] = 0
    info["UserId"] = rid
    info["PrimaryGroupId"] = 513  # Domain Users
    info["GroupCount"] = 1
    member = GROUP_MEMBERSHIP()
    member["RelativeId"] = 513
    member["Attributes"] = 7  # mandatory | enabled by default | enabled
    info["GroupIds"].append(member)
    info["UserFlags"] = 0x20  # EXTRA_SIDS not used; LOGON_EXTRA_SIDS off
    info["UserSessionKey"] = b"\x00" * 16
    info["LogonServer"] = "DC01"
    info["LogonDomainName"] = netbios
    info["LogonDomainId"].fromCanonical(DOMAIN_SID)
    info["LMKey"] = b"\x00" * 8
    info["UserAccountControl"] = 0x10  # USER_NORMAL_ACCOUNT
    info["SubAuthStatus"] = 0
    info["FailedILogonCount"] = 0
    info["Reserved3"] = 0
    info["SidCount"] = 0
    info["ExtraSids"] = NULL
    info["ResourceGroupDomainSid"] = NULL
    info["ResourceGroupCount"] = 0
    info["ResourceGroupIds"] = NULL
    blob = VALIDATION_INFO()
    blob["Data"] = info
    return bytes(blob.getData()) + bytes(blob.getDataReferents())


def _client_info(user: str, authtime: dt.datetime) -> bytes:
    name = user.encode("utf-16le")
    return struct.pack("<QH", _filetime(authtime), len(name)) + name


def _assemble(buffers: list[tuple[int, bytes]]) -> tuple[bytes, dict[int, int]]:
    """PACTYPE with 8-aligned buffers; returns (bytes, {type: offset})."""
    head = 8 + 16 * len(buffers)
    offset = (head + 7) & ~7
    infos, body, where = b"", b"", {}
    for kind, data in buffers:
        infos += struct.pack("<LLQ", kind, len(data), offset)
        where[kind] = offset
        padded = data + b"\x00" * ((8 - len(data) % 8) % 8)
        body += padded
        offset += len(padded)
    raw = struct.pack("<LL", len(buffers), 0) + infos
    raw += b"\x00" * (((head + 7) & ~7) - head)
    return raw + body, where


def build_pac(user: str, netbios: str, authtime: dt.datetime, service_key: Key, kdc_key: Key,
              rid: int | None = None) -> bytes:
    """The PACTYPE bytes, signed with ``service_key`` (server checksum) and ``kdc_key``."""
    srv_type, kdc_type = checksum_type(service_key), checksum_type(kdc_key)
    srv_len = 16 if srv_type == -138 else 12
    kdc_len = 16 if kdc_type == -138 else 12
    buffers = [
        (PAC_LOGON_INFO, _logon_info(user, netbios, authtime, rid if rid is not None else rid_of(user))),
        (PAC_CLIENT_INFO_TYPE, _client_info(user, authtime)),
        (PAC_SERVER_CHECKSUM, struct.pack("<l", srv_type) + b"\x00" * srv_len),
        (PAC_PRIVSVR_CHECKSUM, struct.pack("<l", kdc_type) + b"\x00" * kdc_len),
    ]
    raw, where = _assemble(buffers)
    srv_sig = _checksum_table[srv_type].checksum(service_key, KERB_NON_KERB_CKSUM_SALT, raw)
    kdc_sig = _checksum_table[kdc_type].checksum(kdc_key, KERB_NON_KERB_CKSUM_SALT, srv_sig)
    out = bytearray(raw)
    s, k = where[PAC_SERVER_CHECKSUM] + 4, where[PAC_PRIVSVR_CHECKSUM] + 4
    out[s:s + srv_len] = srv_sig
    out[k:k + kdc_len] = kdc_sig
    return bytes(out)


def _entry(ad_type: int, data: bytes) -> bytes:
    return der(0x30, der(0xA0, der_int(ad_type)) + der(0xA1, der(0x04, data)))


def if_relevant_payload(pac: bytes) -> bytes:
    """The ad-data of the AD-IF-RELEVANT element: AuthorizationData { AD-WIN2K-PAC pac }."""
    return der(0x30, _entry(AD_WIN2K_PAC, pac))


def authorization_data(pac: bytes) -> bytes:
    """DER AuthorizationData { AD-IF-RELEVANT { AD-WIN2K-PAC pac } } (EncTicketPart [10] contents)."""
    return der(0x30, _entry(AD_IF_RELEVANT, if_relevant_payload(pac)))

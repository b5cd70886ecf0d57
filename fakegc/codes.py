"""Status codes used on the wire and by the emulated client (PROTOCOL.md §4).

One name per code, everywhere in the package.  Sources: MS-NSPI 2.2.1.2 (NSPI
return values), MAPICode.h (MAPI_E_*), MS-RPCE 2.2.2.11 / C706 appendix E (RPC
faults), RFC 4120 §7.5.9 (Kerberos error codes).
"""

from __future__ import annotations

from enum import IntEnum


class MapiCode(IntEnum):
    """MAPI result codes a client-side address-book provider returns (MAPICode.h)."""

    SUCCESS = 0
    CALL_FAILED = 0x80004005
    NOT_FOUND = 0x8004010F
    LOGON_FAILED = 0x80040111
    USER_CANCEL = 0x80040113
    NETWORK_ERROR = 0x80040115
    END_OF_SESSION = 0x80040200
    TIMEOUT = 0x80040401


class NspiStatus(IntEnum):
    """The only values an NSPI method may return on the wire (MS-NSPI 2.2.1.2)."""

    Success = 0x00000000
    UnbindSuccess = 0x00000001
    UnbindFailure = 0x00000002
    ErrorsReturned = 0x00040380
    GeneralFailure = 0x80004005
    NotSupported = 0x80040102
    InvalidObject = 0x80040108
    OutOfResources = 0x8004010E
    NotFound = 0x8004010F
    LogonFailed = 0x80040111
    TooComplex = 0x80040117
    InvalidCodepage = 0x8004011E
    InvalidLocale = 0x8004011F
    TableTooBig = 0x80040403
    InvalidBookmark = 0x80040405
    AccessDenied = 0x80070005
    NotEnoughMemory = 0x8007000E
    InvalidParameter = 0x80070057


class RpcStatus(IntEnum):
    """Status codes in fault PDUs (C706 appendix E, MS-RPCE 2.2.2.11, MS-ERREF 2.2).

    Names are impacket's (``impacket.dcerpc.v5.rpcrt.rpc_status_codes``) for the
    nca_s_* / ept_s_* values and MS-ERREF's Win32 names, lower-cased, for the
    rest; ``tests/unit/test_codes_audit.py`` checks every member against both.
    """

    rpc_s_access_denied = 0x00000005
    rpc_s_server_too_busy = 0x000006BB
    rpc_s_unknown_authn_service = 0x000006D3
    rpc_fault_cant_perform = 0x000006D8
    rpc_x_bad_stub_data = 0x000006F7
    rpc_s_sec_pkg_error = 0x00000721
    nca_s_fault_int_overflow = 0x1C000010
    nca_s_fault_context_mismatch = 0x1C00001A
    nca_s_fault_remote_no_memory = 0x1C00001B
    nca_s_fault_user_defined = 0x1C000021
    nca_s_op_rng_error = 0x1C010002
    nca_s_unk_if = 0x1C010003
    nca_s_proto_error = 0x1C01000B
    ept_s_not_registered = 0x16C9A0D6
    # Old spellings, aliases only so that branches written before the audit still
    # import; canonical names above are what code_name() and journals show.
    ACCESS_DENIED = 0x00000005
    nca_s_fault_ndr = 0x000006F7
    nca_s_fault_cant_perform = 0x000006D8


class WinError(IntEnum):
    """Win32 errors a Windows RPC client reports for transport failures."""

    RPC_S_SERVER_UNAVAILABLE = 1722
    RPC_S_CALL_FAILED = 1726
    RPC_S_CALL_FAILED_DNE = 1727


class KrbError(IntEnum):
    """Kerberos error codes (RFC 4120 §7.5.9) used by the fake KDC."""

    KDC_ERR_NONE = 0
    KDC_ERR_NAME_EXP = 1
    KDC_ERR_BAD_PVNO = 3
    KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
    KDC_ERR_S_PRINCIPAL_UNKNOWN = 7
    KDC_ERR_PRINCIPAL_NOT_UNIQUE = 8
    KDC_ERR_NULL_KEY = 9
    KDC_ERR_CANNOT_POSTDATE = 10
    KDC_ERR_NEVER_VALID = 11
    KDC_ERR_POLICY = 12
    KDC_ERR_BADOPTION = 13
    KDC_ERR_ETYPE_NOSUPP = 14
    KDC_ERR_PADATA_TYPE_NOSUPP = 16
    KDC_ERR_CLIENT_REVOKED = 18
    KDC_ERR_SERVICE_REVOKED = 19
    KDC_ERR_TGT_REVOKED = 20
    KDC_ERR_KEY_EXPIRED = 23
    KDC_ERR_PREAUTH_FAILED = 24
    KDC_ERR_PREAUTH_REQUIRED = 25
    KRB_AP_ERR_BAD_INTEGRITY = 31
    KRB_AP_ERR_TKT_EXPIRED = 32
    KRB_AP_ERR_TKT_NYV = 33
    KRB_AP_ERR_REPEAT = 34
    KRB_AP_ERR_NOT_US = 35
    KRB_AP_ERR_BADMATCH = 36
    KRB_AP_ERR_SKEW = 37
    KRB_AP_ERR_MODIFIED = 41
    KRB_AP_ERR_BADKEYVER = 44
    KRB_AP_ERR_NOKEY = 45
    KRB_ERR_GENERIC = 60
    KRB_ERR_FIELD_TOOLONG = 61
    KRB_ERR_RESPONSE_TOO_BIG = 52
    KDC_ERR_WRONG_REALM = 68


def code_name(value: int) -> str:
    """Best-effort symbolic name for a status value, for journals and messages."""
    for enum in (NspiStatus, MapiCode, RpcStatus, WinError):
        try:
            return enum(value).name
        except ValueError:
            continue
    return f"0x{value:08X}"

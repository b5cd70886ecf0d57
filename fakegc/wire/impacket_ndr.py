"""impacket NDR structures impacket itself lacks, used as the reference codec (PROTOCOL.md §7).

Every ``NDRCALL``/``NDRPOINTER`` subclass of the package lives here, so one mypy override
(``disallow_subclassing_any``: impacket ships no types) covers them all:

* NSPI requests impacket comments out (MS-OXNSPI 3.1.4.1.10-12): NspiGetMatches,
  NspiResortRestriction, NspiModProps, with their responses (decoders for tests and the
  emulated client);
* EPM responses (C706 appendix O): ept_insert/ept_delete and ept_lookup_handle_free.
"""

from __future__ import annotations

from impacket.dcerpc.v5 import epm as _epm
from impacket.dcerpc.v5 import nspi as inspi
from impacket.dcerpc.v5.dtypes import DWORD, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL, NDRPOINTER

__all__ = [
    "LookupHandleFreeResponse",
    "NspiGetMatches",
    "NspiGetMatchesResponse",
    "NspiModProps",
    "NspiModPropsResponse",
    "NspiResortRestriction",
    "NspiResortRestrictionResponse",
    "PPropertyName_r",
    "PRestriction_r",
    "StatusOnlyResponse",
]


# -- NSPI requests impacket comments out -----------------------------------------------
class PRestriction_r(NDRPOINTER):
    referent = (("Data", inspi.Restriction_r),)


class PPropertyName_r(NDRPOINTER):
    referent = (("Data", inspi.PropertyName_r),)


class NspiGetMatches(NDRCALL):
    """MS-NSPI 3.1.4.1.10 request."""

    opnum = 5
    structure = (
        ("hRpc", inspi.handle_t),
        ("Reserved1", DWORD),
        ("pStat", inspi.STAT),
        ("pReserved", inspi.PPropertyTagArray_r),
        ("Reserved2", DWORD),
        ("Filter", PRestriction_r),
        ("lpPropName", PPropertyName_r),
        ("ulRequested", DWORD),
        ("pPropTags", inspi.PPropertyTagArray_r),
    )


class NspiGetMatchesResponse(NDRCALL):
    """MS-NSPI 3.1.4.1.10 response (decoder for tests)."""

    structure = (
        ("pStat", inspi.STAT),
        ("ppOutMIds", inspi.PPropertyTagArray_r),
        ("ppRows", inspi.PPropertyRowSet_r),
        ("ErrorCode", ULONG),
    )


class NspiResortRestriction(NDRCALL):
    """MS-NSPI 3.1.4.1.11 request."""

    opnum = 6
    structure = (
        ("hRpc", inspi.handle_t),
        ("Reserved", DWORD),
        ("pStat", inspi.STAT),
        ("pInMIds", inspi.PropertyTagArray_r),
        ("ppOutMIds", inspi.PPropertyTagArray_r),
    )


class NspiResortRestrictionResponse(NDRCALL):
    """MS-NSPI 3.1.4.1.11 response (decoder for tests)."""

    structure = (
        ("pStat", inspi.STAT),
        ("ppOutMIds", inspi.PPropertyTagArray_r),
        ("ErrorCode", ULONG),
    )


class NspiModProps(NDRCALL):
    """MS-NSPI 3.1.4.1.12 request."""

    opnum = 11
    structure = (
        ("hRpc", inspi.handle_t),
        ("Reserved", DWORD),
        ("pStat", inspi.STAT),
        ("pPropTags", inspi.PPropertyTagArray_r),
        ("pRow", inspi.PropertyRow_r),
    )


class NspiModPropsResponse(NDRCALL):
    """MS-NSPI 3.1.4.1.12 response."""

    structure = (("ErrorCode", ULONG),)


# -- EPM responses ----------------------------------------------------------------------
class StatusOnlyResponse(NDRCALL):
    """ept_insert / ept_delete response: [out] error_status_t (C706 O.2.3-4)."""

    structure = (("status", ULONG),)


class LookupHandleFreeResponse(NDRCALL):
    """ept_lookup_handle_free response: [in,out] handle, [out] status (C706 O.2.6)."""

    structure = (("entry_handle", _epm.ept_lookup_handle_t), ("status", ULONG))

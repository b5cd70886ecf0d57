"""NSPI requests in MS-OXNSPI's IDL form, for the methods impacket's classes lay out otherwise.

impacket's ``NspiGetProps`` and ``NspiGetSpecialTable`` send ``pStat`` (and
``lpVersion``) as unique pointers, ``NspiSeekEntries`` sends its ``[unique]`` tag arrays
inline and ``NspiGetIDsFromNames`` an array of structures where the IDL has an array of
pointers (docs/PROTOCOL.md "NSPI wire layout").  Outlook's MIDL stubs send the IDL's
form, so the emulated provider does too.  Each function takes ``(dce, handle, ...)``
like impacket's ``hNspi*`` helpers and returns impacket's response object (impacket's
response classes agree with the IDL for these methods).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from impacket.dcerpc.v5 import nspi

from fakegc.nspi import ndr as N
from fakegc.wire.ndr import NdrWriter

__all__ = [
    "get_ids_from_names",
    "get_props",
    "get_special_table",
    "seek_entries",
    "stat_values",
]

STAT_DEFAULT = (0, 0, 0, 0, 0, 0, 1252, 0x409, 0x409)


def stat_values(sort_type: int = 0, container_id: int = 0, current_rec: int = 0, delta: int = 0,
                num_pos: int = 0, total_recs: int = 0, code_page: int = 1252,
                template_locale: int = 0x409, sort_locale: int = 0x409) -> tuple[int, ...]:
    """A STAT's nine fields in wire order (MS-OXNSPI 2.2.8)."""
    return (sort_type, container_id, current_rec, delta, num_pos, total_recs, code_page,
            template_locale, sort_locale)


def _handle(handle: Any) -> bytes:
    return bytes(handle.getData() if hasattr(handle, "getData") else handle)


def _call(dce: Any, opnum: int, w: NdrWriter, response: Any) -> Any:
    dce.call(opnum, w.getvalue())
    resp = response(dce.recv())
    if resp["ErrorCode"] != 0:
        raise nspi.DCERPCSessionError(packet=resp, error_code=resp["ErrorCode"])
    return resp


def get_props(dce: Any, handle: Any, stat: Sequence[int] = STAT_DEFAULT, flags: int = 0,
              tags: Sequence[int] | None = None) -> Any:
    """NspiGetProps (MS-OXNSPI 3.1.4.1.7): ``[in] STAT* pStat`` inline, ``[in, unique]`` tags."""
    w = NdrWriter()
    w.raw(_handle(handle))
    w.u32(flags)
    N.write_stat(w, stat)
    N.write_tag_array(w, None if tags is None else list(tags))
    return _call(dce, 9, w, nspi.NspiGetPropsResponse)


def get_special_table(dce: Any, handle: Any, flags: int = 0x4, stat: Sequence[int] = STAT_DEFAULT,
                      version: int = 0) -> Any:
    """NspiGetSpecialTable (MS-OXNSPI 3.1.4.1.3): pStat and lpVersion are reference pointers."""
    w = NdrWriter()
    w.raw(_handle(handle))
    w.u32(flags)
    N.write_stat(w, stat)
    w.u32(version)
    return _call(dce, 12, w, nspi.NspiGetSpecialTableResponse)


def seek_entries(dce: Any, handle: Any, target: tuple[int, Any], stat: Sequence[int] = STAT_DEFAULT,
                 etable: Sequence[int] | None = None, tags: Sequence[int] | None = None) -> Any:
    """NspiSeekEntries (MS-OXNSPI 3.1.4.1.9): ``[in, unique]`` lpETable and pPropTags."""
    w = NdrWriter()
    w.raw(_handle(handle))
    w.u32(0)  # Reserved
    N.write_stat(w, stat)
    N.write_value(w, target[0], target[1], stat[6])
    N.write_tag_array(w, None if etable is None else list(etable))
    N.write_tag_array(w, None if tags is None else list(tags))
    return _call(dce, 4, w, nspi.NspiSeekEntriesResponse)


def get_ids_from_names(dce: Any, handle: Any, names: Sequence[tuple[bytes, int] | None],
                       flags: int = 0) -> Any:
    """NspiGetIDsFromNames (MS-OXNSPI 3.1.4.1.17): ``PropertyName_r** pNames``, an array of
    unique pointers, each PropertyName_r followed by its GUID."""
    w = NdrWriter()
    w.raw(_handle(handle))
    w.u32(0)  # Reserved
    w.u32(flags)
    w.u32(len(names))

    def array(w: NdrWriter) -> None:
        w.u32(len(names))
        for name in names:
            if name is None:
                w.pointer(None)
                continue
            guid, lid = name

            def one(w: NdrWriter, guid: bytes = guid, lid: int = lid) -> None:
                w.pointer(lambda w: w.raw(guid))
                w.u32(0)
                w.u32(lid)
            w.pointer(one)
    w.construct(array)
    return _call(dce, 18, w, nspi.NspiGetIDsFromNamesResponse)

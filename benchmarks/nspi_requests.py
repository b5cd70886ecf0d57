"""The benchmarks' NSPI request stubs, in MS-OXNSPI's IDL form (docs/PROTOCOL.md §13).

Built with the client-side NDR writers (``fakegc.wire.ndr.NdrWriter`` and the
``fakegc.nspi.ndr`` value writers that ``fakegc/client/nspi_wire.py`` also uses), never
with the server's decoders and never with impacket's request classes, whose layouts differ
from the IDL for some opnums.  ``tests/unit/test_bench_requests.py`` reads every stub here
with the IDL oracle (tests/idl) and answers it through the server's pipeline, so a layout
change cannot silently turn a benchmark into a fault counter.

``answer_status`` reads the return value of an answer stub: the IDL's ``long`` after every
``[out]`` parameter (MS-OXNSPI section 6), i.e. the stub's last four bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from fakegc.nspi import ndr as N
from fakegc.wire.ndr import NdrWriter

__all__ = ["EIGHT_COLUMNS", "OPNUMS", "answer_status", "bind", "query_rows", "resolve_names_w", "stubs"]

# PR_DISPLAY_NAME, PR_SMTP_ADDRESS, PR_EMAIL_ADDRESS, PR_TITLE, PR_DEPARTMENT_NAME (Unicode),
# PR_BUSINESS_TELEPHONE_NUMBER, PR_OBJECT_TYPE, PR_DISPLAY_TYPE: an address-book page's columns
EIGHT_COLUMNS = (0x3001001F, 0x39FE001F, 0x3003001F, 0x3A17001F, 0x3A18001F, 0x3A08001F,
                 0x0FFE0003, 0x39000003)
STAT_1252 = (0, 0, 0, 0, 0, 0, 1252, 0x409, 0x409)  # MS-OXNSPI 2.2.8 STAT, code page 1252
OPNUMS = {"NspiQueryRows 50x8": 3, "NspiResolveNamesW": 20, "NspiBind": 0}


def bind(flags: int = 0x20, stat: Sequence[int] = STAT_1252, server_guid: bytes | None = b"\x00" * 16) -> bytes:
    """NspiBind (MS-OXNSPI 3.1.4.1.1): dwFlags, [in] STAT*, [in, out, unique] FlatUID_r*."""
    w = NdrWriter()
    w.u32(flags)
    N.write_stat(w, stat)
    w.top_pointer(None if server_guid is None else (lambda w: w.raw(server_guid)))
    return w.getvalue()


def query_rows(handle: bytes, count: int = 50, tags: Sequence[int] | None = EIGHT_COLUMNS,
               stat: Sequence[int] = STAT_1252, etable: Sequence[int] | None = None) -> bytes:
    """NspiQueryRows (MS-OXNSPI 3.1.4.1.8): handle, dwFlags, [in] STAT*, dwETableCount,
    [in, unique, size_is(dwETableCount)] DWORD* lpETable, Count, [in, unique] pPropTags."""
    w = NdrWriter()
    w.raw(handle)
    w.u32(0)  # dwFlags
    N.write_stat(w, stat)
    w.u32(len(etable or ()))

    def mids(w: NdrWriter) -> None:
        w.conf(len(etable or ()))
        for mid in etable or ():
            w.u32(mid)
    w.top_pointer(None if etable is None else mids)
    w.u32(count)
    N.write_tag_array(w, None if tags is None else list(tags))
    return w.getvalue()


def resolve_names_w(handle: bytes, names: Sequence[str] = ("alice",),
                    tags: Sequence[int] | None = (0x3001001F, 0x39FE001F),
                    stat: Sequence[int] = STAT_1252) -> bytes:
    """NspiResolveNamesW (MS-OXNSPI 3.1.4.1.14): handle, Reserved, [in] STAT*, [in, unique]
    pPropTags, [in] WStringsArray_r* (conformant: max count, Count, pointers, then strings)."""
    w = NdrWriter()
    w.raw(handle)
    w.u32(0)  # Reserved
    N.write_stat(w, stat)
    N.write_tag_array(w, None if tags is None else list(tags))

    def strings(w: NdrWriter) -> None:
        w.conf(len(names))
        w.u32(len(names))
        for name in names:
            w.pointer(_wstring(name))
    w.construct(strings)
    return w.getvalue()


def _wstring(text: str) -> Callable[[NdrWriter], None]:
    return lambda w: w.cv_wstring(text)


def stubs(handle: bytes) -> dict[str, bytes]:
    """The TCP load generator's three requests (``OPNUMS`` gives their opnums)."""
    return {"NspiQueryRows 50x8": query_rows(handle), "NspiResolveNamesW": resolve_names_w(handle),
            "NspiBind": bind()}


def answer_status(stub: bytes) -> int:
    """The IDL return value closing an answer stub (MS-OXNSPI section 6); -1 if too short."""
    return struct.unpack_from("<I", stub, len(stub) - 4)[0] if len(stub) >= 4 else -1

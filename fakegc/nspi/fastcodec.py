"""NSPI request stubs decoded exactly as MS-OXNSPI's IDL lays them out (PROTOCOL.md §13).

One decoder per served opnum, over a :class:`Reader` (NDR 2.0 little-endian; subclasses
for big-endian and NDR64).  Conformance, variance and the IDL's ranges are checked as a
strict unmarshaller does (gromox ``nsp_ndr.cpp``); anything irregular raises ValueError
(struct.error when short): a stub-data fault.  Bytes after the last parameter are
ignored as MIDL stubs ignore them; ``request.trailing`` counts them.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from fakegc.nspi import messages as M
from fakegc.nspi.table import Stat

__all__ = ["DECODERS", "MAX_BINARY", "MAX_COUNT", "MAX_DEPTH", "Reader", "decode"]

#: [range(0,100000)] on the IDL's counts; PropertyTagArray_r allows 100001
MAX_COUNT = 100_000
#: Binary_r.cb is [range(0,2097152)]
MAX_BINARY = 2_097_152
#: restrictions nested deeper than this answer TooComplex
MAX_DEPTH = 16


class Reader:
    """A bounded NDR 2.0 little-endian reader over one stub (byte order: the class's structs)."""

    __slots__ = ("buf", "off")
    _U16, _I16, _U32 = struct.Struct("<H"), struct.Struct("<h"), struct.Struct("<I")
    _STAT, _3U32, _4U32 = struct.Struct("<9I"), struct.Struct("<3I"), struct.Struct("<4I")
    _ORDER, _WIDE = "<", "utf-16le"

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.off = 0

    def align(self, n: int) -> None:
        self.off += -self.off % n

    def u16(self) -> int:
        self.align(2)
        (v,) = self._U16.unpack_from(self.buf, self.off)
        self.off += 2
        return int(v)

    def i16(self) -> int:
        self.align(2)
        (v,) = self._I16.unpack_from(self.buf, self.off)
        self.off += 2
        return int(v)

    def u32(self) -> int:
        off = self.off
        off += -off & 3
        v: int = self._U32.unpack_from(self.buf, off)[0]
        self.off = off + 4
        return v

    # NDR64 (fastcodec64) overrides these: referent IDs and conformance, offset and actual
    # counts of 8 bytes (MS-RPCE 2.2.5.3.3-4); constructs holding pointers aligned to 8.
    def ptr(self) -> int:
        return self.u32()

    def conf(self) -> int:
        return self.u32()

    def a8(self) -> None:
        pass

    def raw(self, n: int) -> bytes:
        if n < 0 or self.off + n > len(self.buf):
            raise ValueError("stub shorter than its counts")
        out = self.buf[self.off: self.off + n]
        self.off += n
        return out

    def count(self, limit: int = MAX_COUNT) -> int:
        """A count within the IDL's [range] (reads past the stub's end fail on their own)."""
        n = self.u32()
        if n > limit:
            raise ValueError(f"count {n} outside the IDL's range")
        return n

    def u32s(self, n: int) -> list[int]:
        self.off += -self.off & 3
        return list(struct.unpack(f"{self._ORDER}{n}I", self.raw(4 * n)))

    def handle(self) -> bytes:
        """A context handle: 4-byte attributes + 16-byte UUID (MS-RPCE 2.2.5.2.1)."""
        self.off += -self.off & 3
        return self.raw(20)

    def stat(self) -> Stat:
        """STAT (MS-OXNSPI 2.2.8): nine 32-bit fields, Delta signed."""
        off = self.off + (-self.off & 3)
        v = self._STAT.unpack_from(self.buf, off)
        self.off = off + 36
        delta = v[3] - (1 << 32) if v[3] >= 0x80000000 else v[3]
        return Stat(v[0], v[1], v[2], delta, v[4], v[5], v[6], v[7], v[8])

    def guid(self) -> bytes:
        """FlatUID_r: 16 bytes."""
        return self.raw(16)

    # NDR64 overrides both heads (its conformance and variance counts are 8 bytes)
    def _tag_array_head(self) -> tuple[int, int, int, int]:  # size, cValues, offset, length
        off = self.off + (-self.off & 3)
        head, self.off = self._4U32.unpack_from(self.buf, off), off + 16
        return head

    def _cv_head(self) -> tuple[int, int, int]:  # [string]: size, offset, length
        off = self.off + (-self.off & 3)
        head, self.off = self._3U32.unpack_from(self.buf, off), off + 12
        return head

    def tag_array(self) -> list[int]:
        """PropertyTagArray_r (MS-OXNSPI 2.2.2.2): size_is(cValues+1), length_is(cValues)."""
        size, c_values, offset, length = self._tag_array_head()
        if c_values > MAX_COUNT + 1 or size != c_values + 1 or offset != 0 or length != c_values:
            raise ValueError("PropertyTagArray_r conformance/variance does not match cValues")
        if 4 * length > len(self.buf) - self.off:
            raise ValueError("PropertyTagArray_r longer than the stub")
        return self.u32s(length)

    def _cv(self, width: int) -> bytes:
        size, offset, length = self._cv_head()
        if offset != 0 or length > size or length == 0:
            raise ValueError("irregular [string] conformance/variance")
        data = self.raw(width * length)
        if data[-width:] != b"\x00" * width:
            raise ValueError("[string] without its terminating NUL")
        return data[:-width]

    def string8(self) -> bytes:
        """A [string] char* referent (bytes as sent, NUL removed)."""
        return self._cv(1)

    def wstring(self) -> str:
        """A [string] wchar_t* referent."""
        return self._cv(2).decode(self._WIDE, "surrogatepass")

    def strings(self, wide: bool) -> list[Any]:
        """StringsArray_r / WStringsArray_r (MS-OXNSPI 2.2.2.3/2.2.2.4): a conformant struct."""
        size = self.conf()
        self.a8()
        count = self.u32()
        if count > MAX_COUNT or size != count:
            raise ValueError("StringsArray_r conformance does not match Count")
        refs = [self.ptr() for _ in range(count)]
        read = self.wstring if wide else self.string8
        return [read() if ref else None for ref in refs]


# -- PropertyValue_r (MS-OXNSPI 2.2.2.1 PROP_VAL_UNION) -------------------------------------
_MV_TYPES = (0x1002, 0x1003, 0x1040, 0x101E, 0x101F, 0x1102, 0x1048)


def _value_header(r: Reader) -> tuple[int, Any]:
    """ulPropTag, ulReserved and the union arm's inline part: (tag, header)."""
    r.a8()
    tag = r.u32()
    r.u32()  # ulReserved
    disc = r.u32()
    if disc != tag & 0xFFFF:
        raise ValueError("PropertyValue_r union discriminant differs from the tag's type")
    r.a8()  # NDR64: the arm aligned to the largest arm's alignment (MS-RPCE 2.2.5.3.4)
    if disc == 0x0002:
        return tag, r.i16()
    if disc == 0x000B:
        return tag, r.u16()
    if disc in (0x0003, 0x000A, 0x0001, 0x000D):
        return tag, r.u32()  # value, error code or lReserved
    if disc in (0x001E, 0x001F, 0x0048):
        return tag, r.ptr()
    if disc == 0x0040:
        low, high = r.u32(), r.u32()
        return tag, low | (high << 32)
    if disc == 0x0102:
        cb = r.count(MAX_BINARY)
        return tag, (cb, r.ptr())
    if disc in _MV_TYPES:
        n = r.count()
        return tag, (n, r.ptr())
    raise ValueError(f"PropertyValue_r: no union arm for type 0x{disc:04X}")


def _value_content(r: Reader, tag: int, head: Any) -> Any:
    """The deferred referents of a PropertyValue_r (strings, binaries, arrays)."""
    ptype = tag & 0xFFFF
    if ptype == 0x001E:
        return r.string8().decode("cp1252", "replace") if head else None
    if ptype == 0x001F:
        return r.wstring() if head else None
    if ptype == 0x0048:
        return uuidlib.UUID(bytes_le=r.guid()) if head else None
    if ptype == 0x0102:
        cb, ref = head
        return _conformant_bytes(r, cb) if ref else None
    if ptype in _MV_TYPES:
        n, ref = head
        if not ref:
            return None
        if r.conf() != n:
            raise ValueError("multi-valued array conformance does not match cValues")
        return _mv_items(r, ptype, n)
    return head


def _conformant_bytes(r: Reader, cb: int) -> bytes:
    if r.conf() != cb:
        raise ValueError("Binary_r conformance does not match cb")
    return r.raw(cb)


def _binary_head(r: Reader) -> tuple[int, int]:  # Binary_r inline: cb, lpb's referent ID
    r.a8()
    cb = r.count(MAX_BINARY)
    return cb, r.ptr()


def _mv_items(r: Reader, ptype: int, n: int) -> list[Any]:
    if ptype == 0x1002:
        return [r.i16() for _ in range(n)]
    if ptype == 0x1003:
        return r.u32s(n)
    if ptype == 0x1040:
        return [r.u32() | (r.u32() << 32) for _ in range(n)]
    if ptype == 0x1102:
        heads = [_binary_head(r) for _ in range(n)]
        return [_conformant_bytes(r, cb) if ref else None for cb, ref in heads]
    refs = [r.ptr() for _ in range(n)]
    if ptype == 0x1048:
        return [uuidlib.UUID(bytes_le=r.guid()) if ref else None for ref in refs]
    if ptype == 0x101F:
        return [r.wstring() if ref else None for ref in refs]
    return [r.string8().decode("cp1252", "replace") if ref else None for ref in refs]


def property_value(r: Reader) -> tuple[int, Any]:
    """One PropertyValue_r with its referents: (tag, value)."""
    tag, head = _value_header(r)
    return tag, _value_content(r, tag, head)


def property_row(r: Reader) -> list[tuple[int, Any]]:
    """PropertyRow_r (MS-OXNSPI 2.2.2.6): Reserved, cValues, [size_is(cValues)] lpProps."""
    r.a8()
    r.u32()  # Reserved
    c_values = r.count(MAX_COUNT)
    ref = r.ptr()
    if not ref:
        return []
    if r.conf() != c_values:
        raise ValueError("PropertyRow_r conformance does not match cValues")
    heads = [_value_header(r) for _ in range(c_values)]
    return [(tag, _value_content(r, tag, head)) for tag, head in heads]


# -- Restriction_r (MS-OXNSPI 2.2.2.5) ------------------------------------------------------
def _restriction_header(r: Reader, depth: int) -> tuple[int, tuple[int, ...]]:
    if depth > MAX_DEPTH:
        raise _TooDeep()
    r.a8()
    rt = r.u32()
    r.a8()  # NDR64: the union aligned to 8, its discriminant, its arm aligned to 8 (PROTOCOL §13.1)
    if r.u32() != rt:
        raise ValueError("Restriction_r union discriminant differs from rt")
    r.a8()
    if rt in (0, 1):
        return rt, (r.count(MAX_COUNT), r.ptr())
    if rt in (2, 9):
        return rt, ((r.ptr(),) if rt == 2 else (r.u32(), r.ptr()))
    if rt in (3, 4):
        return rt, (r.u32(), r.u32(), r.ptr())
    if rt in (5, 6, 7, 8):
        return rt, (r.u32(), r.u32(), r.u32())
    raise ValueError(f"Restriction_r: no union arm for rt {rt}")


class _TooDeep(Exception):
    pass


def _restriction_content(r: Reader, rt: int, head: tuple[int, ...], depth: int) -> Any:
    if rt in (0, 1):
        n, ref = head
        subs: list[Any] = []
        if ref:
            if r.conf() != n:
                raise ValueError("AndRestriction_r conformance does not match cRes")
            heads = [_restriction_header(r, depth + 1) for _ in range(n)]
            subs = [_restriction_content(r, srt, sh, depth + 1) for srt, sh in heads]
        return ("and" if rt == 0 else "or", subs)
    if rt == 2:
        return ("not", _sub(r, head[0], depth))
    if rt == 9:
        return ("sub", head[0], _sub(r, head[1], depth))
    if rt in (3, 4):
        a, tag, ref = head
        value = property_value(r)[1] if ref else None
        return ("content", a, tag, value) if rt == 3 else ("property", a, tag, value)
    kind = {5: "compare", 6: "bitmask", 7: "size"}.get(rt)
    if kind is not None:
        return (kind, *head)
    return ("exist", head[1])


def _sub(r: Reader, ref: int, depth: int) -> Any:
    if not ref:
        raise _TooDeep()  # a NULL restriction has no meaning to evaluate
    rt, head = _restriction_header(r, depth + 1)
    return _restriction_content(r, rt, head, depth + 1)


def restriction(r: Reader) -> Any:
    """A Restriction_r referent as the plain tuples :mod:`fakegc.nspi.restrictions` reads."""
    try:
        rt, head = _restriction_header(r, 0)
        return _restriction_content(r, rt, head, 0)
    except _TooDeep:
        return M.TOO_COMPLEX


def _unique(r: Reader, read: Callable[[Reader], Any] | str) -> Any:  # str: a Reader method
    if not r.ptr():
        return None
    return getattr(r, read)() if isinstance(read, str) else read(r)


def _property_name(r: Reader) -> M.PropName:
    """PropertyName_r (MS-OXNSPI 2.2.2.7): lpguid, ulReserved, lID; then the GUID."""
    r.a8()
    guid_ref = r.ptr()
    r.u32()
    lid = r.u32()
    return (r.guid() if guid_ref else b"\x00" * 16, lid)


# -- requests ---------------------------------------------------------------------------------
def decode_bind(r: Reader) -> M.NspiBind:
    return M.NspiBind(r.u32(), r.stat(), _unique(r, "guid") is not None)


def decode_unbind(r: Reader) -> M.NspiUnbind:
    return M.NspiUnbind(r.handle(), r.u32())


def decode_update_stat(r: Reader) -> M.NspiUpdateStat:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    return M.NspiUpdateStat(handle, stat, _unique(r, "u32") is not None, reserved)


def decode_query_rows(r: Reader) -> M.NspiQueryRows:
    handle, flags, stat = r.handle(), r.u32(), r.stat()
    n = r.count()
    etable = None
    if r.ptr():
        if r.conf() != n:
            raise ValueError("lpETable conformance does not match dwETableCount")
        etable = r.u32s(n)
    count = r.u32()
    return M.NspiQueryRows(handle, flags, stat, etable, count, _unique(r, "tag_array"))


def decode_seek_entries(r: Reader) -> M.NspiSeekEntries:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    target = property_value(r)
    etable = _unique(r, "tag_array")
    tags = _unique(r, "tag_array")
    return M.NspiSeekEntries(handle, stat, target, etable, tags, reserved)


def decode_get_matches(r: Reader) -> M.NspiGetMatches:
    handle, reserved1, stat = r.handle(), r.u32(), r.stat()
    _unique(r, "tag_array")  # pReserved
    reserved2 = r.u32()
    filt = _unique(r, restriction)
    _unique(r, _property_name)  # lpPropName
    requested = r.u32()
    tags = _unique(r, "tag_array")
    return M.NspiGetMatches(handle, stat, filt, requested, tags, reserved1, reserved2)


def decode_resort_restriction(r: Reader) -> M.NspiResortRestriction:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    mids = r.tag_array()
    _unique(r, "tag_array")  # [in, out] ppOutMIds: the inner pointer and its referent
    return M.NspiResortRestriction(handle, stat, mids, reserved)


def decode_dn_to_mid(r: Reader) -> M.NspiDNToMId:
    handle, reserved = r.handle(), r.u32()
    names = [n or b"" for n in r.strings(wide=False)]
    return M.NspiDNToMId(handle, names, reserved)


def decode_get_prop_list(r: Reader) -> M.NspiGetPropList:
    return M.NspiGetPropList(r.handle(), r.u32(), r.u32(), r.u32())


def decode_get_props(r: Reader) -> M.NspiGetProps:
    handle, flags, stat = r.handle(), r.u32(), r.stat()  # [in] STAT* pStat: a reference pointer
    return M.NspiGetProps(handle, flags, stat, _unique(r, "tag_array"))


def decode_compare_mids(r: Reader) -> M.NspiCompareMIds:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    return M.NspiCompareMIds(handle, stat, r.u32(), r.u32(), reserved)


def decode_mod_props(r: Reader) -> M.NspiModProps:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    tags = _unique(r, "tag_array")
    return M.NspiModProps(handle, stat, tags, property_row(r), reserved)


def decode_get_special_table(r: Reader) -> M.NspiGetSpecialTable:
    handle, flags, stat = r.handle(), r.u32(), r.stat()
    return M.NspiGetSpecialTable(handle, flags, stat, r.u32())  # [in, out] DWORD* lpVersion


def decode_get_template_info(r: Reader) -> M.NspiGetTemplateInfo:
    handle, flags, display_type = r.handle(), r.u32(), r.u32()
    dn = _unique(r, "string8")
    return M.NspiGetTemplateInfo(handle, flags, display_type, dn, r.u32(), r.u32())


def decode_mod_link_att(r: Reader) -> M.NspiModLinkAtt:
    handle, flags, tag, mid = r.handle(), r.u32(), r.u32(), r.u32()
    r.a8()
    n = r.count(MAX_COUNT)  # BinaryArray_r.cValues
    entries: list[bytes] = []
    if r.ptr():
        if r.conf() != n:
            raise ValueError("BinaryArray_r conformance does not match cValues")
        heads = [_binary_head(r) for _ in range(n)]
        entries = [_conformant_bytes(r, cb) if ref else b"" for cb, ref in heads]
    return M.NspiModLinkAtt(handle, flags, tag, mid, entries)


def decode_query_columns(r: Reader) -> M.NspiQueryColumns:
    handle, reserved = r.handle(), r.u32()
    return M.NspiQueryColumns(handle, r.u32(), reserved)


def decode_get_names_from_ids(r: Reader) -> M.NspiGetNamesFromIDs:
    handle, reserved = r.handle(), r.u32()
    guid = _unique(r, "guid")
    return M.NspiGetNamesFromIDs(handle, guid, _unique(r, "tag_array"), reserved)


def decode_get_ids_from_names(r: Reader) -> M.NspiGetIDsFromNames:
    handle = r.handle()
    r.u32()  # Reserved
    flags = r.u32()
    n = r.count(MAX_COUNT)
    # [in, size_is(cPropNames)] PropertyName_r** pNames: an array of unique pointers
    if r.conf() != n:
        raise ValueError("pNames conformance does not match cPropNames")
    refs = [r.ptr() for _ in range(n)]
    names = [_property_name(r) if ref else None for ref in refs]
    return M.NspiGetIDsFromNames(handle, flags, names)


def decode_resolve_names(r: Reader) -> M.NspiResolveNames:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    tags = _unique(r, "tag_array")
    names = [n or b"" for n in r.strings(wide=False)]
    return M.NspiResolveNames(handle, stat, tags, names, reserved)


def decode_resolve_names_w(r: Reader) -> M.NspiResolveNamesW:
    handle, reserved, stat = r.handle(), r.u32(), r.stat()
    tags = _unique(r, "tag_array")
    names = [n or "" for n in r.strings(wide=True)]
    return M.NspiResolveNamesW(handle, stat, tags, names, reserved)


DECODERS: dict[int, Callable[[Reader], Any]] = {
    0: decode_bind, 1: decode_unbind, 2: decode_update_stat, 3: decode_query_rows,
    4: decode_seek_entries, 5: decode_get_matches, 6: decode_resort_restriction,
    7: decode_dn_to_mid, 8: decode_get_prop_list, 9: decode_get_props, 10: decode_compare_mids,
    11: decode_mod_props, 12: decode_get_special_table, 13: decode_get_template_info,
    14: decode_mod_link_att, 16: decode_query_columns, 17: decode_get_names_from_ids,
    18: decode_get_ids_from_names, 19: decode_resolve_names, 20: decode_resolve_names_w,
}


def decode(opnum: int, stub: bytes, reader: type[Reader] = Reader) -> Any:
    """The request of ``opnum``'s stub, read by ``reader`` (or a subclass); ``trailing``
    counts the bytes after its last parameter (journaled by the boundary)."""
    r = reader(stub)
    request = DECODERS[opnum](r)
    request.trailing = len(stub) - r.off
    return request

"""Property values of address-book rows (MS-OXNSPI 2.2.x, MS-OXOABK 2.2.3, PROTOCOL.md §11).

:func:`object_props` answers any tag for an object: stored properties plus the
ones a GC synthesises (entry IDs, keys, address type, search key, …).
:func:`hierarchy_row` builds the rows of NspiGetSpecialTable.  Values are plain
Python (int, bool, str, bytes, list); :class:`Missing` marks a property the object
does not have (answered as PT_ERROR / NotFound).
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

from fakegc.codes import NspiStatus
from fakegc.directory import props as P
from fakegc.directory.model import AbObject, Container, Directory

__all__ = [
    "MISSING",
    "MUID_EMSAB",
    "Missing",
    "all_tags",
    "codec_for",
    "encode_8bit",
    "ephemeral_entry_id",
    "hierarchy_row",
    "object_row",
    "object_value",
    "parse_entry_id",
    "permanent_entry_id",
]

#: muidEMSAB (MS-NSPI 2.2.7): the provider UID of permanent entry IDs, as bytes on the wire.
MUID_EMSAB = uuidlib.UUID("c840a7dc-42c0-1a10-b4b9-08002b2fe182").bytes_le


class Missing:
    """A property the object does not have (PT_ERROR with ``code``)."""

    __slots__ = ("code",)

    def __init__(self, code: int = NspiStatus.NotFound) -> None:
        self.code = code

    def __repr__(self) -> str:
        return f"Missing(0x{self.code:08X})"


MISSING = Missing()

_CODECS = {1252: "cp1252", 65001: "utf-8", 20127: "ascii", 28591: "latin-1", 1250: "cp1250",
           1251: "cp1251", 1253: "cp1253", 932: "cp932", 936: "gbk", 949: "cp949", 950: "cp950",
           437: "cp437", 850: "cp850", 0x4F25: "latin-1", 0: "cp1252"}


def codec_for(code_page: int) -> str | None:
    """Python codec of a Windows code page, or None when we do not know it."""
    return _CODECS.get(code_page)


def encode_8bit(text: str, code_page: int) -> bytes:
    """``text`` in the session's 8-bit code page ('?' for what it cannot carry)."""
    return text.encode(codec_for(code_page) or "cp1252", "replace")


def ephemeral_entry_id(server_guid: uuidlib.UUID, display_type: int, mid: int) -> bytes:
    """MS-NSPI 2.3.8.2: 87 00 00 00 | server GUID | 01 00 00 00 | display type | MId."""
    return b"\x87\x00\x00\x00" + server_guid.bytes_le + struct.pack("<III", 1, display_type, mid)


def permanent_entry_id(display_type: int, dn: str) -> bytes:
    """MS-NSPI 2.3.8.3: 00 00 00 00 | muidEMSAB | 01 00 00 00 | display type | DN + NUL."""
    return (b"\x00\x00\x00\x00" + MUID_EMSAB + struct.pack("<II", 1, display_type)
            + dn.encode("ascii", "replace") + b"\x00")


def parse_entry_id(data: bytes) -> tuple[str, Any]:
    """("ephemeral", (guid, mid)) / ("permanent", dn) / ("invalid", None)."""
    if len(data) == 32 and data[0] == 0x87:
        return "ephemeral", (uuidlib.UUID(bytes_le=data[4:20]), struct.unpack_from("<I", data, 28)[0])
    if len(data) > 28 and data[:4] == b"\x00\x00\x00\x00" and data[4:20] == MUID_EMSAB:
        return "permanent", data[28:].split(b"\x00", 1)[0].decode("ascii", "replace")
    return "invalid", None


def object_value(d: Directory, obj: AbObject, tag: int, server_guid: uuidlib.UUID,
                 ephemeral: bool, container_id: int = 0, mid_offset: int = 0) -> Any:
    """The value of ``tag`` (any string type) for ``obj``, or :data:`MISSING`.

    ``mid_offset`` places the object's MId in the serving GC's MId space.
    """
    base = P.canonical(tag)
    if base in (P.PR_ENTRYID, P.PR_RECORD_KEY):
        if ephemeral:
            return ephemeral_entry_id(server_guid, obj.display_type, obj.mid + mid_offset)
        return permanent_entry_id(obj.display_type, obj.dn)
    if base == P.PR_INSTANCE_KEY:
        return struct.pack("<I", obj.mid + mid_offset)
    if base == P.PR_MAPPING_SIGNATURE:
        return MUID_EMSAB
    if base == P.PR_SEARCH_KEY:
        return b"EX:" + obj.dn.upper().encode("ascii", "replace") + b"\x00"
    if base == P.PR_ADDRTYPE:
        return "EX"
    if base == P.PR_EMAIL_ADDRESS:
        return obj.dn
    if base == P.PR_OBJECT_TYPE:
        return obj.object_type
    if base == P.PR_DISPLAY_TYPE:
        return obj.display_type
    if base == P.PR_DISPLAY_TYPE_EX:
        return obj.display_type
    if base == P.PR_EMS_AB_CONTAINERID:
        return container_id
    if base == P.PR_TRANSMITABLE_DISPLAY_NAME:
        return obj.display_name
    if base == P.PR_EMS_AB_DISPLAY_NAME_PRINTABLE:
        return obj.alias
    if base == P.PR_EMS_AB_MEMBER:
        return MISSING  # an object-valued property: read through a table, not a row
    return obj.prop(base, MISSING)


def all_tags(obj: AbObject) -> list[int]:
    """Every property the object answers (NspiGetPropList), canonical string types."""
    tags = [P.PR_ENTRYID, P.PR_RECORD_KEY, P.PR_INSTANCE_KEY, P.PR_MAPPING_SIGNATURE,
            P.PR_SEARCH_KEY, P.PR_ADDRTYPE, P.PR_EMAIL_ADDRESS, P.PR_OBJECT_TYPE,
            P.PR_DISPLAY_TYPE, P.PR_TRANSMITABLE_DISPLAY_NAME,
            P.PR_EMS_AB_DISPLAY_NAME_PRINTABLE]
    for tag in obj.prop_tags():
        if isinstance(tag, int) and tag not in tags:
            tags.append(tag)
    if obj.kind == "group":
        tags.append(P.PR_EMS_AB_MEMBER)
    return tags


def hierarchy_row(d: Directory, c: Container, server_guid: uuidlib.UUID, unicode: bool) -> list[tuple[int, Any]]:
    """One row of the hierarchy table (MS-OXOABK 2.2.2, PROTOCOL.md §9/§11)."""
    stype = P.PT_UNICODE if unicode else P.PT_STRING8
    entry = permanent_entry_id(P.DT_CONTAINER, c.dn)
    row: list[tuple[int, Any]] = [
        (P.PR_ENTRYID, entry),
        (P.PR_CONTAINER_FLAGS, c.flags),
        (P.PR_DEPTH, c.depth),
        (P.PR_EMS_AB_CONTAINERID, c.container_id),
        (P.with_type(P.PR_DISPLAY_NAME, stype), c.name),
        (P.PR_EMS_AB_IS_MASTER, c.is_master),
    ]
    if c.parent is not None:
        row.append((P.PR_EMS_AB_PARENT_ENTRYID, permanent_entry_id(P.DT_CONTAINER, c.parent.dn)))
    return row


def object_row(d: Directory, obj: AbObject | None, tags: Sequence[int], guid: uuidlib.UUID,
               eph: bool, container_id: int = 0, mid_offset: int = 0) -> list[tuple[int, Any]]:
    """Pure: the row for ``obj`` with ``tags`` (all NotFound when obj is None).

    A PT_UNSPECIFIED tag comes back with the type of the value (MS-OXNSPI 3.1.4.1.7).
    """
    row: list[tuple[int, Any]] = []
    for tag in tags:
        if obj is None:
            row.append((tag, MISSING))
            continue
        value = object_value(d, obj, tag, guid, eph, container_id, mid_offset)
        if not isinstance(value, Missing) and (tag & 0xFFFF) == P.PT_UNSPECIFIED:
            tag = _infer_type(tag, value)
        row.append((tag, value))
    return row


def _infer_type(tag: int, value: Any) -> int:
    if isinstance(value, bool):
        return P.with_type(tag, P.PT_BOOLEAN)
    if isinstance(value, int):
        return P.with_type(tag, P.PT_LONG)
    if isinstance(value, str):
        return P.with_type(tag, P.PT_UNICODE)
    if isinstance(value, bytes):
        return P.with_type(tag, P.PT_BINARY)
    if isinstance(value, list):
        return P.with_type(tag, P.PT_MV_UNICODE if value and isinstance(value[0], str) else P.PT_MV_BINARY)
    return tag

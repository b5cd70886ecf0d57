"""MS-OXNSPI's IDL (section 6, "Appendix A: Full IDL") and MS-OXABREF's, as a type table.

Transcribed from the specifications' IDL, not from any codec: each structure cites
its MS-OXNSPI section; ``pointer_default(unique)`` applies to pointers below the top
level.  ``METHODS[opnum] = (name, in_params, out_params)``; the return value (a long)
closes every out list as ``"result"``.
"""

from __future__ import annotations

from typing import Any

from tests.idl.ndr import I16, I32, U16, U32, Array, Bytes, Count, Ptr, String, Struct, Union

HANDLE = Bytes(20, align=4, ints=(4, 4, 2, 2))  # NSPI_HANDLE: a context handle (C706 14.3.11)
LONG = I32


def _len(name: str) -> Any:
    return lambda s: len(s[name] or [])


# 2.2.8 STAT
STAT = Struct("STAT", (("SortType", U32), ("ContainerID", U32), ("CurrentRec", U32),
                       ("Delta", LONG), ("NumPos", U32), ("TotalRecs", U32), ("CodePage", U32),
                       ("TemplateLocale", U32), ("SortLocale", U32)))
# 2.2.2.9 FlatUID_r: BYTE ab[16]
FLATUID = Bytes(16)
# 2.2.2.2 PropertyTagArray_r: [range(0,100001)] DWORD cValues;
#         [size_is(cValues+1), length_is(cValues)] DWORD aulPropTag[]
TAG_ARRAY = Struct("PropertyTagArray_r", (
    ("cValues", Count(_len("aulPropTag"))),
    ("aulPropTag", Array(U32, size=lambda s: s["cValues"] + 1, length=lambda s: s["cValues"])),
))
# 2.2.2.3 Binary_r: [range(0,2097152)] DWORD cb; [size_is(cb)] BYTE* lpb
BINARY = Struct("Binary_r", (("cb", Count(_len("lpb"))),
                             ("lpb", Ptr(Array(Bytes(1), size=lambda s: s["cb"])))))


def _mv(name: str, elem: Any) -> Struct:
    return Struct(name, (("cValues", Count(_len("lp"))),
                         ("lp", Ptr(Array(elem, size=lambda s: s["cValues"])))))


SHORT_ARRAY = _mv("ShortArray_r", I16)
LONG_ARRAY = _mv("LongArray_r", LONG)
STRING_ARRAY = _mv("StringArray_r", Ptr(String(1)))
BINARY_ARRAY = _mv("BinaryArray_r", BINARY)
FLATUID_ARRAY = _mv("FlatUIDArray_r", Ptr(FLATUID))
WSTRING_ARRAY = _mv("WStringArray_r", Ptr(String(2)))
FILETIME = Struct("FILETIME", (("dwLowDateTime", U32), ("dwHighDateTime", U32)))
DATETIME_ARRAY = _mv("DateTimeArray_r", FILETIME)

# 2.2.2.1 PROP_VAL_UNION ([switch_type(long)])
PROP_VAL_ARMS: dict[int, Any] = {
    0x0002: I16, 0x0003: LONG, 0x000B: U16, 0x001E: Ptr(String(1)), 0x0102: BINARY,
    0x001F: Ptr(String(2)), 0x0048: Ptr(FLATUID), 0x0040: FILETIME, 0x000A: LONG,
    0x1002: SHORT_ARRAY, 0x1003: LONG_ARRAY, 0x101E: STRING_ARRAY, 0x1102: BINARY_ARRAY,
    0x1048: FLATUID_ARRAY, 0x101F: WSTRING_ARRAY, 0x1040: DATETIME_ARRAY,
    0x0001: LONG, 0x000D: LONG,
}
# 2.2.2.5 PropertyValue_r: ulPropTag, ulReserved, [switch_is((long)(ulPropTag & 0xFFFF))] Value
PROPERTY_VALUE = Struct("PropertyValue_r", (
    ("ulPropTag", U32), ("ulReserved", U32),
    ("Value", Union(lambda s: s["ulPropTag"] & 0xFFFF, PROP_VAL_ARMS)),
))
# 2.2.2.6 PropertyRow_r: Reserved, [range(0,100000)] cValues, [size_is(cValues)] lpProps
PROPERTY_ROW = Struct("PropertyRow_r", (
    ("Reserved", U32), ("cValues", Count(_len("lpProps"))),
    ("lpProps", Ptr(Array(PROPERTY_VALUE, size=lambda s: s["cValues"]))),
))
# 2.2.2.7 PropertyRowSet_r: [range(0,100000)] cRows, [size_is(cRows)] PropertyRow_r aRow[]
PROPERTY_ROWSET = Struct("PropertyRowSet_r", (
    ("cRows", Count(_len("aRow"))), ("aRow", Array(PROPERTY_ROW, size=lambda s: s["cRows"])),
))

# 2.2.5 restrictions: Restriction_r { DWORD rt; [switch_is((long)rt)] RestrictionUnion_r res; }
RESTRICTION = Struct("Restriction_r", ())  # filled below (recursive)
_AND = Struct("AndRestriction_r", (("cRes", Count(_len("lpRes"))),
                                   ("lpRes", Ptr(Array(RESTRICTION, size=lambda s: s["cRes"])))))
_NOT = Struct("NotRestriction_r", (("lpRes", Ptr(RESTRICTION)),))
_CONTENT = Struct("ContentRestriction_r", (("ulFuzzyLevel", U32), ("ulPropTag", U32),
                                           ("lpProp", Ptr(PROPERTY_VALUE))))
_PROPERTY = Struct("PropertyRestriction_r", (("relop", U32), ("ulPropTag", U32),
                                             ("lpProp", Ptr(PROPERTY_VALUE))))
_THREE = {5: ("relop", "ulPropTag1", "ulPropTag2"), 6: ("relBMR", "ulPropTag", "ulMask"),
          7: ("relop", "ulPropTag", "cb"), 8: ("ulReserved1", "ulPropTag", "ulReserved2")}
_SUB = Struct("SubRestriction_r", (("ulSubObject", U32), ("lpRes", Ptr(RESTRICTION))))
RESTRICTION_ARMS: dict[int, Any] = {
    0: _AND, 1: _AND, 2: _NOT, 3: _CONTENT, 4: _PROPERTY,
    **{k: Struct(f"R{k}", tuple((n, U32) for n in names)) for k, names in _THREE.items()},
    9: _SUB,
}
object.__setattr__(RESTRICTION, "fields", (
    ("rt", U32), ("res", Union(lambda s: s["rt"], RESTRICTION_ARMS)),
))

# 2.2.2.8 PropertyName_r: [unique] FlatUID_r* lpguid; DWORD ulReserved; long lID
PROPERTY_NAME = Struct("PropertyName_r", (("lpguid", Ptr(FLATUID)), ("ulReserved", U32),
                                          ("lID", LONG)))
# 2.2.2.10 PropertyNameSet_r: cNames, [size_is(cNames)] PropertyName_r aNames[]
PROPERTY_NAME_SET = Struct("PropertyNameSet_r", (
    ("cNames", Count(_len("aNames"))), ("aNames", Array(PROPERTY_NAME, size=lambda s: s["cNames"])),
))
# 2.2.2.11/12 StringsArray_r, WStringsArray_r: [range(1,100000)] Count; [string] ptrs[Count]
STRINGS_ARRAY = Struct("StringsArray_r", (
    ("Count", Count(_len("Strings"))),
    ("Strings", Array(Ptr(String(1)), size=lambda s: s["Count"])),
))
WSTRINGS_ARRAY = Struct("WStringsArray_r", (
    ("Count", Count(_len("Strings"))),
    ("Strings", Array(Ptr(String(2)), size=lambda s: s["Count"])),
))
BINARY_ARRAY_PARAM = BINARY_ARRAY

REF_STAT = Ptr(STAT, "ref")
TAGS_UNIQUE = Ptr(TAG_ARRAY)
OUT_TAGS = Ptr(Ptr(TAG_ARRAY), "ref")  # [out] PropertyTagArray_r**
OUT_ROWSET = Ptr(Ptr(PROPERTY_ROWSET), "ref")  # [out] PropertyRowSet_r**
OUT_ROW = Ptr(Ptr(PROPERTY_ROW), "ref")  # [out] PropertyRow_r**
RESULT = ("result", LONG)

Params = list[tuple[str, Any]]
METHODS: dict[int, tuple[str, Params, Params]] = {
    0: ("NspiBind", [("dwFlags", U32), ("pStat", REF_STAT), ("pServerGuid", Ptr(FLATUID))],
        [("pServerGuid", Ptr(FLATUID)), ("contextHandle", HANDLE), RESULT]),
    1: ("NspiUnbind", [("contextHandle", HANDLE), ("Reserved", U32)],
        [("contextHandle", HANDLE), RESULT]),
    2: ("NspiUpdateStat", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                           ("plDelta", Ptr(LONG))],
        [("pStat", REF_STAT), ("plDelta", Ptr(LONG)), RESULT]),
    3: ("NspiQueryRows", [("hRpc", HANDLE), ("dwFlags", U32), ("pStat", REF_STAT),
                          ("dwETableCount", Count(_len("lpETable"))),
                          ("lpETable", Ptr(Array(U32, size=lambda p: p["dwETableCount"]))),
                          ("Count", U32), ("pPropTags", TAGS_UNIQUE)],
        [("pStat", REF_STAT), ("ppRows", OUT_ROWSET), RESULT]),
    4: ("NspiSeekEntries", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                            ("pTarget", Ptr(PROPERTY_VALUE, "ref")), ("lpETable", TAGS_UNIQUE),
                            ("pPropTags", TAGS_UNIQUE)],
        [("pStat", REF_STAT), ("ppRows", OUT_ROWSET), RESULT]),
    5: ("NspiGetMatches", [("hRpc", HANDLE), ("Reserved1", U32), ("pStat", REF_STAT),
                           ("pReserved", TAGS_UNIQUE), ("Reserved2", U32),
                           ("Filter", Ptr(RESTRICTION)), ("lpPropName", Ptr(PROPERTY_NAME)),
                           ("ulRequested", U32), ("pPropTags", TAGS_UNIQUE)],
        [("pStat", REF_STAT), ("ppOutMIds", OUT_TAGS), ("ppRows", OUT_ROWSET), RESULT]),
    6: ("NspiResortRestriction", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                                  ("pInMIds", Ptr(TAG_ARRAY, "ref")), ("ppOutMIds", OUT_TAGS)],
        [("pStat", REF_STAT), ("ppOutMIds", OUT_TAGS), RESULT]),
    7: ("NspiDNToMId", [("hRpc", HANDLE), ("Reserved", U32),
                        ("pNames", Ptr(STRINGS_ARRAY, "ref"))],
        [("ppOutMIds", OUT_TAGS), RESULT]),
    8: ("NspiGetPropList", [("hRpc", HANDLE), ("dwFlags", U32), ("dwMId", U32),
                            ("CodePage", U32)],
        [("ppPropTags", OUT_TAGS), RESULT]),
    9: ("NspiGetProps", [("hRpc", HANDLE), ("dwFlags", U32), ("pStat", REF_STAT),
                         ("pPropTags", TAGS_UNIQUE)],
        [("ppRows", OUT_ROW), RESULT]),
    10: ("NspiCompareMIds", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                             ("MId1", U32), ("MId2", U32)],
         [("plResult", Ptr(LONG, "ref")), RESULT]),
    11: ("NspiModProps", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                          ("pPropTags", TAGS_UNIQUE), ("pRow", Ptr(PROPERTY_ROW, "ref"))],
         [RESULT]),
    12: ("NspiGetSpecialTable", [("hRpc", HANDLE), ("dwFlags", U32), ("pStat", REF_STAT),
                                 ("lpVersion", Ptr(U32, "ref"))],
         [("lpVersion", Ptr(U32, "ref")), ("ppRows", OUT_ROWSET), RESULT]),
    13: ("NspiGetTemplateInfo", [("hRpc", HANDLE), ("dwFlags", U32), ("ulType", U32),
                                 ("pDN", Ptr(String(1))), ("dwCodePage", U32),
                                 ("dwLocaleID", U32)],
         [("ppData", OUT_ROW), RESULT]),
    14: ("NspiModLinkAtt", [("hRpc", HANDLE), ("dwFlags", U32), ("ulPropTag", U32),
                            ("dwMId", U32), ("lpEntryIds", Ptr(BINARY_ARRAY_PARAM, "ref"))],
         [RESULT]),
    16: ("NspiQueryColumns", [("hRpc", HANDLE), ("Reserved", U32), ("dwFlags", U32)],
         [("ppColumns", OUT_TAGS), RESULT]),
    17: ("NspiGetNamesFromIDs", [("hRpc", HANDLE), ("Reserved", U32), ("lpguid", Ptr(FLATUID)),
                                 ("pPropTags", TAGS_UNIQUE)],
         [("ppReturnedPropTags", OUT_TAGS),
          ("ppNames", Ptr(Ptr(PROPERTY_NAME_SET), "ref")), RESULT]),
    18: ("NspiGetIDsFromNames", [("hRpc", HANDLE), ("Reserved", U32), ("dwFlags", U32),
                                 ("cPropNames", Count(_len("pNames"))),
                                 ("pNames", Ptr(Array(Ptr(PROPERTY_NAME),
                                                      size=lambda p: p["cPropNames"]), "ref"))],
         [("ppPropTags", OUT_TAGS), RESULT]),
    19: ("NspiResolveNames", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                              ("pPropTags", TAGS_UNIQUE), ("paStr", Ptr(STRINGS_ARRAY, "ref"))],
         [("ppMIds", OUT_TAGS), ("ppRows", OUT_ROWSET), RESULT]),
    20: ("NspiResolveNamesW", [("hRpc", HANDLE), ("Reserved", U32), ("pStat", REF_STAT),
                               ("pPropTags", TAGS_UNIQUE), ("paWStr", Ptr(WSTRINGS_ARRAY, "ref"))],
         [("ppMIds", OUT_TAGS), ("ppRows", OUT_ROWSET), RESULT]),
}

# MS-OXABREF 3.1.4.1 / 3.1.4.2 (interface 1544f5e0-613c-11d1-93df-00c04fd7bd09)
RFR_METHODS: dict[int, tuple[str, Params, Params]] = {
    0: ("RfrGetNewDSA", [("ulFlags", U32), ("pUserDN", Ptr(String(1), "ref")),
                         ("ppszUnused", Ptr(Ptr(String(1)))), ("ppszServer", Ptr(Ptr(String(1))))],
        [("ppszUnused", Ptr(Ptr(String(1)))), ("ppszServer", Ptr(Ptr(String(1)))), RESULT]),
    1: ("RfrGetFQDNFromServerDN", [("ulFlags", U32), ("cbMailboxServerDN", U32),
                                   ("szMailboxServerDN", Ptr(String(1), "ref"))],
        [("ppszServerFQDN", Ptr(Ptr(String(1)), "ref")), RESULT]),
}

__all__ = [
    "METHODS",
    "PROPERTY_NAME",
    "PROPERTY_ROW",
    "PROPERTY_ROWSET",
    "PROPERTY_VALUE",
    "PROP_VAL_ARMS",
    "RESTRICTION",
    "RFR_METHODS",
    "STAT",
    "TAG_ARRAY",
    "U32",
]

"""Stub decode failures in the RPC engine (issue #18).

MS-RPCE 3.1.1.5.5 / C706 appendix E: a stub the server cannot unmarshal is answered
with the fault ``nca_s_fault_ndr`` (0x000006F7, rpc_x_bad_stub_data), not an internal
error.  Interface handlers decode with impacket's NDR classes or our own codecs; an
exception raised while *decoding* (impacket's ``fromString`` / ``unpack`` family, or
Python's struct/index/value errors) is a decode failure wherever it was raised.
"""

from __future__ import annotations

import struct

__all__ = ["DECODE_ERRORS", "is_decode_failure"]

DECODE_ERRORS = (struct.error, IndexError, ValueError, KeyError, TypeError, UnicodeError,
                 OverflowError, AttributeError, RecursionError)
_DECODERS = ("fromString", "unpack", "fromStringReferents", "fromStringReferent")


def is_decode_failure(exc: BaseException) -> bool:
    """True when ``exc`` is a stub the server could not unmarshal."""
    if isinstance(exc, DECODE_ERRORS):
        return True
    tb = exc.__traceback__
    innermost = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if "impacket" in code.co_filename:
            innermost = code.co_name
        tb = tb.tb_next
    return innermost is not None and innermost.startswith(_DECODERS)


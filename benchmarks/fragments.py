"""Whole answers in a connection-oriented DCE/RPC byte stream, from fragment headers only.

A load generator that must out-run the server cannot unseal every answer; it reads the
16-byte common header of each fragment (C706 12.6.3.1, MS-RPCE 2.2.2.1 for
ncacn_ip_tcp) and skips the body:

* byte 2, PTYPE: 2 = response, 3 = fault (C706 12.6.4.9 / 12.6.4.7);
* byte 3, pfc_flags: PFC_LAST_FRAG 0x02 closes a call's answer (C706 12.6.3.1);
* bytes 8-9, frag_length, the whole fragment including its header and auth trailer, in
  the data representation of byte 4 (our server sends little-endian, C706 14.1);
* bytes 12-15, call_id: every fragment of an answer carries the request's (C706 12.6.4).

An answer is *good* when every fragment is a response with the expected call_id and the
answer's bytes on the wire add up to the reference size (the size of an answer that was
unsealed and verified in full); anything else, a fault included, is *wrong*.  A fault is
a single PDU (C706 12.6.4.7), so a non-response fragment ends the answer whatever its flags.
"""

from __future__ import annotations

__all__ = ["HEADER", "AnswerReader", "fragments"]

HEADER = 16  # the common header every connection-oriented PDU starts with (C706 12.6.3.1)
RESPONSE = 2
LAST_FRAG = 0x02


def fragments(data: bytes) -> list[tuple[int, int, int, int]]:
    """(ptype, pfc_flags, frag_length, auth_length) of each whole fragment in ``data``
    (little-endian headers, C706 12.6.3.1); a trailing partial fragment is left out."""
    out = []
    off = 0
    while len(data) - off >= HEADER:
        n = data[off + 8] | data[off + 9] << 8
        if n < HEADER or len(data) - off < n:
            break
        out.append((data[off + 2], data[off + 3], n, data[off + 10] | data[off + 11] << 8))
        off += n
    return out


class AnswerReader:
    """Counts good and wrong answers of a stream fed in arbitrary chunks.

    Only headers are kept: a fragment's body is skipped by count, so a 26 KB answer costs
    a few slices, not a copy.  ``expect(call_id)`` names the call whose answer comes next.
    """

    __slots__ = ("clean", "good", "head", "size", "skip", "total", "want", "wrong")

    def __init__(self, size: int) -> None:
        self.size = size  # the reference answer's bytes on the wire, all fragments
        self.good = 0
        self.wrong = 0
        self.head = b""  # a header split across chunks
        self.skip = 0  # body bytes of the current fragment still to come
        self.total = 0  # bytes of the current answer so far
        self.clean = True  # every fragment so far a response of the expected call
        self.want = b""  # call_id of the expected answer, 4 bytes little-endian

    def expect(self, call_id: int) -> None:
        """The next answer belongs to ``call_id`` (C706 12.6.4: the request's call_id)."""
        self.want = call_id.to_bytes(4, "little")

    def feed(self, data: bytes) -> int:
        """Consume ``data``; returns how many answers it completed (good or wrong).

        Raises ValueError when a frag_length is shorter than the header itself: the
        stream has lost its framing and nothing after can be counted.
        """
        done = 0
        off = self.skip
        n = len(data)
        if off >= n:
            self.skip = off - n
            return 0
        if self.head:
            data = self.head + data[off:]
            off, n = 0, len(data)
            self.head = b""
        while off < n:
            if n - off < HEADER:
                self.head = data[off:]
                self.skip = 0
                return done
            length = data[off + 8] | data[off + 9] << 8  # frag_length (C706 12.6.3.1)
            if length < HEADER:
                raise ValueError(f"frag_length {length} < {HEADER}: the stream lost its framing")
            self.total += length
            ptype = data[off + 2]
            if ptype != RESPONSE or data[off + 12:off + 16] != self.want:
                self.clean = False  # a fault (ptype 3), another PDU, or another call's answer
            if data[off + 3] & LAST_FRAG or ptype != RESPONSE:
                if self.clean and self.total == self.size:
                    self.good += 1
                else:
                    self.wrong += 1
                done += 1
                self.total = 0
                self.clean = True
            off += length
        self.skip = off - n
        return done

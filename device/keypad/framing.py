"""Keypad wire framing (protocol v1): bytes in, frames out, and frames to bytes.

Pure code with no I/O, so the same parser serves the device link, the simulator and tests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import reduce

STX = 0x02
ETX = 0x03
MAX_PAYLOAD = 16
_MAX_BODY = 1 + MAX_PAYLOAD + 2  # TYPE + PAYLOAD + CHK
_MIN_BODY = 1 + 2
_UPPER_HEX = frozenset(b"0123456789ABCDEF")


@dataclass(frozen=True)
class Frame:
    """One valid frame: a one-character TYPE and its (possibly empty) payload."""

    type: str
    payload: str = ""


def _is_printable(byte: int) -> bool:
    return 0x20 <= byte <= 0x7E


def checksum(data: bytes) -> int:
    """XOR of the TYPE byte and every payload byte."""
    return reduce(lambda acc, byte: acc ^ byte, data, 0)


def encode_frame(type: str, payload: str = "") -> bytes:
    """Bytes of one frame: STX TYPE PAYLOAD CHK ETX, CHK as two upper-case hex digits.

    Raises ValueError if TYPE is not exactly one printable ASCII character, or the payload
    is longer than 16 characters or not printable ASCII.
    """
    if len(type) != 1 or not _is_printable(ord(type)):
        raise ValueError(f"frame type must be one printable ASCII character, got {type!r}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"frame payload is {len(payload)} characters, at most {MAX_PAYLOAD}")
    if not all(_is_printable(ord(char)) for char in payload):
        raise ValueError(f"frame payload must be printable ASCII, got {payload!r}")
    body = (type + payload).encode("ascii")
    return bytes([STX]) + body + f"{checksum(body):02X}".encode("ascii") + bytes([ETX])


class FrameParser:
    """Turns a byte stream, read in chunks of any size, into valid frames.

    State is kept across feed() calls. Anything invalid is dropped and counted in
    `dropped` by reason, never returned:

    - "noise": each byte seen outside a frame (counted per byte);
    - "truncated": a frame cut off by a new STX (the new STX starts a new frame), or
      by reset();
    - "too_long": more than 16 payload bytes before ETX;
    - "non_printable": a byte other than 0x20-0x7E (and STX/ETX) inside a frame;
    - "short": ETX before TYPE and both CHK digits;
    - "checksum": CHK wrong, or not two upper-case hex digits. Lower-case hex is
      rejected: the protocol says upper-case, and a board sending lower-case is broken.

    The other reasons count frames. After "too_long" or "non_printable" the rest of
    that frame, up to its ETX or the next STX, is skipped without further counting.
    """

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        self._body: bytearray | None = None  # None: between frames
        self._skipping = False  # inside a frame already dropped

    def feed(self, data: bytes) -> list[Frame]:
        """Consume `data` and return the frames it completed, in order."""
        frames = []
        for byte in data:
            frame = self._take(byte)
            if frame is not None:
                frames.append(frame)
        return frames

    def reset(self) -> None:
        """Forget a partly received frame (e.g. the port was reopened); keep the counts."""
        if self._body is not None:
            self.dropped["truncated"] += 1
        self._body = None
        self._skipping = False

    def _take(self, byte: int) -> Frame | None:
        if byte == STX:
            self.reset()
            self._body = bytearray()
            return None
        if self._skipping:
            self._skipping = byte != ETX
            return None
        if self._body is None:
            self.dropped["noise"] += 1
            return None
        if byte == ETX:
            body, self._body = bytes(self._body), None
            return self._decode(body)
        if not _is_printable(byte):
            self._abandon("non_printable")
        elif len(self._body) == _MAX_BODY:
            self._abandon("too_long")
        else:
            self._body.append(byte)
        return None

    def _abandon(self, reason: str) -> None:
        self.dropped[reason] += 1
        self._body = None
        self._skipping = True

    def _decode(self, body: bytes) -> Frame | None:
        if len(body) < _MIN_BODY:
            self.dropped["short"] += 1
            return None
        content, chk = body[:-2], body[-2:]
        if not _UPPER_HEX.issuperset(chk) or int(chk, 16) != checksum(content):
            self.dropped["checksum"] += 1
            return None
        return Frame(chr(content[0]), content[1:].decode("ascii"))

"""certKey values for the intake tests: the shapes of real hashes, and ways to slip a resident
ID number past the certKey check (bare, padded to a hash's length, encoded)."""

from __future__ import annotations

import base64
import hashlib

ID_NUMBER = "110101199003074514"  # a well-formed ID number (valid check digit and birth date)
ID_WITH_X = "11010519491231002X"
OLD_ID = "110105491231002"  # the old 15 digits
SOURCE = f"{ID_NUMBER}李秀英".encode()


def _b64(raw: bytes) -> str:
    return base64.standard_b64encode(raw).decode()


def _url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def real_hashes() -> dict[str, str]:
    """Every accepted shape: hex (either case) and standard or url-safe base64, padded or not."""
    shapes: dict[str, str] = {}
    for name in ("md5", "sha1", "sha256", "sha512"):
        digest = hashlib.new(name, SOURCE).digest()
        shapes[f"{name} hex"] = digest.hex()
        shapes[f"{name} HEX"] = digest.hex().upper()
        shapes[f"{name} base64"] = _b64(digest)
        shapes[f"{name} base64 unpadded"] = _b64(digest).rstrip("=")
        shapes[f"{name} url-safe"] = _url(digest)
        shapes[f"{name} url-safe unpadded"] = _url(digest).rstrip("=")
    # digits by chance: a long run that is no ID number, and a 15-digit run in hex
    shapes["hex with 18 digits that are no ID number"] = "123456789012345678abcdefabcdef01"
    md5 = hashlib.md5(SOURCE).hexdigest()
    shapes["hex with a 15-digit run"] = f"{OLD_ID}{md5[:17]}"
    return shapes


EVASIONS: dict[str, str] = {
    "padding after the ID number": f"{ID_NUMBER}==",
    "a digit added": f"{ID_NUMBER}7",
    "letters added": f"{ID_NUMBER}abc",
    "hex letters up to MD5's length": f"{ID_NUMBER}abcdef01234567",
    "hex letters up to SHA-1's length": f"abcdef{ID_NUMBER}0123456789abcdef",
    "hex letters up to SHA-256's length": f"{ID_NUMBER}{'ab' * 23}",
    "ID number with X and base64 up to 16 bytes": f"{ID_WITH_X}abcA",
    "old ID number and base64 up to 16 bytes": f"{OLD_ID}abcdefA",
    "base64 of the ID number": _b64(ID_NUMBER.encode()),
    "url-safe base64 of the ID number, unpadded": _url(ID_NUMBER.encode()).rstrip("="),
    "base64 of the ID number padded to 20 bytes": _b64(f"{ID_NUMBER}XY".encode()),
    "base64 of the ID number and bytes to 32": _b64(ID_NUMBER.encode() + bytes(range(1, 15))),
    "hex of the ID number padded to 20 bytes": (ID_NUMBER.encode() + b"\x00\x01").hex(),
    "base64 of the name and ID number in text": _b64(b"Li Xiuying 1101011990030745"[:20]),
    "hex one character short": hashlib.md5(SOURCE).hexdigest()[:-1],
    "hex one character long": hashlib.sha1(SOURCE).hexdigest() + "0",
    "base64 with bits past the digest": _b64(hashlib.md5(SOURCE).digest())[:21] + "B==",
    "standard and url-safe base64 mixed": "+_" + _b64(hashlib.sha256(SOURCE).digest())[2:],
    "base64 of 24 bytes": _b64(bytes(range(100, 124))),
}

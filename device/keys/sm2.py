"""SM2 signatures (GB/T 32918 / GM/T 0003) for the 国密 provincial interface.

The one place that knows which SM2 implementation is used (gmalg, pure Python: see
docs/decisions.md), so it can be swapped. Signatures are over SM3(Z || message) with the
default user id `1234567812345678`, DER-encoded as `SEQUENCE {r INTEGER, s INTEGER}`;
public keys are the uncompressed point as lower-case hex (`04` + x + y). Every public key
taken in is checked to be a point of the curve; every signature parsed strictly.

The device's own SM2 private key lives in one file (mode 0600) and never leaves the device.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import gmalg
import gmalg.sm2

from device.errors import HaochapingError
from device.keys.private_file import ReadableByOthersError, read_secret, write_private
from device.keys.sm4 import sm3

USER_ID = b"1234567812345678"
# The curve of GB/T 32918.5 (sm2p256v1): y² = x³ + ax + b over F_p, base point of order N.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
PUBLIC_HEX_CHARS = 130


class Sm2Error(HaochapingError):
    """An SM2 key or signature that cannot be used."""

    code = "E_SM2"


def public_key_problem(text: str) -> str | None:
    """Why *text* is not an SM2 public key as the interface writes one; None when it is."""
    if len(text) != PUBLIC_HEX_CHARS or not text.startswith("04"):
        return "an SM2 public key is 130 hex characters: 04, then x and y"
    if text != text.lower():
        return "an SM2 public key is written in lower-case hex"
    try:
        x, y = int(text[2:66], 16), int(text[66:], 16)
    except ValueError:
        return "an SM2 public key is written in hex"
    if not (x < P and y < P) or (y * y - (x * x * x + A * x + B)) % P != 0:
        return "the SM2 public key is not a point of the curve"
    return None


def der_signature(r: int, s: int) -> bytes:
    """`SEQUENCE {r INTEGER, s INTEGER}` in DER."""
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + _der_length(len(body)) + body


def parse_der_signature(data: bytes) -> tuple[int, int]:
    """(r, s) of a DER signature; Sm2Error for anything but the one exact encoding with
    1 <= r, s < N."""
    if len(data) < 8 or data[0] != 0x30:
        raise Sm2Error("an SM2 signature is a DER SEQUENCE")
    length, at = _read_length(data, 1)
    if at + length != len(data):
        raise Sm2Error("an SM2 signature's length does not match its bytes")
    r, at = _read_integer(data, at)
    s, at = _read_integer(data, at)
    if at != len(data):
        raise Sm2Error("an SM2 signature holds more than r and s")
    if not (0 < r < N and 0 < s < N):
        raise Sm2Error("an SM2 signature's r or s is out of range")
    return r, s


def verify(public_hex: str, message: bytes, signature_der: bytes) -> bool:
    """True only for a valid signature by *public_hex* over *message* (default user id)."""
    if public_key_problem(public_hex) is not None:
        return False
    try:
        r, s = parse_der_signature(signature_der)
    except Sm2Error:
        return False
    return bool(_CORE.verify(message, r, s, USER_ID, _point(public_hex)))


class _Sm3:
    """The hash gmalg's core is built with (only its length is asked for by SM2 signatures)."""

    @classmethod
    def hash_length(cls) -> int:
        return 32


class _Core(gmalg.sm2.SM2Core):
    """gmalg's SM2 arithmetic over the GB/T 32918.5 curve, hashing with `cryptography`'s SM3
    (OpenSSL) as one stateless call: gmalg's own pure-Python SM3 costs about 1 s per 400 kB
    here (a call's whole payload is hashed, Z || M), and its hash object is one shared state,
    which threads signing and verifying at once would garble."""

    def _hash_fn(self, data: bytes) -> bytes:
        return sm3(data)


# each signature's nonce from the operating system's randomness
_CORE = _Core(gmalg.sm2._ecdlp, _Sm3(), secrets.randbits)


@lru_cache(maxsize=16)
def _point(public_hex: str) -> Any:
    return gmalg.sm2.bytes_to_point(bytes.fromhex(public_hex))


@dataclass(frozen=True)
class Sm2Key:
    """An SM2 key pair: the device's, or one a test or the stand-in province holds."""

    secret: int = field(repr=False)  # never in a repr, a log line or a traceback
    public_hex: str = ""

    @classmethod
    def generate(cls) -> Sm2Key:
        secret = 1 + secrets.randbelow(N - 2)  # 1 <= d <= N-2, as GB/T 32918 asks
        return cls.from_secret(secret)

    @classmethod
    def from_secret(cls, secret: int) -> Sm2Key:
        if not 1 <= secret <= N - 2:
            raise Sm2Error("an SM2 private key is an integer from 1 to n-2")
        return cls(secret, _public_of(secret))

    def sign(self, message: bytes) -> bytes:
        """DER signature over *message* (SM3 with Z of the default user id), a fresh random
        nonce from the operating system each time."""
        r, s = _CORE.sign(message, self.secret, USER_ID, _point(self.public_hex))
        return der_signature(r, s)

    @classmethod
    def load(cls, path: Path) -> Sm2Key:
        """The key file: the private scalar as 64 hex characters; refused when others may
        read it."""
        try:
            text = read_secret(path).decode("ascii").strip()
        except ReadableByOthersError as exc:
            raise Sm2Error(str(exc)) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise Sm2Error(f"cannot read the SM2 key {path}: {exc}") from exc
        try:
            secret = int(text, 16) if len(text) == 64 else 0
        except ValueError:
            secret = 0
        if secret == 0:
            raise Sm2Error(f"{path} is not an SM2 private key (64 hex characters)")
        return cls.from_secret(secret)

    def save(self, path: Path) -> None:
        write_private(path, f"{self.secret:064x}\n".encode("ascii"))


def _public_of(secret: int) -> str:
    x, y = _CORE.generate_pk(secret)
    return f"04{x:064x}{y:064x}"


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_integer(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    if raw[0] & 0x80:
        raw = b"\x00" + raw
    return b"\x02" + _der_length(len(raw)) + raw


def _read_length(data: bytes, at: int) -> tuple[int, int]:
    if at >= len(data):
        raise Sm2Error("an SM2 signature is cut short")
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if count != 1 or at + 1 >= len(data) or data[at + 1] < 0x80:
        raise Sm2Error("an SM2 signature's length is not in DER form")
    return data[at + 1], at + 2


def _read_integer(data: bytes, at: int) -> tuple[int, int]:
    if at >= len(data) or data[at] != 0x02:
        raise Sm2Error("an SM2 signature's r and s are INTEGERs")
    length, at = _read_length(data, at + 1)
    raw = data[at : at + length]
    if length == 0 or len(raw) != length:
        raise Sm2Error("an SM2 signature is cut short")
    if raw[0] & 0x80 or (length > 1 and raw[0] == 0 and not raw[1] & 0x80):
        raise Sm2Error("an SM2 signature's INTEGER is not in DER form")
    return int.from_bytes(raw, "big"), at + length

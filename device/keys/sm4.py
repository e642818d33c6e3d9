"""SM3 digests and SM4-CBC sealing of the 国密 provincial interface (`cryptography`).

Pure. The SM4 key is the first 16 bytes of the SM3 digest of `appSecret` as issued (the
32-character text); a sealed payload is base64 of a random 16-byte IV, then the CBC
ciphertext of the PKCS#7-padded bytes.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from device.errors import HaochapingError

BLOCK = 16


class SealError(HaochapingError):
    """A sealed payload that is not base64, not whole blocks, or not padded as sealed."""

    code = "E_SM4"


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()


def key_of(app_secret: str) -> bytes:
    """The SM4 key of an `appSecret`: SM3 of its UTF-8 bytes, first 16 bytes."""
    return sm3(app_secret.encode("utf-8"))[:BLOCK]


def seal(key: bytes, plaintext: bytes) -> str:
    iv = os.urandom(BLOCK)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def unseal(key: bytes, sealed: str) -> bytes:
    """The plaintext of *sealed*; SealError for anything that was not sealed with *key*
    (a wrong key shows as bad padding most of the time, and as garbage otherwise)."""
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealError("the payload is not standard base64") from exc
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise SealError("the payload is not an IV and whole SM4 blocks")
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(raw[:BLOCK])).decryptor()
    padded = decryptor.update(raw[BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise SealError("the payload does not decrypt with this appSecret") from exc

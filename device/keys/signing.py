"""Ed25519 keys, record signatures and request signatures of the provincial interface.

The device's private key lives in one file (mode 0600); everything else here is pure.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from device.errors import HaochapingError
from device.keys.private_file import ReadableByOthersError, read_secret, write_private
from device.record.canonical import signing_bytes


class KeyFileError(HaochapingError):
    """The device key file is missing, unreadable, too open, or not an Ed25519 key."""

    code = "E_KEY_FILE"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id_of(public_raw: bytes) -> str:
    """First 16 hex characters of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class DeviceKey:
    """The device's signing key and what is derived from it."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(Ed25519PrivateKey.generate())

    @cached_property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_b64(self) -> str:
        return b64(self.public_raw)

    @cached_property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    def sign(self, data: bytes) -> str:
        return b64(self.private.sign(data))

    def sign_record(self, record: dict[str, Any], *, checked: bool = False) -> str:
        return self.sign(signing_bytes(record, checked=checked))

    def save(self, path: Path) -> None:
        """Write the key as PEM, mode 0600, via a temp file and rename; never overwrite."""
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a device key")
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(path, pem)

    @classmethod
    def load(cls, path: Path) -> DeviceKey:
        try:
            data = read_secret(path)
        except ReadableByOthersError as exc:
            raise KeyFileError(f"device key {exc}") from exc
        except OSError as exc:
            raise KeyFileError(f"cannot read device key {path}: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise KeyFileError(f"{path} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path} holds a key that is not Ed25519")
        return cls(key)


def verify(public: Ed25519PublicKey, signature_b64: str, data: bytes) -> bool:
    """True when *signature_b64* is a valid Ed25519 signature of *data*."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_record(public: Ed25519PublicKey, record: dict[str, Any]) -> bool:
    signature = record.get("signature")
    if not isinstance(signature, str):
        return False
    return verify(public, signature, signing_bytes(record))


def request_signing_bytes(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """`METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))` as UTF-8."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()

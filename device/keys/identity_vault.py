"""Encryption at rest of the rater's personal data (name, certificate) with AES-256-GCM.

The data key lives in its own 0600 file beside the ledger; wiping that file (decommission)
makes every stored identity unreadable. `key_check` names the key (an HMAC under it of a
fixed label) so the ledger can tell a replaced key from a damaged row; it opens nothing.
The file is born whole: written and synced under a temp name of its own, then hard-linked to
its name (which fails if another program made it first), so a power cut never leaves an
empty or short key file in its place.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device.errors import HaochapingError
from device.keys.private_file import (
    ReadableByOthersError,
    fsync_folder,
    make_folder_durably,
    read_secret,
    write_all,
)


class VaultError(HaochapingError):
    """The identity key is missing or a sealed identity cannot be opened."""

    code = "E_VAULT"


class WrongIdentityKeyError(VaultError):
    """identity.key is a valid key, but not the one that sealed the personal data held."""

    code = "E_VAULT_WRONG_KEY"


KEY_CHECK_LABEL = b"haochaping identity key check v1"


def missing_key_error(path: Path) -> VaultError:
    return VaultError(
        f"identity key {path} is missing while the ledger holds encrypted personal "
        "data; restore that file (a new key cannot open it)"
    )


class IdentityVault:
    def __init__(self, key: bytes, path: Path | None = None) -> None:
        self._aead = AESGCM(key)
        self.path = path  # the file it was read from, to name in errors
        # 128 bits of HMAC-SHA256 under the key: tells keys apart, reveals nothing of it
        self.key_check = hmac.new(key, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:32]

    @classmethod
    def load_or_create(cls, path: Path, *, holds_sealed: bool = False) -> IdentityVault:
        """The vault of this device. A missing key file is made anew only while nothing
        is sealed with the old one: a new key would silently orphan every sealed identity."""
        if not path.exists():
            if holds_sealed:
                raise missing_key_error(path)
            _create_key_file(path)
        _drop_leftovers(path)
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> IdentityVault:
        try:
            key = read_secret(path)
        except ReadableByOthersError as exc:
            raise VaultError(f"identity key {exc}") from exc
        except OSError as exc:
            raise VaultError(f"cannot read identity key {path}: {exc.strerror}") from exc
        if len(key) != 32:
            raise VaultError(f"identity key {path} is not 32 bytes")
        return cls(key, path)

    def seal(self, evaluation_id: str, identity: dict[str, Any]) -> bytes:
        """nonce || ciphertext, bound to the rating it belongs to."""
        nonce = os.urandom(12)
        plain = json.dumps(identity, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return nonce + self._aead.encrypt(nonce, plain, evaluation_id.encode("ascii"))

    def open(self, evaluation_id: str, sealed: bytes) -> dict[str, Any]:
        try:
            plain = self._aead.decrypt(sealed[:12], sealed[12:], evaluation_id.encode("ascii"))
        except InvalidTag as exc:
            raise VaultError(f"identity of {evaluation_id} fails authentication") from exc
        return json.loads(plain)


def _create_key_file(path: Path) -> None:
    """A new 32-byte key at *path*, whole or not at all; another program's key, if it made
    one first, is kept."""
    make_folder_durably(path.parent)
    fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        try:
            write_all(fd, AESGCM.generate_key(bit_length=256))
            os.fsync(fd)
        finally:
            os.close(fd)
        # made meanwhile by the evaluator or the sync (who may have tidied our temp): theirs
        with contextlib.suppress(FileExistsError, FileNotFoundError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_folder(path.parent)


def _drop_leftovers(path: Path) -> None:
    """Temp names left by a power cut during creation: copies of no key in use, or a second
    name of the key itself; either way not a name anything reads."""
    for leftover in path.parent.glob(path.name + ".*.tmp"):
        leftover.unlink(missing_ok=True)

"""Re-check a ledger: every seal and signature, the seq order and the prevHash chain.

`check_rows` is pure and stops at the first bad row; `verify_ledger` reads the file
read-only and feeds it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.keys.identity_vault import IdentityVault, VaultError
from device.keys.signing import public_key_from_b64, verify, verify_record
from device.ledger.connection import connect
from device.ledger.retention import base_bytes
from device.ledger.store import seal_bytes
from device.record.canonical import ZERO_HASH, canonical_json, record_hash
from device.record.rating import join_identity


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    evaluation_id: str
    record_text: str
    record_hash: str
    has_identity: bool
    seal: str
    sealed_identity: bytes | None


@dataclass(frozen=True)
class Finding:
    seq: int
    problem: str


@dataclass(frozen=True)
class Report:
    rows: int
    fully_verified: int  # rows whose wire signature could be re-checked too
    first_bad: Finding | None

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def _check_one(
    row: LedgerRow,
    expected_seq: int,
    prev_hash: str,
    keys: dict[str, str],
    vault: IdentityVault | None,
) -> tuple[str | None, bool]:
    """(problem or None, whether the wire signature was checked)."""
    if row.seq != expected_seq:
        return f"row missing before seq {row.seq} (expected seq {expected_seq})", False
    try:
        redacted: dict[str, Any] = json.loads(row.record_text)
    except ValueError:
        return "stored record is not JSON", False
    if not isinstance(redacted, dict):
        return "stored record is not an object", False
    if canonical_json(redacted).decode("utf-8") != row.record_text:
        return "stored record is not in canonical form", False
    public_b64 = keys.get(str(redacted.get("keyId")))
    if public_b64 is None:
        return f"signed by unknown key {redacted.get('keyId')!r}", False
    public = public_key_from_b64(public_b64)
    if not verify(public, row.seal, seal_bytes(redacted, row.record_hash, row.has_identity)):
        return "device seal does not match the stored record", False
    if redacted.get("seq") != row.seq or redacted.get("evaluationId") != row.evaluation_id:
        return "record does not belong at this position", False
    if redacted.get("prevHash") != prev_hash:
        return "prevHash does not match the previous rating (chain broken)", False
    return _check_signed(row, redacted, public, vault)


def _check_signed(
    row: LedgerRow, redacted: dict[str, Any], public: Ed25519PublicKey, vault: IdentityVault | None
) -> tuple[str | None, bool]:
    """Re-check the wire signature and hash where the full record can be rebuilt."""
    if row.has_identity and (row.sealed_identity is None or vault is None):
        return None, False  # personal data purged after delivery, or no key to open it
    full = redacted
    if row.has_identity and row.sealed_identity is not None and vault is not None:
        try:
            full = join_identity(redacted, vault.open(row.evaluation_id, row.sealed_identity))
        except VaultError:
            return "encrypted personal data fails authentication", False
    if not verify_record(public, full):
        return "record signature is invalid", False
    if record_hash(full) != row.record_hash:
        return "record hash does not match the signed record", False
    return None, True


def check_rows(
    rows: Iterable[LedgerRow],
    keys: dict[str, str],
    vault: IdentityVault | None = None,
    base: tuple[int, str] = (0, ZERO_HASH),
) -> Report:
    """Check rows in seq order; *base* is (seq, hash) of the last row retention removed."""
    count = full = 0
    base_seq, prev_hash = base
    for row in rows:
        count += 1
        problem, checked = _check_one(row, base_seq + count, prev_hash, keys, vault)
        if problem:
            return Report(count, full, Finding(row.seq, problem))
        full += checked
        prev_hash = row.record_hash
    return Report(count, full, None)


def _base(conn: sqlite3.Connection, keys: dict[str, str]) -> tuple[int, str] | Finding:
    """Where the chain starts: seq 0 and zeros, or the sealed last row retention removed."""
    row = conn.execute("SELECT seq, record_hash, key_id, seal FROM ledger_base").fetchone()
    if row is None:
        return (0, ZERO_HASH)
    seq, record_hash, key_id, seal = row
    public_b64 = keys.get(key_id)
    if public_b64 is None or not verify(
        public_key_from_b64(public_b64), seal, base_bytes(seq, record_hash)
    ):
        return Finding(seq, "retention base does not carry a valid device seal")
    return (seq, record_hash)


def verify_ledger(path: Path, vault: IdentityVault | None = None) -> Report:
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {path}")
    try:
        conn = connect(path, readonly=True)
    except sqlite3.DatabaseError as exc:
        return Report(0, 0, Finding(0, f"ledger unreadable: {exc}"))
    try:
        keys = dict(conn.execute("SELECT key_id, public_key FROM device_keys"))
        base = _base(conn, keys)
        if isinstance(base, Finding):
            return Report(0, 0, base)
        cursor = conn.execute(
            "SELECT r.seq, r.evaluation_id, r.record, r.record_hash, r.has_identity, r.seal,"
            " i.sealed FROM ratings r LEFT JOIN rater_identities i ON i.seq = r.seq"
            " ORDER BY r.seq"
        )
        rows = (
            LedgerRow(seq, eid, text, h, bool(has), seal, sealed)
            for seq, eid, text, h, has, seal, sealed in cursor
        )
        return check_rows(rows, keys, vault, base)
    except sqlite3.DatabaseError as exc:
        return Report(0, 0, Finding(0, f"ledger unreadable: {exc}"))
    finally:
        conn.close()

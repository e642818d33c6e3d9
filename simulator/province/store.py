"""The stand-in province's SQLite file: enrol tokens, devices and keys, nonces, heartbeats,
tag lists; ratings and their audit come from `ratings.py`. Threads may share one store.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from simulator.province.audit import AuditFlag, ChainView
from simulator.province.gm.tables import GmTables
from simulator.province.ratings import CheckedRecord, RatingTables, StoreResult, decide
from simulator.province.receipts import ProvinceKey
from simulator.province.schema import migrations

__all__ = [
    "AuditFlag",
    "ChainView",
    "CheckedRecord",
    "EnrolOutcome",
    "Enrolment",
    "ProvinceStore",
    "StoreResult",
    "decide",
    "migrations",
]

NONCE_SECONDS = 600
NONCE_PRUNE_EVERY = 60.0


@dataclass(frozen=True)
class KeyRotation:
    """A new key with the certificate its previous key signed (spec v1.1)."""

    key_id: str
    public_key: str
    previous_key_id: str
    issued_at: int
    certificate: str


@dataclass(frozen=True)
class Enrolment:
    token: str
    public_key: str
    key_id: str
    serial: str
    model: str
    firmware: str
    site: dict[str, Any]


EnrolStatus = Literal[
    "enrolled", "repeat", "unknown_token", "expired_token", "token_used", "key_taken"
]


@dataclass(frozen=True)
class EnrolOutcome:
    status: EnrolStatus
    device_id: str | None = None


class ProvinceStore(GmTables, RatingTables):
    """Everything the stand-in province remembers, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._next_prune = 0.0

    # --- enrolment -------------------------------------------------------------------

    def add_token(self, token: str, ttl_seconds: float, *, now: float | None = None) -> None:
        """Issue an enrol token (or extend an existing one's expiry; a used token stays used)."""
        expires_at = (time.time() if now is None else now) + ttl_seconds
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO enrol_tokens (token, expires_at) VALUES (?, ?) "
                "ON CONFLICT(token) DO UPDATE SET expires_at = excluded.expires_at",
                (token, expires_at),
            )

    def enroll(self, enrolment: Enrolment, now: float) -> EnrolOutcome:
        """Spend a token on one device; the same key and token again gets the same device."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT expires_at, used_by_public_key, device_id FROM enrol_tokens "
                "WHERE token = ?",
                (enrolment.token,),
            ).fetchone()
            if row is None:
                return EnrolOutcome("unknown_token")
            expires_at, used_by, device_id = row
            if used_by is not None:
                if used_by == enrolment.public_key:
                    return EnrolOutcome("repeat", device_id)
                return EnrolOutcome("token_used")
            if expires_at <= now:
                return EnrolOutcome("expired_token")
            taken = conn.execute(
                "SELECT 1 FROM device_keys WHERE key_id = ?", (enrolment.key_id,)
            ).fetchone()
            if taken is not None:
                return EnrolOutcome("key_taken")
            device_id = self._insert_device(conn, enrolment, now)
            conn.execute(
                "UPDATE enrol_tokens SET used_by_public_key = ?, device_id = ? WHERE token = ?",
                (enrolment.public_key, device_id, enrolment.token),
            )
            return EnrolOutcome("enrolled", device_id)

    @staticmethod
    def _insert_device(conn: sqlite3.Connection, enrolment: Enrolment, now: float) -> str:
        device_id = "hcp-" + secrets.token_hex(8)
        site = json.dumps(enrolment.site, sort_keys=True, ensure_ascii=False)
        conn.execute(
            "INSERT INTO devices (device_id, serial, model, firmware, site, enrolled_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, enrolment.serial, enrolment.model, enrolment.firmware, site, now),
        )
        conn.execute(
            "INSERT INTO device_keys (key_id, device_id, public_key, added_at) VALUES (?, ?, ?, ?)",
            (enrolment.key_id, device_id, enrolment.public_key, now),
        )
        return device_id

    def add_key(self, device_id: str, rotation: KeyRotation, now: float) -> None:
        """Register another key for an enrolled device (key rotation); old keys stay valid."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO device_keys (key_id, device_id, public_key, added_at,"
                " previous_key_id, issued_at, certificate) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rotation.key_id,
                    device_id,
                    rotation.public_key,
                    now,
                    rotation.previous_key_id,
                    rotation.issued_at,
                    rotation.certificate,
                ),
            )

    def key_history(self, device_id: str) -> list[dict[str, Any]]:
        """`GET /devices/{id}/keys`: every key of the device, oldest first."""
        rows = self.query(
            "SELECT key_id, public_key, added_at, previous_key_id, issued_at, certificate"
            " FROM device_keys WHERE device_id = ? ORDER BY added_at, rowid",
            (device_id,),
        )
        return [
            {
                "keyId": key_id,
                "publicKey": public,
                "enrolledAt": added,
                "previousKeyId": previous,
                "issuedAt": issued,
                "certificate": certificate,
            }
            for key_id, public, added, previous, issued, certificate in rows
        ]

    def latest_key_id(self, device_id: str) -> str | None:
        rows = self.query(
            "SELECT key_id FROM device_keys WHERE device_id = ? ORDER BY added_at DESC, rowid DESC"
            " LIMIT 1",
            (device_id,),
        )
        return rows[0][0] if rows else None

    def device(self, device_id: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT device_id, serial, model, firmware, site, enrolled_at FROM devices "
            "WHERE device_id = ?",
            (device_id,),
        )
        if not rows:
            return None
        device_id, serial, model, firmware, site, enrolled_at = rows[0]
        return {
            "device_id": device_id,
            "serial": serial,
            "model": model,
            "firmware": firmware,
            "site": json.loads(site),
            "enrolled_at": enrolled_at,
        }

    def device_keys(self, device_id: str) -> dict[str, str]:
        """Every key registered to a device: keyId → public key (base64)."""
        rows = self.query(
            "SELECT key_id, public_key FROM device_keys WHERE device_id = ?", (device_id,)
        )
        return dict(rows)

    def key(self, key_id: str) -> tuple[str, str] | None:
        """The device a key belongs to and the key itself (base64), if registered."""
        rows = self.query(
            "SELECT device_id, public_key FROM device_keys WHERE key_id = ?", (key_id,)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    # --- the province's own key (v1.1 receipts) ----------------------------------------

    def province_key(self, now: float) -> ProvinceKey:
        """The key that signs receipts: the one kept in this file, made at first use."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT private_pem FROM province_keys ORDER BY created_at, rowid LIMIT 1"
            ).fetchone()
            if row is not None:
                private = serialization.load_pem_private_key(row[0].encode("ascii"), None)
                if not isinstance(private, Ed25519PrivateKey):
                    raise ValueError("the stored province key is not Ed25519")
                return ProvinceKey(private)
            key = ProvinceKey.generate()
            pem = key.private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            conn.execute(
                "INSERT INTO province_keys (key_id, private_pem, created_at) VALUES (?, ?, ?)",
                (key.key_id, pem.decode("ascii"), now),
            )
            return key

    # --- request nonces ----------------------------------------------------------------

    def remember_nonce(self, nonce: str, now: float) -> bool:
        """Record a request nonce; False when it was already seen in the last 600 s."""
        with self._transaction() as conn:
            if now >= self._next_prune:
                conn.execute("DELETE FROM nonces WHERE seen_at < ?", (now - NONCE_SECONDS,))
                self._next_prune = now + NONCE_PRUNE_EVERY
            cursor = conn.execute(
                "INSERT INTO nonces (nonce, seen_at) VALUES (?, ?) ON CONFLICT(nonce) "
                "DO UPDATE SET seen_at = excluded.seen_at WHERE nonces.seen_at < ?",
                (nonce, now, now - NONCE_SECONDS),
            )
            return cursor.rowcount == 1

    # --- heartbeats --------------------------------------------------------------------

    def record_heartbeat(self, device_id: str, heartbeat: dict[str, Any], now: float) -> None:
        """Keep a device's latest heartbeat (the validated body) and when it came."""
        body = json.dumps(heartbeat, sort_keys=True, ensure_ascii=False)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO heartbeats (device_id, received_at, body, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT(device_id) DO UPDATE SET received_at = excluded.received_at, "
                "body = excluded.body, count = heartbeats.count + 1",
                (device_id, now, body),
            )

    def heartbeat(self, device_id: str) -> dict[str, Any] | None:
        """`{"receivedAt": unix seconds, "count": n, "body": {…}}` of the latest heartbeat."""
        rows = self.query(
            "SELECT received_at, count, body FROM heartbeats WHERE device_id = ?", (device_id,)
        )
        if not rows:
            return None
        received_at, count, body = rows[0]
        return {"receivedAt": received_at, "count": count, "body": json.loads(body)}

    # --- tag lists ---------------------------------------------------------------------

    def publish_tag_list(self, version: str, body: dict[str, Any], now: float) -> bool:
        """Make a tag list the current one; False if *version* was published with other tags."""
        text = json.dumps(body, sort_keys=True, ensure_ascii=False)
        with self._transaction() as conn:
            row = conn.execute("SELECT body FROM tag_lists WHERE version = ?", (version,))
            earlier = row.fetchone()
            if earlier is not None and earlier[0] != text:
                return False
            conn.execute("DELETE FROM tag_lists WHERE version = ?", (version,))
            conn.execute(
                "INSERT INTO tag_lists (version, body, published_at) VALUES (?, ?, ?)",
                (version, text, now),
            )
        return True

    def tag_lists(self) -> list[dict[str, Any]]:
        """Every published tag list, oldest first; the last one is current."""
        rows = self.query("SELECT body FROM tag_lists ORDER BY rowid")
        return [json.loads(body) for (body,) in rows]

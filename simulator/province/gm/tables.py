"""What the stand-in keeps for its 国密 dialect: apps, tokens, registered devices, the
province's id of each stored rating, and its own SM2 key. A registered device is also put
in the shared device tables (its Ed25519 evidence key as its one key), so its ratings are
checked, chained, flagged and shown exactly as a JSON device's."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from device.keys.signing import key_id_of
from device.keys.sm2 import Sm2Key
from simulator.province.database import SqliteFile, select_in

RegisterOutcome = Literal["registered", "repeat", "other_keys"]


@dataclass(frozen=True)
class GmDevice:
    device_no: str
    app_key: str
    sm2_public: str
    evidence_key: str  # base64 of the raw Ed25519 key


class GmTables(SqliteFile):
    def issue_app(self, now: float) -> tuple[str, str]:
        """A new appKey and its appSecret (32 hex characters), as issued out of band."""
        app_key, app_secret = "app-" + secrets.token_hex(6), secrets.token_hex(16)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO gm_apps (app_key, app_secret, created_at) VALUES (?, ?, ?)",
                (app_key, app_secret, now),
            )
        return app_key, app_secret

    def app_secret(self, app_key: str) -> str | None:
        rows = self.query("SELECT app_secret FROM gm_apps WHERE app_key = ?", (app_key,))
        return rows[0][0] if rows else None

    def issue_gm_token(self, app_key: str, now: float, ttl_s: float) -> str:
        token = secrets.token_urlsafe(24)
        with self._transaction() as conn:
            conn.execute("DELETE FROM gm_tokens WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO gm_tokens (token, app_key, expires_at) VALUES (?, ?, ?)",
                (token, app_key, now + ttl_s),
            )
        return token

    def token_app(self, token: str, now: float) -> str | None:
        """The app a token was issued to, None when unknown or expired."""
        rows = self.query(
            "SELECT app_key FROM gm_tokens WHERE token = ? AND expires_at > ?", (token, now)
        )
        return rows[0][0] if rows else None

    def expire_gm_token(self, token: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM gm_tokens WHERE token = ?", (token,))

    def gm_device(self, device_no: str) -> GmDevice | None:
        rows = self.query(
            "SELECT device_no, app_key, sm2_public, evidence_key FROM gm_devices "
            "WHERE device_no = ?",
            (device_no,),
        )
        return GmDevice(*rows[0]) if rows else None

    def register_gm_device(
        self, device: GmDevice, site: dict[str, Any], now: float
    ) -> RegisterOutcome:
        """Register a device with its SM2 and evidence keys; the same keys again is a repeat,
        other keys for a registered deviceNo are refused."""
        key_id = key_id_of(_raw(device.evidence_key))
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT sm2_public, evidence_key FROM gm_devices WHERE device_no = ?",
                (device.device_no,),
            ).fetchone()
            if row is not None:
                same = tuple(row) == (device.sm2_public, device.evidence_key)
                return "repeat" if same else "other_keys"
            taken = conn.execute(
                "SELECT device_id FROM device_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            taken_device = conn.execute(
                "SELECT 1 FROM devices WHERE device_id = ?", (device.device_no,)
            ).fetchone()
            if taken is not None or taken_device is not None:
                return "other_keys"
            conn.execute(
                "INSERT INTO gm_devices (device_no, app_key, sm2_public, evidence_key, "
                "registered_at) VALUES (?, ?, ?, ?, ?)",
                (device.device_no, device.app_key, device.sm2_public, device.evidence_key, now),
            )
            conn.execute(
                "INSERT INTO devices (device_id, serial, model, firmware, site, enrolled_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    device.device_no,
                    "国密 gm-soap",  # what the officer's page shows as its serial
                    "gm-soap",
                    "",
                    json.dumps(site, sort_keys=True, ensure_ascii=False),
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO device_keys (key_id, device_id, public_key, added_at) "
                "VALUES (?, ?, ?, ?)",
                (key_id, device.device_no, device.evidence_key, now),
            )
        return "registered"

    def unids(self, evaluation_ids: list[str]) -> dict[str, str]:
        """The province's id of each stored rating, made the first time it is asked for, the
        same ever after."""
        with self._transaction() as conn:
            sql = "SELECT evaluation_id, unid FROM gm_unids WHERE evaluation_id IN ({})"
            known = dict(select_in(conn, sql, evaluation_ids))
            for evaluation_id in evaluation_ids:
                if evaluation_id not in known:
                    known[evaluation_id] = "UNID" + secrets.token_hex(12).upper()
                    conn.execute(
                        "INSERT INTO gm_unids (evaluation_id, unid) VALUES (?, ?)",
                        (evaluation_id, known[evaluation_id]),
                    )
        return known

    def gm_province_key(self, now: float) -> Sm2Key:
        """The province's SM2 key that signs every answer: made at first use, kept."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT secret_hex FROM gm_province_key WHERE name = 'province'"
            ).fetchone()
            if row is not None:
                return Sm2Key.from_secret(int(row[0], 16))
            key = Sm2Key.generate()
            conn.execute(
                "INSERT INTO gm_province_key (name, secret_hex, created_at) VALUES (?, ?, ?)",
                ("province", f"{key.secret:064x}", now),
            )
            return key


def _raw(b64: str) -> bytes:
    return base64.b64decode(b64, validate=True)

"""Tables of the stand-in province's SQLite file, as named migrations applied at open.

Migration names are recorded in the file; never rename one, add the next instead.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("province")


@migrations(name="001_initial")
def _initial(db: Database) -> None:
    db.table("enrol_tokens").create(
        {"token": str, "expires_at": float, "used_by_public_key": str, "device_id": str},
        pk="token",
    )
    db.table("devices").create(
        {
            "device_id": str,
            "serial": str,
            "model": str,
            "firmware": str,
            "site": str,
            "enrolled_at": float,
        },
        pk="device_id",
    )
    db.table("device_keys").create(
        {"key_id": str, "device_id": str, "public_key": str, "added_at": float}, pk="key_id"
    )
    db.table("device_keys").create_index(["device_id"])
    db.table("evaluations").create(
        {
            "evaluation_id": str,
            "device_id": str,
            "key_id": str,
            "seq": int,
            "prev_hash": str,
            "record_hash": str,
            "project_no": str,
            "assess_number": int,
            "satisfaction": int,
            "canonical": str,
            "received_at": float,
        },
        pk="evaluation_id",
    )
    db.table("evaluations").create_index(["device_id", "seq"])
    db.table("rated_cases").create(
        {"project_no": str, "assess_number": int, "evaluation_id": str},
        pk=("project_no", "assess_number"),
    )
    db.table("nonces").create({"nonce": str, "seen_at": float}, pk="nonce")
    db.table("nonces").create_index(["seen_at"])
    db.table("audit_flags").create(
        {
            "id": int,
            "device_id": str,
            "kind": str,
            "seq": int,
            "evaluation_id": str,
            "detail": str,
            "flagged_at": float,
        },
        pk="id",
    )
    db.table("audit_flags").create_index(["device_id"])


@migrations(name="002_heartbeats_and_tag_lists")
def _heartbeats_and_tag_lists(db: Database) -> None:
    """The latest heartbeat per device, and every tag list the province has published."""
    db.table("heartbeats").create(
        {"device_id": str, "received_at": float, "body": str, "count": int}, pk="device_id"
    )
    db.table("tag_lists").create({"version": str, "body": str, "published_at": float}, pk="version")


@migrations(name="003_key_history")
def _key_history(db: Database) -> None:
    """Version 1.1: each rotated key keeps the previous key's certificate."""
    keys = db.table("device_keys")
    keys.add_column("previous_key_id", str)
    keys.add_column("issued_at", int)
    keys.add_column("certificate", str)


@migrations(name="004_province_key")
def _province_key(db: Database) -> None:
    """Version 1.1: the province's own Ed25519 key, which signs every receipt. The time a
    rating was first stored is `evaluations.received_at` already (a duplicate repeats it)."""
    db.table("province_keys").create(
        {"key_id": str, "private_pem": str, "created_at": float}, pk="key_id"
    )


@migrations(name="005_gm_province")
def _gm_province(db: Database) -> None:
    """The 国密 dialect: apps issued out of band, gateway tokens, devices registered with
    their SM2 key, the province's id of each stored rating and the province's SM2 key."""
    db.table("gm_apps").create(
        {"app_key": str, "app_secret": str, "created_at": float}, pk="app_key"
    )
    db.table("gm_tokens").create({"token": str, "app_key": str, "expires_at": float}, pk="token")
    db.table("gm_devices").create(
        {
            "device_no": str,
            "app_key": str,
            "sm2_public": str,
            "evidence_key": str,
            "registered_at": float,
        },
        pk="device_no",
    )
    db.table("gm_unids").create({"evaluation_id": str, "unid": str}, pk="evaluation_id")
    db.table("gm_province_key").create(
        {"name": str, "secret_hex": str, "created_at": float}, pk="name"
    )

"""Personal data after delivery, as an attacker holding the ledger's files would look for it:
the real sync, the stand-in province, a real ledger file and its WAL. (Ratings whose personal
data cannot be restored: test_identity_lost.py.)"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from device.keys.identity_vault import IdentityVault, VaultError
from device.ledger.verify import verify_ledger
from sync.cli import build

NAME = "欧阳秘密"
CERT_KEY = "5e884898da28047151d0e56f8dc62927"


def person(n: int) -> dict[str, str]:
    return {"userName": f"{NAME}{n}", "certType": "111", "certKey": f"{CERT_KEY}{n:02d}"}


def sealed_blobs(ledger_path: Path) -> dict[str, bytes]:
    """evaluationId → the sealed identity as it sits in the ledger now."""
    with sqlite3.connect(ledger_path) as conn:
        rows = conn.execute(
            "SELECT r.evaluation_id, i.sealed FROM rater_identities i JOIN ratings r USING (seq)"
        ).fetchall()
    return dict(rows)


def ledger_files(ledger_path: Path) -> dict[str, bytes]:
    """The raw bytes of the ledger, its WAL and its shared-memory index, free pages and all."""
    return {
        path.name: path.read_bytes()
        for suffix in ("", "-wal", "-shm")
        if (path := ledger_path.with_name(ledger_path.name + suffix)).exists()
    }


def assert_no_trace(ledger_path: Path, blobs: dict[str, bytes]) -> None:
    for name, raw in ledger_files(ledger_path).items():
        assert NAME.encode() not in raw, f"a rater's name in {name}"
        assert CERT_KEY.encode() not in raw, f"a certificate hash in {name}"
        for blob in blobs.values():
            assert blob not in raw, f"a sealed identity in {name}"
            assert blob[12:28] not in raw, f"part of a sealed identity in {name}"


def assert_nothing_opens(ledger_path: Path, vault: IdentityVault, blobs: dict[str, bytes]) -> None:
    """The identity key opens nothing found at any offset of any of the files."""
    files = ledger_files(ledger_path)
    for eid, blob in blobs.items():
        for raw in files.values():
            for offset in range(len(raw) - len(blob) + 1):
                with pytest.raises(VaultError):
                    vault.open(eid, raw[offset : offset + len(blob)])


def test_delivered_personal_data_cannot_be_found_in_the_ledgers_files(device, province):
    """The sync runs on as the service does (its connection open, the WAL kept), and so does
    the evaluator's connection (device.ledger); the files are read while both are open."""
    stored = [device.record(n, identity=person(n)) for n in range(6)]
    blobs = sealed_blobs(device.config.ledger_path)
    assert len(blobs) == 6
    wal = ledger_files(device.config.ledger_path)["ledger.db-wal"]
    assert all(blob in wal for blob in blobs.values())  # where an attacker found them before
    device.ledger.checkpoint()  # the evaluator's quiet checkpoint: now in the file as well
    assert all(blob in device.config.ledger_path.read_bytes() for blob in blobs.values())
    daemon = build(device.config)
    try:
        assert daemon.run_until_empty(30) == 0
        for n, rating in enumerate(stored):  # the province got the personal data
            assert province.store.evaluation(rating.evaluation_id)["userName"] == f"{NAME}{n}"
        assert sealed_blobs(device.config.ledger_path) == {}
        assert_no_trace(device.config.ledger_path, blobs)
        device.record(6)  # the evaluator goes on storing ratings
        assert daemon.run_until_empty(30) == 0
        assert_no_trace(device.config.ledger_path, blobs)
        assert_nothing_opens(device.config.ledger_path, device.vault, blobs)
    finally:
        daemon.sender.close()
        daemon.sender.adapter.close()
        daemon.ledger.close()
    report = verify_ledger(device.config.ledger_path, device.vault)
    assert report.ok and report.rows == 7  # the purged rows still verify through their seal


def test_a_reader_on_an_old_snapshot_delays_the_scrub_but_never_a_rating(device, province):
    """The evaluator's connection may be in the middle of a read when the sync purges: the
    checkpoint that empties the WAL cannot complete then. It must not wait (the evaluator
    would wait behind it to store a press): it is tried again at the next round."""
    for n in range(3):
        device.record(n, identity=person(n))
    blobs = sealed_blobs(device.config.ledger_path)
    reader = sqlite3.connect(device.config.ledger_path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM rater_identities").fetchone() == (3,)
    daemon = build(device.config)
    daemon.ledger.conn.execute("PRAGMA busy_timeout = 60000")  # a waiting scrub would show
    try:
        started = time.monotonic()
        assert daemon.run_until_empty(30) == 0
        pressed = device.record(3)  # the evaluator stores a press meanwhile
        assert pressed.seq == 4
        daemon.step()  # one more round, the scrub tried again
        assert time.monotonic() - started < 20  # no round waited for the reader
        assert sealed_blobs(device.config.ledger_path) == {}
        assert daemon.ledger.scrub_purged() is False  # still pending, not forgotten
        reader.execute("COMMIT")  # the evaluator's read is over
        daemon.step()  # the next round empties the WAL
        assert ledger_files(device.config.ledger_path)["ledger.db-wal"] == b""
    finally:
        reader.close()
        daemon.sender.close()
        daemon.sender.adapter.close()
        daemon.ledger.close()
    assert_no_trace(device.config.ledger_path, blobs)

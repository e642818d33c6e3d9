"""The ledger as the rater and the province depend on it: durable, chained, private."""

from __future__ import annotations

import sqlite3

import pytest

from device.keys.signing import public_key_from_b64, verify_record
from device.ledger.store import Ledger, LedgerError
from device.ledger.verify import verify_ledger
from device.record.canonical import ZERO_HASH, record_hash
from device.record.rating import Level
from tests.support.records import make_body

NAME = "张秀英"
CERT_KEY = "9f2c1e0b7d4a5c3e"


def test_ratings_are_chained_and_signed_as_the_province_expects(ledger, key):
    first = ledger.append(make_body(1), key)
    second = ledger.append(make_body(2, Level.VERY_SATISFIED), key)
    assert (first.seq, second.seq) == (1, 2)
    assert first.record["prevHash"] == ZERO_HASH
    assert second.record["prevHash"] == record_hash(first.record)
    public = public_key_from_b64(key.public_b64)
    assert verify_record(public, first.record)
    assert verify_record(public, second.record)
    assert second.record["keyId"] == key.key_id
    assert second.record["satisfaction"] == 5


def test_a_committed_rating_survives_reopening_the_file(ledger_path, key):
    with Ledger(ledger_path) as led:
        stored = led.append(make_body(1), key)
    with Ledger(ledger_path) as led:
        assert [r.evaluation_id for r in led.unsent(10)] == [stored.evaluation_id]
        assert led.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert led.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_personal_data_is_encrypted_at_rest_and_deleted_on_delivery(
    ledger, ledger_path, key, vault
):
    body = make_body(1, identity={"userName": NAME, "certType": "111", "certKey": CERT_KEY})
    stored = ledger.append(body, key, vault)
    raw = ledger_path.read_bytes() + ledger_path.with_name("ledger.db-wal").read_bytes()
    assert NAME.encode() not in raw and CERT_KEY.encode() not in raw
    outgoing = ledger.unsent(10, vault)
    assert outgoing[0].record["userName"] == NAME  # the province still gets it
    assert verify_record(public_key_from_b64(key.public_b64), outgoing[0].record)

    ledger.mark_delivered({stored.evaluation_id: "accepted"}, "2026-11-21T03:05:00+00:00")
    assert ledger.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0] == 0
    assert ledger.backlog() == 0
    report = verify_ledger(ledger_path, vault)
    assert report.ok and report.rows == 1  # purged rows stay verifiable through the seal


def test_personal_data_needs_the_vault(ledger, key):
    with pytest.raises(LedgerError, match="identity key"):
        ledger.append(make_body(1, identity={"userName": NAME}), key)
    assert ledger.count() == 0


def test_unsent_respects_limit_order_and_byte_budget(ledger, key):
    for n in range(10):
        ledger.append(make_body(n), key)
    assert [r.seq for r in ledger.unsent(3)] == [1, 2, 3]
    one_record = len(ledger.unsent(1)[0].record["taskName"]) + 900
    assert len(ledger.unsent(10, max_bytes=2 * one_record)) < 10


def test_delivery_and_quarantine_take_ratings_out_of_the_backlog(ledger, key):
    ids = [ledger.append(make_body(n), key).evaluation_id for n in range(4)]
    assert ledger.mark_delivered({ids[0]: "accepted", ids[1]: "duplicate"}, "t") == 2
    assert ledger.mark_delivered({ids[0]: "accepted"}, "t") == 0  # already delivered
    ledger.quarantine({ids[2]: ("E_FIELD", "taskCode too long")})
    assert [r.evaluation_id for r in ledger.unsent(10)] == [ids[3]]
    assert (ledger.backlog(), ledger.quarantined()) == (1, 1)
    with pytest.raises(ValueError, match="delivery status"):
        ledger.mark_delivered({ids[3]: "rejected"}, "t")


def test_a_read_only_ledger_refuses_the_rating_instead_of_losing_it(ledger_path, key):
    with Ledger(ledger_path) as led:
        led.append(make_body(1), key)
        led.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(LedgerError, match="rating not stored"):
            led.append(make_body(2), key)
        led.conn.execute("PRAGMA query_only = OFF")
        assert led.count() == 1
        assert led.append(make_body(3), key).seq == 2  # no gap after the failure


def test_a_full_disk_refuses_the_rating_and_keeps_the_chain(ledger_path, key):
    with Ledger(ledger_path) as led:
        led.append(make_body(1), key)
        pages = led.conn.execute("PRAGMA page_count").fetchone()[0]
        led.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(LedgerError, match="full"):
            for n in range(2, 500):
                led.append(make_body(n), key)
        count = led.count()
    report = verify_ledger(ledger_path)
    assert report.ok and report.rows == count


def test_migrations_are_recorded_once(ledger_path):
    Ledger(ledger_path).close()
    Ledger(ledger_path).close()
    conn = sqlite3.connect(ledger_path)
    names = [n for (n,) in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [
        "0001_ratings",
        "0002_case_outcomes",
        "0003_sync_state_and_base",
        "0004_key_history_and_receipts",
        "0005_case_events",
        "0006_pending_bad_presses",
        "0007_identity_losses",
        "0008_identity_key_check",
        "0009_gm_answers",
        "0010_web_reactions",
    ]


def test_several_programs_opening_a_new_ledger_at_once_all_succeed(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, pathlib; from device.ledger.store import Ledger; "
        "Ledger(pathlib.Path(sys.argv[1])).close()"
    )
    for _ in range(5):
        path = tmp_path / f"first-boot-{_}.db"
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=60)[1] for p in starts]
        assert [p.returncode for p in starts] == [0, 0, 0, 0], errors

"""A 国密 province's signed answers are kept in the ledger, so every delivery mark stays
provable: `verify-ledger --province-sm2-key` passes a ledger delivered honestly and names a
mark set by hand, an answer altered in the file, and a receipt borrowed from another rating;
retention takes the answers away with the last rating they prove."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

from device.ledger.delivery_proof import GM_BAD_ANSWER, GM_NOT_ACKNOWLEDGED, NO_RECEIPT
from device.ledger.verify import verify_ledger
from sync.jobs import Jobs
from sync.sender import Sender
from tests.support import ROOT
from tests.support.gm import GmDeviceUnderTest, gm_province


def _delivered_device(tmp_path: Path, province, count: int) -> GmDeviceUnderTest:
    device = GmDeviceUnderTest(tmp_path / "device", province)
    for n in range(count):
        device.record(n)
    sender = Sender(device.ledger, device.adapter(), device.vault, overlap=False)
    while sender.send_round().sent:
        pass
    sender.close()
    return device


def _problems(device: GmDeviceUnderTest, key: str) -> list[str]:
    report = verify_ledger(device.config.ledger_path, province_sm2_key=key)
    assert report.receipts_checked
    return [f.problem for f in report.findings]


def test_marks_are_proven_by_the_kept_answers_and_forgeries_are_named(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        device = _delivered_device(tmp_path, province, 3)
        key = province.gm.public_key
        assert _problems(device, key) == []
        cli = subprocess.run(
            [sys.executable, "-m", "device", "verify-ledger", str(device.config.ledger_path),
             "--province-sm2-key", key],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        hidden = device.record(99)  # a bad rating someone would rather the province never saw
        path = device.config.ledger_path
        device.close()
        conn = sqlite3.connect(path)
        receipts = [
            r[0] for r in conn.execute("SELECT receipt FROM ratings WHERE receipt IS NOT NULL")
        ]
        with conn:  # marked delivered by hand, with a made-up receipt
            conn.execute(
                "UPDATE ratings SET delivery = 'accepted', receipt = ? WHERE evaluation_id = ?",
                ("gm-sm2:UNIDFAKE@" + "0" * 64, hidden.evaluation_id),
            )
        assert "delivered to a 国密 province, but the signed answer" in " ".join(
            _problems_at(path, key)
        )
        with conn:  # … or with a real receipt borrowed from another rating
            conn.execute(
                "UPDATE ratings SET receipt = ? WHERE evaluation_id = ?",
                (receipts[0], hidden.evaluation_id),
            )
        assert _problems_at(path, key) == [GM_NOT_ACKNOWLEDGED]
        with conn:  # … or with no receipt at all
            conn.execute(
                "UPDATE ratings SET receipt = NULL WHERE evaluation_id = ?", (hidden.evaluation_id,)
            )
        assert _problems_at(path, key) == [NO_RECEIPT]
        with conn:
            conn.execute(
                "UPDATE ratings SET delivery = NULL WHERE evaluation_id = ?",
                (hidden.evaluation_id,),
            )
            conn.execute(
                "UPDATE gm_answers SET payload = replace(payload, 'accepted', 'duplicate')"
            )
        problems = _problems_at(path, key)
        assert problems == [GM_BAD_ANSWER] * 3  # the altered answer no longer verifies
        conn.close()


def _problems_at(path: Path, key: str) -> list[str]:
    return [f.problem for f in verify_ledger(path, province_sm2_key=key).findings]


def test_retention_removes_the_answers_with_the_ratings_they_prove(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        device = _delivered_device(tmp_path, province, 130)  # two calls: two answers
        path = device.config.ledger_path
        assert device.ledger.conn.execute("SELECT count(*) FROM gm_answers").fetchone()[0] == 2
        later = datetime.now(UTC) + timedelta(days=device.config.sync.retention_days + 1)
        with time_machine.travel(later, tick=False):
            assert Jobs(device.config, device.key).retention() == 130
        assert device.ledger.conn.execute("SELECT count(*) FROM gm_answers").fetchone()[0] == 0
        device.close()
        assert verify_ledger(path, province_sm2_key=province.gm.public_key).ok


def test_retention_keeps_a_rating_whose_mark_is_not_proven(tmp_path: Path) -> None:
    """A rating marked delivered by hand is never removed as if the province had it."""
    with gm_province(tmp_path / "province.db") as province:
        device = _delivered_device(tmp_path, province, 2)
        hidden = device.record(50)
        device.ledger.conn.execute(
            "UPDATE ratings SET delivery = 'accepted', delivered_at = ?, receipt = ?"
            " WHERE evaluation_id = ?",
            ("2026-01-01T00:00:00+00:00", "gm-sm2:UNIDFAKE@" + "1" * 64, hidden.evaluation_id),
        )
        later = datetime.now(UTC) + timedelta(days=device.config.sync.retention_days + 1)
        with time_machine.travel(later, tick=False):
            assert Jobs(device.config, device.key).retention() == 2  # stops at the forged mark
        assert device.ledger.count() == 1
        device.close()

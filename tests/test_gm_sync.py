"""Ratings to a 国密 province through the real parts: a device provisioned with gm-enroll,
the stand-in's gm-soap dialect on 127.0.0.1, SOAP with SM4-sealed payloads and SM2
signatures both ways."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from device.record.rating import Level
from sync.gm.adapter import RECEIPT_PREFIX
from tests.support.gm import GmDeviceUnderTest, gm_province


def test_every_rating_arrives_once_recent_and_late_alike(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        recent = [device.record(n) for n in range(5)]
        late = [device.record(10 + n, age=timedelta(days=3)) for n in range(4)]
        bad = device.record(20, level=Level.VERY_DISSATISFIED)
        daemon = device.daemon()
        try:
            assert daemon.run_until_empty(30) == 0
        finally:
            daemon.sender.close()
            daemon.ledger.close()
        stored = set(province.store.evaluation_ids())
        sent = {r.evaluation_id for r in [*recent, *late, bad]}
        assert stored == sent
        for rating in [*recent, *late, bad]:
            row = province.store.evaluation(rating.evaluation_id)
            assert row is not None
        receipts = device.ledger.conn.execute(
            "SELECT receipt FROM ratings WHERE delivery IS NOT NULL"
        ).fetchall()
        assert len(receipts) == len(sent)
        assert all(r[0].startswith(RECEIPT_PREFIX + "UNID") for r in receipts)
        device.close()

"""The gm-soap adapter's rules against the stand-in's 国密 dialect on 127.0.0.1: tokens
renewed once on 40102, the province's clock learnt from 40101, late ratings through
supplementEvaluation (and after 42202), batches of at most 100, retryAfter honoured,
rejections quarantined, and what each evaluation carries."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from device.ledger.verify import verify_ledger
from device.record.canonical import sha256_hex
from device.record.rating import Level
from sync.adapter import DeliveryStatus, OutgoingRecord
from sync.gm import adapter as gm_adapter
from sync.gm import payloads
from sync.province_client import OperatorNeededError, ProvinceClock, RetryableError
from sync.sender import Sender
from tests.support.gm import GmDeviceUnderTest, gm_province


def _outgoing(device: GmDeviceUnderTest, limit: int = 500) -> list[OutgoingRecord]:
    rows = device.ledger.unsent(limit, device.vault, 10**7)
    return [OutgoingRecord(r.record_id, r.canonical, r.seq) for r in rows]


def test_an_evaluation_carries_the_signed_record_its_hash_and_reversed_level(tmp_path: Path):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        for level in Level:
            device.record(int(level), level=level)
        for outgoing in _outgoing(device):
            record = json.loads(outgoing.canonical)
            fields = payloads.evaluation_fields(record, outgoing.canonical)
            assert fields["EVALUATELEVEL"] == str(6 - record["satisfaction"])
            assert fields["DEVICESIGN"] == record["signature"]
            assert fields["RECORDHASH"] == sha256_hex(outgoing.canonical)
            assert base64.b64decode(fields["CANONICAL"]) == outgoing.canonical
            assert fields["EVALUATETYPE"] == "2"  # keypad
        device.close()


def test_batches_hold_at_most_100_and_every_rating_arrives(tmp_path: Path):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        sent = {device.record(n).evaluation_id for n in range(230)}
        sender = Sender(device.ledger, device.adapter(), device.vault, batch_size=500)
        while sender.send_round().sent:
            pass
        sender.close()
        assert province.gm.calls["saveEvaluation"] == 3  # 100 + 100 + 30
        assert set(province.store.evaluation_ids()) == sent
        assert device.ledger.outbox.backlog() == 0
        device.close()


def test_an_expired_token_is_renewed_and_the_call_repeated_once(tmp_path: Path):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        adapter = device.adapter()
        device.record(1)
        assert all(d.delivered for d in adapter.deliver(_outgoing(device)))
        province.store.expire_gm_token(adapter.client.token())  # the province forgot it
        second = device.record(2)
        results = adapter.deliver(
            [r for r in _outgoing(device) if r.evaluation_id == second.evaluation_id]
        )
        assert [d.status for d in results] == [DeliveryStatus.ACCEPTED]
        assert adapter.client.tokens_obtained == 2
        # a province that refuses every token: one repeat, then retry later; nothing stored
        province.faults.set("expired_token")
        third = device.record(3)
        with pytest.raises(RetryableError, match="40102"):
            adapter.deliver(
                [r for r in _outgoing(device) if r.evaluation_id == third.evaluation_id]
            )
        assert adapter.client.tokens_obtained == 3
        assert third.evaluation_id not in province.store.evaluation_ids()
        adapter.close()
        device.close()


def test_the_province_clock_is_learnt_from_40101_and_decides_what_is_late(tmp_path: Path):
    ahead = 3600.0  # the province's clock is an hour ahead of the device's

    with gm_province(tmp_path / "province.db", clock=lambda: time.time() + ahead) as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        clock = ProvinceClock()
        adapter = device.adapter(clock)
        nearly_a_day = device.record(1, age=timedelta(hours=23, minutes=30))
        with pytest.raises(RetryableError, match="clock") as refused:
            adapter.deliver(_outgoing(device))
        assert refused.value.retry_after_s == 0.0
        assert abs(clock.offset_s - ahead) < 5
        results = adapter.deliver(_outgoing(device))
        assert [d.status for d in results] == [DeliveryStatus.ACCEPTED]
        # 23 h 30 min by the device, 24 h 30 min by the province: 补报
        assert province.gm.calls["supplementEvaluation"] == 1
        assert province.gm.calls["saveEvaluation"] == 0
        assert nearly_a_day.evaluation_id in province.store.evaluation_ids()
        adapter.close()
        device.close()


def test_a_save_refused_with_42202_is_sent_again_as_a_supplement(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(gm_adapter, "LATE_AFTER_S", 48 * 3600)  # the device misjudges the age
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        late = device.record(1, age=timedelta(hours=30))
        recent = device.record(2)
        results = device.adapter().deliver(_outgoing(device))
        assert [d.status for d in results] == [DeliveryStatus.ACCEPTED] * 2
        assert province.gm.calls["saveEvaluation"] == 1  # refused whole: nothing stored
        assert province.gm.calls["supplementEvaluation"] == 1
        assert set(province.store.evaluation_ids()) == {late.evaluation_id, recent.evaluation_id}
        device.close()


@pytest.mark.parametrize(
    ("kind", "params", "retry_after"),
    [
        ("rate", {"retry_after": 7}, 7.0),
        ("unavailable", {"retry_after": 9}, 9.0),
        ("down", {"retry_after": 4}, 4.0),
        ("error500", {}, None),
    ],
)
def test_busy_and_failing_provinces_mean_retry_later_as_told(
    tmp_path: Path, kind: str, params: dict, retry_after: float | None
):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        adapter = device.adapter()
        device.record(1)
        adapter.client.token()
        province.faults.set(kind, **params)
        with pytest.raises(RetryableError) as refused:
            adapter.deliver(_outgoing(device))
        assert refused.value.retry_after_s == retry_after
        assert province.store.evaluation_ids() == []
        adapter.close()
        device.close()


def test_rejected_ratings_are_quarantined_with_the_provinces_code(tmp_path: Path):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        kept = device.record(1)
        refused = device.record(2)
        province.faults.set(
            "reject", evaluation_ids=[refused.evaluation_id], code="E_FIELD", field="TASKCODE"
        )
        sender = Sender(device.ledger, device.adapter(), device.vault, overlap=False)
        result = sender.send_round()
        assert (result.delivered, result.quarantined) == (1, 1)
        quarantined = device.ledger.outbox.quarantined_ratings()
        assert [(q.evaluation_id, q.code) for q in quarantined] == [
            (refused.evaluation_id, "E_FIELD")
        ]
        assert province.store.evaluation_ids() == [kept.evaluation_id]
        sender.close()
        device.close()


def test_verify_ledger_names_a_gm_receipt_as_such_never_as_forged(tmp_path: Path):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        device.record(1)
        sender = Sender(device.ledger, device.adapter(), device.vault, overlap=False)
        sender.send_round()
        sender.close()
        assert verify_ledger(device.config.ledger_path).ok
        ed25519_key = base64.b64encode(bytes(range(32))).decode()
        report = verify_ledger(device.config.ledger_path, province_key=ed25519_key)
        assert report.findings[0].problem.startswith("delivered to a 国密 province")
        status = device.sync_cli("status")
        assert "国密 province" in status.stdout, status.stdout
        device.close()


def test_a_device_the_province_does_not_know_needs_an_operator(tmp_path: Path):
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        device.record(1)
        with province.store._transaction() as conn:
            conn.execute("DELETE FROM gm_devices")
        with pytest.raises(OperatorNeededError, match="40103"):
            device.adapter().deliver(_outgoing(device))
        device.close()

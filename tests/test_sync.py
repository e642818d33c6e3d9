"""The sync delivering a real ledger to the stand-in province over real HTTP."""

from __future__ import annotations

import time

import pytest

from device.record.rating import Level
from sync.adapter import OutgoingRecord
from sync.backoff import Backoff
from sync.daemon import SyncDaemon
from sync.province_client import RetryableError
from sync.sender import Sender


def _sender(device, **client_kwargs):
    return Sender(
        device.ledger,
        device.adapter(**client_kwargs),
        device.vault,
        batch_size=device.config.sync.batch_size,
    )


def test_ratings_are_delivered_once_and_lose_their_personal_data(device, province):
    ledger = device.ledger
    ids = [
        device.record(n, identity={"userName": "刘芳", "certKey": f"h{n}"}).evaluation_id
        for n in range(3)
    ]
    result = _sender(device).send_round()
    assert (result.sent, result.delivered, result.quarantined) == (3, 3, 0)
    assert set(province.store.evaluation_ids()) == set(ids)
    assert province.store.evaluation(ids[0])["userName"] == "刘芳"
    assert ledger.backlog() == 0
    assert ledger.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0] == 0
    assert _sender(device).send_round().sent == 0


def test_a_lost_response_is_resent_and_counted_once(device, province):
    vault, ledger = device.vault, device.ledger
    ids = [device.record(n).evaluation_id for n in range(4)]
    sender = _sender(device)
    # The province stores the batch but the answer never reaches the device:
    unsent = ledger.unsent(10, vault)
    sender.adapter.client.post_batch([OutgoingRecord(r.evaluation_id, r.canonical) for r in unsent])
    assert ledger.backlog() == 4
    result = sender.send_round()
    assert result.delivered == 4
    assert [ledger.outbox.delivery_of(eid) for eid in ids] == ["duplicate"] * 4
    assert province.store.evaluation_count() == 4


def test_a_rejected_rating_is_quarantined_and_the_rest_flow(device, province):
    ledger = device.ledger
    good = device.record(1).evaluation_id
    bad = device.record(2, Level.VERY_DISSATISFIED).evaluation_id  # no reason given
    later = device.record(3).evaluation_id
    result = _sender(device).send_round()
    assert (result.delivered, result.quarantined) == (2, 1)
    assert set(province.store.evaluation_ids()) == {good, later}
    row = ledger.conn.execute(
        "SELECT quarantine_code FROM ratings WHERE evaluation_id = ?", (bad,)
    ).fetchone()
    assert row == ("E_REASON_REQUIRED",)
    assert (ledger.backlog(), ledger.quarantined()) == (0, 1)
    assert _sender(device).send_round().sent == 0  # never retried blindly


def test_a_device_clock_far_off_learns_the_province_time(device, province):
    device.record(1)
    sender = _sender(device, wall=lambda: time.time() + 86400 * 365)  # no RTC, no NTP yet
    with pytest.raises(RetryableError) as caught:
        sender.send_round()
    assert caught.value.code == "E_CLOCK"
    assert sender.send_round().delivered == 1


def test_the_daemon_retries_through_an_outage_without_loss(device, province):
    ledger = device.ledger
    ids = [device.record(n).evaluation_id for n in range(5)]
    province.stop()
    daemon = SyncDaemon(
        ledger, _sender(device), idle_poll_s=0.05, backoff=Backoff(base_s=0.05, cap_s=0.2)
    )
    assert daemon.step() > 0
    assert "unreachable" in (daemon.last_error or "")
    assert ledger.backlog() == 5
    province.start()
    assert daemon.run_until_empty(deadline_s=20) == 0
    assert set(province.store.evaluation_ids()) == set(ids)


def test_big_backlogs_go_in_batches_within_the_limits(device, province):
    for n in range(1203):
        device.record(n)
    sender = _sender(device)
    sizes = [sender.send_round().sent for _ in range(4)]
    assert sizes == [500, 500, 203, 0]
    assert province.store.evaluation_count() == 1203

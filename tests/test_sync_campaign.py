"""Every rating delivered exactly once, through every fault the province can throw, through
the sync being killed mid-batch, and through a week offline: to a JSON province and to a
国密 one (gm-soap: SOAP, token gateway, SM2/SM4) alike."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from device.ledger.verify import verify_ledger
from simulator.hall import StandInProvince
from sync.cli import build
from sync.jobs import Jobs
from tests.support.gm import GmDeviceUnderTest
from tests.support.sync import Device

DIALECTS = ["json", "gm-soap"]

GM_FAULTS = [  # what only a 国密 province does: tokens expire, answers are signed
    ("expired_token", {}),
    ("bad_receipt", {"receipt": "foreign_key"}),
]
FAULTS = [
    ("down", {"retry_after": 1}),
    ("down", {"mode": "close"}),
    ("slow", {"delay_ms": 400}),
    ("error500", {}),
    ("rate", {"retry_after": 1}),
    ("unavailable", {"retry_after": 1}),
    ("drop_after_commit", {}),
    ("reject", {"fraction": 0.02, "code": "E_FIELD", "field": "taskCode"}),
]


@pytest.fixture(params=DIALECTS)
def hall(request, tmp_path, province):
    """(province, make_device) for one dialect: the JSON stand-in of the `province` fixture, or
    one speaking gm-soap too with a device provisioned by gm-enroll."""
    if request.param == "json":
        yield province, lambda **sync: Device(tmp_path, province, **sync)
        return
    (tmp_path / "gm").mkdir()
    gm = StandInProvince(tmp_path / "gm", gm=True)
    gm.start()
    try:
        yield gm, lambda **sync: GmDeviceUnderTest(tmp_path / "gm" / "device", gm.server, **sync)
    finally:
        gm.close()


def _assert_exactly_once(province, device, sent: list[str]) -> None:
    held = province.store.evaluation_ids()
    assert len(held) == len(set(held)), "the province stored a rating twice"
    quarantined = {q.evaluation_id for q in device.ledger.outbox.quarantined_ratings()}
    assert set(held) | quarantined == set(sent), "a rating was lost"
    assert not set(held) & quarantined
    assert device.ledger.backlog() == 0


@pytest.mark.slow
def test_fault_campaign_delivers_every_rating_exactly_once(tmp_path, hall):
    province, make_device = hall
    device = make_device(backoff_base_s=0.05, backoff_cap_s=1.0, poll_seconds=1.0)
    faults = FAULTS + (GM_FAULTS if isinstance(device, GmDeviceUnderTest) else [])
    sync = device.sync_process("run", log=tmp_path / "sync.log")
    sent: list[str] = []
    stop = threading.Event()

    def recorder() -> None:  # a busy window: ratings keep coming while faults cycle
        n = 0
        while not stop.is_set() or n < 2100:
            sent.append(device.record(n).evaluation_id)
            n += 1
            if n % 50 == 0:
                time.sleep(0.05)

    thread = threading.Thread(target=recorder)
    thread.start()
    try:
        rng = random.Random(7)
        for _ in range(2):
            for kind, params in faults:  # each fault stays on until it has hit the sync
                before = province.faults.fired_counts().get(kind, 0)
                province.faults.set(kind, probability=rng.choice([0.3, 0.7, 1.0]), **params)
                deadline = time.monotonic() + 15
                while (
                    province.faults.fired_counts().get(kind, 0) == before
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.05)
                time.sleep(0.3)
                province.faults.clear()
                time.sleep(0.2)
        stop.set()
        thread.join()
        province.faults.clear()
        deadline = time.monotonic() + 90
        while device.ledger.backlog() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        sync.send_signal(signal.SIGTERM)
        sync.wait(15)
    assert len(sent) >= 2100
    fired = province.faults.fired_counts()
    assert all(fired.get(kind, 0) > 0 for kind, _ in faults), fired
    _assert_exactly_once(province, device, sent)
    assert verify_ledger(device.config.ledger_path).ok


@pytest.mark.slow
def test_sigkill_in_the_middle_of_batches_loses_and_doubles_nothing(tmp_path, hall):
    province, make_device = hall
    device = make_device(backoff_base_s=0.05, backoff_cap_s=0.5)
    sent = [device.record(n).evaluation_id for n in range(3000)]
    province.faults.set("slow", delay_ms=150)  # keep batches in flight when the kill lands
    rng = random.Random(11)
    kills = 0
    for _ in range(15):
        sync = device.sync_process("run")
        time.sleep(rng.uniform(0.4, 1.2))
        os.kill(sync.pid, signal.SIGKILL)
        sync.wait(10)
        kills += 1
        if device.ledger.backlog() == 0:
            break
    assert kills >= 3
    province.faults.clear()
    finish = device.sync_cli("once", "--timeout", "120")
    assert finish.returncode == 0, finish.stderr
    _assert_exactly_once(province, device, sent)
    assert verify_ledger(device.config.ledger_path).ok


def test_a_week_offline_then_everything_in_order(tmp_path, hall):
    """To a 国密 province the ratings of the first six days go through supplementEvaluation
    (补报): over 24 h old by the province's clock."""
    province, make_device = hall
    start = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        device = make_device(backoff_base_s=0.05, backoff_cap_s=0.2)
        daemon = build(device.config)
        province.stop()  # the provincial system is unreachable for seven days
        sent = []
        for day in range(7):
            for n in range(25):
                sent.append(device.record(day * 100 + n).evaluation_id)
            assert daemon.step() > 0
            traveller.shift(timedelta(days=1))
        status = device.sync_cli("status", "--json")
        assert '"backlog": 175' in status.stdout
        assert '"lastError": "province unreachable' in status.stdout
        assert Jobs(device.config, device.key).retention() == 0  # nothing undelivered goes
        province.start()
        assert daemon.run_until_empty(deadline_s=60) == 0
        held = province.store.evaluation_ids()
        assert held == sent  # in the order they were rated
        if isinstance(device, GmDeviceUnderTest):  # over a day old: every one as 补报
            assert province.server.gm.calls["supplementEvaluation"] >= 2
            assert province.server.gm.calls["saveEvaluation"] == 0
        traveller.shift(timedelta(days=device.config.sync.retention_days + 1))
        assert Jobs(device.config, device.key).retention() == 175
        assert device.ledger.count() == 0
        assert verify_ledger(device.config.ledger_path).ok
        device.record(9999)
        report = verify_ledger(device.config.ledger_path)
        assert report.ok and report.rows == 1  # the chain goes on from the sealed base

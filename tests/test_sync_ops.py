"""What an operator and the province see of the sync: status, quarantine handling, the
heartbeat, tag lists reaching the evaluator, and the monthly export for provinces without
real-time sync."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import time
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from device.keys.signing import DeviceKey
from device.record import tag_catalog
from device.record.canonical import canonical_json
from device.record.rating import Level
from simulator.province.tags import TagList
from sync.adapter import OutgoingRecord
from sync.cli import build
from sync.export_adapter import MonthlyExport
from sync.gbt39046 import header, standard_level
from sync.jobs import Jobs
from sync.province_client import SHARED_CLOCK, RetryableError
from tests.support.evaluator import Driver
from tests.support.sync import Device

KEY = DeviceKey.generate()


def test_status_shows_backlog_age_and_last_error_in_text_and_json(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1)
    text = device.sync_cli("status")
    assert text.returncode == 0
    assert "backlog:        1 ratings" in text.stdout
    assert "last success:   never" in text.stdout
    province.stop()
    daemon = build(device.config)
    daemon.step()
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert status["backlog"] == 1
    assert status["oldestUnsentAgeSeconds"] is not None
    assert status["lastError"].startswith("province unreachable")
    province.start()
    assert daemon.step() == 0.0
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["backlog"], status["lastSuccessAt"] is not None) == (0, True)


def test_a_rejected_rating_is_listed_and_can_be_requeued_after_a_fix(tmp_path, province):
    device = Device(tmp_path, province)
    good = device.record(1).evaluation_id
    bad = device.record(2).evaluation_id
    province.faults.set("reject", evaluation_ids=[bad], code="E_FIELD", field="taskCode")
    daemon = build(device.config)
    daemon.step()
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["backlog"], status["quarantined"]) == (0, 1)
    listing = device.sync_cli("quarantine", "list")
    assert bad in listing.stdout and "E_FIELD" in listing.stdout
    assert good not in listing.stdout
    assert daemon.step() > 0  # nothing to send: the quarantined rating is not retried
    province.faults.clear()  # the province fixed its side
    requeue = device.sync_cli("quarantine", "requeue", bad)
    assert requeue.returncode == 0, requeue.stderr
    assert device.sync_cli("quarantine", "requeue", bad).returncode == 1  # not quarantined now
    daemon.step()
    assert set(province.store.evaluation_ids()) == {good, bad}


def test_heartbeat_reports_backlog_and_a_new_tag_list_reaches_the_evaluator(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1)
    jobs = Jobs(device.config, device.key)
    answer = jobs.heartbeat()
    assert answer["heartbeatSeconds"] == 60
    beat = province.store.heartbeat(device.config.province.device_id)
    assert beat["body"]["backlog"] == 1
    assert beat["body"]["firmwareVersion"] == device.config.device.firmware_version
    assert tag_catalog.load(device.config.state_dir).version == province.server.tags_version

    levels = {str(n): [{"code": f"Z{n}1", "label": "窗口人员不在岗"}] for n in range(1, 6)}
    province.server.publish_tags(TagList.from_json({"version": "2026-12", "levels": levels}))
    jobs.heartbeat()  # the heartbeat answer names the new version: the list is fetched
    assert tag_catalog.load(device.config.state_dir).version == "2026-12"

    with Driver(device.config) as driver:
        assert [t.code for t in driver.evaluator.tags.for_level(2)] == ["Z21"]


def test_monthly_export_reverses_the_levels_and_leaves_names_out(tmp_path, province):
    device = Device(tmp_path, province, adapter="monthly-export")
    ids = [
        device.record(n, level, identity={"userName": "陈静", "certKey": f"k{n}"}).evaluation_id
        for n, level in enumerate((Level.VERY_SATISFIED, Level.DISSATISFIED))
    ]
    daemon = build(device.config)
    assert daemon.step() == 0.0
    (export,) = (device.config.state_dir / "exports").glob("haochaping-*.csv")
    assert export.name == "haochaping-202611.csv"
    text = export.read_text(encoding="utf-8-sig")
    assert "陈静" not in text
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == header()
    assert [r["评价编号"] for r in rows] == ids
    assert [r["评价等级"] for r in rows] == ["1", "4"]  # GB/T 39046: 1 = 非常满意
    assert [r["评价人证件摘要"] for r in rows] == ["k0", "k1"]
    assert device.ledger.backlog() == 0
    assert device.ledger.outbox.delivery_of(ids[0]) == "exported"
    assert province.store.evaluation_count() == 0


def test_a_repeated_export_round_adds_no_row_twice(tmp_path):
    export = MonthlyExport(tmp_path)
    record = {"evaluationId": "e1", "assessTime": "2026-11-21 10:00:00", "satisfaction": 3}
    outgoing = OutgoingRecord(record["evaluationId"], canonical_json(record))
    assert [d.status for d in export.deliver([outgoing])] == ["exported"]
    assert [d.status for d in export.deliver([outgoing])] == ["duplicate"]
    assert (
        len(list(csv.reader((tmp_path / "haochaping-202611.csv").open(encoding="utf-8-sig")))) == 2
    )
    assert [standard_level(n) for n in (5, 4, 3, 2, 1)] == [1, 2, 3, 4, 5]


def test_the_export_adapter_is_chosen_by_configuration(tmp_path, province):
    device = Device(tmp_path, province)
    config = dataclasses.replace(
        device.config,
        sync=dataclasses.replace(
            device.config.sync, adapter="monthly-export", export_dir=str(tmp_path / "out")
        ),
    )
    assert build(config).sender.adapter.name == "monthly-export"
    assert build(device.config).sender.adapter.name == "province-v1"


def test_devices_started_together_beat_spread_over_the_interval(tmp_path, province):
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)  # the times are set, nothing runs
    began = datetime.now(UTC)
    rng = random.Random(12)  # each device draws from its own source in the field
    fleet = [
        Jobs(Device(tmp_path / f"d{n}", province).config, KEY, scheduler, rng.uniform)
        for n in range(12)
    ]
    for jobs in fleet:
        jobs.start()
    beats = sorted(
        (job.next_run_time - began).total_seconds()
        for job in scheduler.get_jobs()
        if job.id.startswith("heartbeat-")
    )
    assert len(beats) == 12
    assert beats[0] >= 0 and beats[-1] <= 60 + 1  # each within one interval of the start
    assert beats[-1] - beats[0] > 20  # not in step: 12 uniform phases span far more
    fleet[0].stop()
    assert len(scheduler.get_jobs()) == 3 * 11  # its jobs left, the others' stay
    scheduler.shutdown(wait=False)


def test_a_clock_learnt_by_one_call_serves_heartbeat_and_tags(device, province, monkeypatch):
    """A Pi without RTC a year ahead: the first call learns the province's time from
    E_CLOCK; every later client of the process (a fresh one per job) uses it at once."""
    monkeypatch.setattr(SHARED_CLOCK, "wall", lambda: time.time() + 86400 * 365)
    monkeypatch.setattr(SHARED_CLOCK, "offset_s", 0.0)
    jobs = Jobs(device.config, device.key)
    with pytest.raises(RetryableError) as caught:
        jobs.heartbeat()
    assert caught.value.code == "E_CLOCK"
    assert jobs.refresh_tags() == province.server.tags_version  # a new client, first try
    assert "serverTime" in jobs.heartbeat()

"""Delivery marks set by hand are never trusted: a real ledger file edited with sqlite3, the
real sync and retention job against the stand-in province on 127.0.0.1, and the real
`haochaping-evaluator verify-ledger` and `haochaping-sync status` commands. Nothing marked
without the province's receipt is erased, hidden or passed as delivered."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from device.evaluator.app import site_of
from device.ledger.delivery_proof import unknown_mark
from device.ledger.verify import NO_RECEIPT, verify_ledger
from device.record.case_event import CaseEnding, EventKind, event_body
from device.record.rating import Case
from simulator.hall import StandInProvince
from simulator.province.receipts import ApiVersion
from sync.jobs import Jobs
from tests.support import ROOT
from tests.support.sync import Device

FORGED = "UPDATE ratings SET delivery = ?, delivered_at = '2000-01-01T00:00:00+00:00' WHERE seq = ?"


def _sql(device: Device, statement: str, *args: object) -> None:
    with sqlite3.connect(device.config.ledger_path) as conn:
        conn.execute(statement, args)
    conn.close()


def _seqs(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        seqs = [row[0] for row in conn.execute("SELECT seq FROM ratings ORDER BY seq")]
    conn.close()
    return seqs


def _verify_cli(device: Device, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device", "verify-ledger", str(device.config.ledger_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _status(device: Device) -> dict[str, object]:
    answer = device.sync_cli("status", "--json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def _after_retention_days(device: Device) -> float:
    return time.time() + (device.config.sync.retention_days + 1) * 86400


def _record_event(device: Device, n: int) -> str:
    now = datetime.now(UTC)
    ending = CaseEnding(
        Case(f"HD2026112100{n:04d}", "11640100MB1234567X3000111222000", "居民身份证换领"),
        EventKind.CANCELLED,
        None,
        now - timedelta(seconds=20),
        now,
        clock_synced=True,
        rate_later=False,
    )
    event_id = str(uuid.uuid4())
    device.ledger.events.append(event_body(event_id, site_of(device.config), ending), device.key)
    return event_id


# --- retention -----------------------------------------------------------------------------


def test_retention_never_erases_a_forged_mark_and_verify_still_finds_it(device, province):
    for n in range(2):
        device.record(n)
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    for n in range(2, 5):
        device.record(n)  # seq 3, 4, 5: never sent
    for seq in (3, 4):
        _sql(device, FORGED, "accepted", seq)
    _sql(  # a real receipt moved onto another row proves nothing either
        device,
        "UPDATE ratings SET delivery = 'accepted', delivered_at = '2000-01-01T00:00:00+00:00',"
        " receipt = (SELECT receipt FROM ratings WHERE seq = 1),"
        " received_at = (SELECT received_at FROM ratings WHERE seq = 1) WHERE seq = 5",
    )

    removed = Jobs(device.config, device.key).retention(_after_retention_days(device))

    assert removed == 2  # the two the province signed for
    assert _seqs(device.config.ledger_path) == [3, 4, 5]
    key = device.config.province.province_key
    found = _verify_cli(device, "--province-key", key)
    assert found.returncode == 1
    for seq in (3, 4, 5):
        assert f"ledger BAD at seq {seq}: {NO_RECEIPT}" in found.stderr
    assert "3 findings, 3 of 3 ratings bad" in found.stderr
    assert _status(device)["unprovenDeliveries"] == 2  # seq 5 carries a (wrong) receipt


def test_retention_stops_at_a_receipt_taken_from_another_device(tmp_path, province):
    this = Device(tmp_path / "a", province)
    other = Device(tmp_path / "b", province)
    try:
        this.record(1)  # seq 1 here: never sent
        other.record(1)  # seq 1 there: delivered, with the province's receipt
        assert other.sync_cli("once", "--timeout", "30").returncode == 0
        with sqlite3.connect(other.config.ledger_path) as conn:
            theirs = conn.execute(
                "SELECT evaluation_id, record, record_hash, receipt, received_at"
                " FROM ratings WHERE seq = 1"
            ).fetchone()
        conn.close()
        _sql(
            this,
            "UPDATE ratings SET evaluation_id = ?, record = ?, record_hash = ?, receipt = ?,"
            " received_at = ?, delivery = 'accepted',"
            " delivered_at = '2000-01-01T00:00:00+00:00' WHERE seq = 1",
            *theirs,
        )
        assert Jobs(this.config, this.key).retention(_after_retention_days(this)) == 0
        assert _seqs(this.config.ledger_path) == [1]
    finally:
        this.close()
        other.close()


def test_a_version_1_province_keeps_only_marks_a_device_sets_for_retention(tmp_path):
    province = StandInProvince(tmp_path)
    province.server.api_version = ApiVersion.V1
    province.start()
    device = Device(tmp_path, province)
    try:
        assert device.config.province.pinned_key is None
        for n in range(4):
            device.record(n)
        _sql(device, FORGED, "sent", 3)  # a mark no device sets hides seq 3 from the sync
        assert device.sync_cli("once", "--timeout", "30").returncode == 0
        status = _status(device)
        assert status["backlog"] == 0
        assert status["unprovenDeliveries"] == 4  # three accepted without receipts, and seq 3
        assert province.store.evaluation_count() == 3

        removed = Jobs(device.config, device.key).retention(_after_retention_days(device))

        assert removed == 2  # seq 1 and 2; seq 3 and what follows it stay
        assert _seqs(device.config.ledger_path) == [3, 4]
        found = _verify_cli(device)
        assert found.returncode == 1
        assert f"ledger BAD at seq 3: {unknown_mark('sent')}" in found.stderr
    finally:
        device.close()
        province.close()


# --- any delivery string -------------------------------------------------------------------


def test_exported_under_the_province_adapter_is_unproven_and_found(device, province):
    for n in range(3):
        device.record(n)
    _sql(device, "UPDATE ratings SET delivery = 'exported', delivered_at = ? WHERE seq = 2", "x")
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    assert province.store.evaluation_count() == 2  # seq 2 was never sent …
    status = _status(device)
    assert status["backlog"] == 0  # … and the backlog does not show it …
    assert status["unprovenDeliveries"] == 1  # … but status does
    assert "1 delivered without a receipt (unproven)" in device.sync_cli("status").stdout
    key = device.config.province.province_key
    report = verify_ledger(device.config.ledger_path, province_key=key)
    assert [(f.seq, f.problem) for f in report.findings] == [(2, NO_RECEIPT)]
    assert verify_ledger(device.config.ledger_path).ok  # exported is a mark devices do set
    _sql(device, "UPDATE ratings SET delivery = 'Accepted' WHERE seq = 2")
    report = verify_ledger(device.config.ledger_path)  # no key: an unknown mark is found
    assert [(f.seq, f.problem) for f in report.findings] == [(2, unknown_mark("Accepted"))]


# --- case events ---------------------------------------------------------------------------


def test_a_case_events_forged_mark_is_found_and_counted(device, province):
    for n in range(3):
        _record_event(device, n)
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    key = device.config.province.province_key
    assert verify_ledger(device.config.ledger_path, province_key=key).ok
    for n in range(3, 6):
        _record_event(device, n)  # eventSeq 4, 5, 6: never sent
    with sqlite3.connect(device.config.ledger_path) as conn:
        conn.execute("UPDATE case_events SET delivery = 'accepted' WHERE event_seq = 4")
        conn.execute(
            "UPDATE case_events SET delivery = 'accepted', receipt = (SELECT receipt FROM"
            " case_events WHERE event_seq = 1), received_at = (SELECT received_at FROM"
            " case_events WHERE event_seq = 1) WHERE event_seq = 5"
        )
        conn.execute("UPDATE case_events SET delivery = 'exported' WHERE event_seq = 6")
    conn.close()
    status = _status(device)
    assert status["eventBacklog"] == 0
    assert status["unprovenEventDeliveries"] == 2  # eventSeq 4 and 6 (5 has a wrong receipt)
    assert "and 2 case events (unproven)" in device.sync_cli("status").stdout

    found = _verify_cli(device, "--province-key", key)
    assert found.returncode == 1
    assert f"ledger BAD: case event 4: {NO_RECEIPT}" in found.stderr
    assert f"ledger BAD: case event 5: {NO_RECEIPT}" in found.stderr
    assert f"ledger BAD: case event 6: {unknown_mark('exported')}" in found.stderr
    assert "case event 1:" not in found.stderr
    unchecked = verify_ledger(device.config.ledger_path)  # no key: only the unknown mark
    assert [f.problem for f in unchecked.findings] == [f"case event 6: {unknown_mark('exported')}"]


def test_a_dropped_case_events_table_is_a_finding(device):
    _record_event(device, 1)
    device.record(1)
    assert verify_ledger(device.config.ledger_path).ok
    _sql(device, "DROP TABLE case_events")
    found = _verify_cli(device)
    assert found.returncode == 1
    assert "case events table missing (0005_case_events was applied)" in found.stderr


# --- a bad retention base ------------------------------------------------------------------


def test_a_bad_retention_base_does_not_stop_the_other_checks(device, province):
    for n in range(2):
        device.record(n)
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    assert Jobs(device.config, device.key).retention(_after_retention_days(device)) == 2
    for n in range(2, 4):
        device.record(n)
    _sql(device, FORGED, "accepted", 4)
    _sql(device, "UPDATE ledger_base SET seal = (SELECT seal FROM ratings WHERE seq = 3)")
    key = device.config.province.province_key

    found = _verify_cli(device, "--province-key", key)

    assert found.returncode == 1
    assert "ledger BAD: retention base (up to seq 2) does not carry a valid device seal" in (
        found.stderr
    )
    assert f"ledger BAD at seq 4: {NO_RECEIPT}" in found.stderr
    assert "2 findings, 1 of 2 ratings bad" in found.stderr
    assert "case event's receipt checked under the province key" in found.stderr

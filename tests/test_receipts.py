"""Signed receipts end to end: the real sync against the stand-in province on 127.0.0.1, a real
ledger file, and verify-ledger. A rating is delivered only with a receipt that verifies."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from device.ledger.verify import NO_RECEIPT, verify_ledger
from simulator.hall import StandInProvince
from simulator.province.receipts import ApiVersion, WrongReceipt
from tests.support import ROOT
from tests.support.sync import Device


def _delivery(device: Device) -> list[tuple[str | None, str | None, str | None]]:
    with sqlite3.connect(device.config.ledger_path) as conn:
        return conn.execute(
            "SELECT delivery, receipt, received_at FROM ratings ORDER BY seq"
        ).fetchall()


def _verify_cli(device: Device, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device", "verify-ledger", str(device.config.ledger_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_1_1_province_proves_every_delivery(device, province):
    pinned = device.config.province
    assert pinned.province_key == province.server.province_key.public_b64
    assert pinned.province_key_id == province.server.province_key.key_id
    for n in range(4):
        device.record(n, identity={"userName": "刘芳", "certKey": f"h{n}"} if n % 2 else None)
    done = device.sync_cli("once", "--timeout", "30")
    assert done.returncode == 0, done.stderr
    rows = _delivery(device)
    assert [row[0] for row in rows] == ["accepted"] * 4
    assert all(receipt and received_at for _, receipt, received_at in rows)
    report = verify_ledger(device.config.ledger_path, province_key=pinned.province_key)
    assert report.ok and report.receipts_checked and report.rows == 4
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert status["receipts"] == "checked"
    assert status["provinceKeyId"] == pinned.province_key_id
    assert status["unprovenDeliveries"] == 0


def test_a_lost_answer_is_proven_by_the_duplicate_receipt(device, province):
    ids = [device.record(n).evaluation_id for n in range(3)]
    province.faults.set("drop_after_commit")
    assert device.sync_cli("once", "--timeout", "2").returncode == 1
    province.faults.clear()
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    assert [device.ledger.outbox.delivery_of(i) for i in ids] == ["duplicate"] * 3
    report = verify_ledger(
        device.config.ledger_path, province_key=device.config.province.province_key
    )
    assert report.ok and report.receipts_checked


@pytest.mark.parametrize("wrong", list(WrongReceipt))
def test_an_acknowledgement_without_a_valid_receipt_is_not_a_delivery(device, province, wrong):
    ids = [device.record(n).evaluation_id for n in range(3)]
    province.faults.set("bad_receipt", receipt=wrong.value)
    failed = device.sync_cli("once", "--timeout", "3")
    assert failed.returncode == 1
    assert "receipt" in failed.stderr
    assert province.store.evaluation_count() == 3  # the province did store them …
    assert [device.ledger.outbox.delivery_of(i) for i in ids] == [None] * 3  # … unproven
    assert device.ledger.outbox.quarantined() == 0  # and never quarantined
    assert device.ledger.outbox.backlog() == 3
    status = device.sync_cli("status")
    assert "receipt" in status.stdout.split("last error:")[1]
    province.faults.clear()
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    assert [device.ledger.outbox.delivery_of(i) for i in ids] == ["duplicate"] * 3
    report = verify_ledger(
        device.config.ledger_path, province_key=device.config.province.province_key
    )
    assert report.ok and report.receipts_checked


def test_a_delivered_mark_set_by_hand_is_found(device, province):
    device.record(1)
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    device.record(2)
    device.record(3)
    with sqlite3.connect(device.config.ledger_path) as conn:
        conn.execute("UPDATE ratings SET delivery = 'accepted' WHERE seq = 2")
        # a real receipt moved onto another row proves nothing either
        conn.execute(
            "UPDATE ratings SET delivery = 'accepted', receipt = (SELECT receipt FROM ratings"
            " WHERE seq = 1), received_at = (SELECT received_at FROM ratings WHERE seq = 1)"
            " WHERE seq = 3"
        )
    key = device.config.province.province_key
    report = verify_ledger(device.config.ledger_path, province_key=key)
    assert [(f.seq, f.problem) for f in report.findings] == [(2, NO_RECEIPT), (3, NO_RECEIPT)]
    found = _verify_cli(device, "--province-key", key)
    assert found.returncode == 1
    assert f"ledger BAD at seq 2: {NO_RECEIPT}" in found.stderr
    assert f"ledger BAD at seq 3: {NO_RECEIPT}" in found.stderr
    unchecked = _verify_cli(device)
    assert unchecked.returncode == 0
    assert "receipts not checked" in unchecked.stdout


def test_a_version_1_province_delivers_but_status_says_unproven(tmp_path):
    province = StandInProvince(tmp_path)
    province.server.api_version = ApiVersion.V1
    province.start()
    device = Device(tmp_path, province)
    try:
        assert device.config.province.province_key == ""
        assert device.config.province.province_key_id == ""
        ids = [device.record(n).evaluation_id for n in range(3)]
        assert device.sync_cli("once", "--timeout", "30").returncode == 0
        assert [device.ledger.outbox.delivery_of(i) for i in ids] == ["accepted"] * 3
        status = json.loads(device.sync_cli("status", "--json").stdout)
        assert status["receipts"] == "unproven"
        assert status["unprovenDeliveries"] == 3
        assert "deliveries are unproven, 3 delivered" in device.sync_cli("status").stdout
        show = subprocess.run(
            [sys.executable, "-m", "provisioning.cli", "show", "--config", str(device.config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "province key: none (version-1 province" in show.stdout
    finally:
        device.close()
        province.close()


def test_provision_show_prints_the_pinned_province_key_id(device):
    show = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "show", "--config", str(device.config_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert f"province key: {device.config.province.province_key_id} (pinned" in show.stdout

"""Ratings whose personal data cannot be restored (its sealed row deleted, changed or cut):
sent without it, signed anew by the current device key, once, proven by a receipt, visible
in status, the journal and verify-ledger, never holding up the ratings behind them. (A
replaced identity key is refused instead: tests/test_identity_key_swap.py.) The real sync,
the stand-in province on 127.0.0.1, a real ledger file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from device.daemon.config import load
from device.keys.signing import DeviceKey
from device.ledger.retention import prune_delivered
from device.ledger.store import Ledger
from device.ledger.verify import NO_RECEIPT, SENT_WITHOUT_IDENTITY, verify_ledger
from device.record.rating import PERSONAL_FIELDS
from provisioning.checks import check_ledger
from sync.cli import build
from sync.province_adapter import ProvinceAdapter
from sync.province_client import ProvinceClient
from sync.sender import Sender
from tests.support import ROOT
from tests.support.sync import Device

NAME = "欧阳秘密"
CERT_KEY = "5e884898da28047151d0e56f8dc62927"
WARNING = "rating sent without personal data (identity lost)"


def person(n: int) -> dict[str, str]:
    return {"userName": f"{NAME}{n}", "certType": "111", "certKey": f"{CERT_KEY}{n:02d}"}


def attack(ledger_path: Path, *statements: str) -> None:
    with sqlite3.connect(ledger_path) as attacker:
        for statement in statements:
            attacker.execute(statement)


DELETE_ROW = "DELETE FROM rater_identities WHERE seq = {seq}"
CHANGE_BYTE = (
    "UPDATE rater_identities SET sealed = CAST("
    " substr(sealed, 1, 20) || X'00' || substr(sealed, 22) AS BLOB) WHERE seq = {seq}"
)
CUT_SHORT = "UPDATE rater_identities SET sealed = substr(sealed, 1, 5) WHERE seq = {seq}"
GARBAGE_TEXT = (
    "UPDATE rater_identities SET sealed = substr(sealed, 1, 20) || X'FF' WHERE seq = {seq}"
)


def verify_cli(device: Device, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device", "verify-ledger", str(device.config.ledger_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def anchored(device: Device) -> tuple[str, ...]:
    province = device.config.province
    return ("--expect-key-id", province.enrolled_key_id, "--province-key", province.province_key)


def without_identity(record: dict[str, Any]) -> dict[str, Any]:
    """What the province should hold for a rating sent without personal data, but for its
    signature: the same rating, the personal fields null."""
    expected = {k: v for k, v in record.items() if k != "signature"}
    expected.update(dict.fromkeys(PERSONAL_FIELDS))
    return expected


def deliveries(ledger_path: Path) -> dict[int, tuple[str | None, bool]]:
    with sqlite3.connect(ledger_path) as conn:
        rows = conn.execute("SELECT seq, delivery, receipt FROM ratings").fetchall()
    return {seq: (delivery, receipt is not None) for seq, delivery, receipt in rows}


def test_ratings_whose_personal_data_is_gone_are_sent_without_it_and_the_rest_delivered(
    device, province
):
    stored = [device.record(n, identity=person(n) if n % 3 != 2 else None) for n in range(7)]
    seqs = {r.seq: r for r in stored}
    attack(
        device.config.ledger_path,
        DELETE_ROW.format(seq=2),
        CHANGE_BYTE.format(seq=4),
        CUT_SHORT.format(seq=5),
        GARBAGE_TEXT.format(seq=7),
    )
    lost = {2: "sealed_row_missing", 4: "does_not_open", 5: "does_not_open", 7: "does_not_open"}

    done = device.sync_cli("once", "--timeout", "60")

    assert done.returncode == 0, done.stderr
    assert sorted(province.store.evaluation_ids()) == sorted(r.evaluation_id for r in stored)
    for seq, rating in seqs.items():
        sent = province.store.evaluation(rating.evaluation_id)
        if seq not in lost:  # exactly as signed, personal data included
            assert sent == rating.record
            continue
        assert {k: v for k, v in sent.items() if k != "signature"} == without_identity(
            rating.record
        )
        assert sent["signature"] != rating.record["signature"]
        assert sent["userProp"] == rating.record["userProp"]  # not personal data: kept
    # every one delivered with a receipt, none quarantined, no personal data left behind
    assert deliveries(device.config.ledger_path) == {seq: ("accepted", True) for seq in seqs}
    with sqlite3.connect(device.config.ledger_path) as conn:
        assert conn.execute("SELECT count(*) FROM rater_identities").fetchone() == (0,)
    # the journal: one warning per such rating, naming it and why, and nothing personal
    warnings = [line for line in done.stderr.splitlines() if WARNING in line]
    assert len(warnings) == 4
    for line, (seq, reason) in zip(warnings, sorted(lost.items()), strict=True):
        assert "WARNING" in line
        assert f"seq={seq} evaluationId={seqs[seq].evaluation_id} reason={reason}" in line
    assert NAME not in done.stderr and CERT_KEY not in done.stderr

    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["backlog"], status["quarantined"]) == (0, 0)
    assert (status["identityLost"], status["sentWithoutIdentity"]) == (4, 4)
    assert (status["waitingWithoutIdentity"], status["identityLostKeptBack"]) == (0, 0)
    text = device.sync_cli("status").stdout
    assert "identity lost:  4 sent without personal data, 0 waiting" in text
    listed = device.sync_cli("identity-lost").stdout.splitlines()
    assert [line.split()[1] for line in listed] == [str(seq) for seq in sorted(lost)]
    assert "its encrypted personal data is missing" in listed[0]
    assert all("sent (accepted)" in line for line in listed)
    assert NAME not in "".join(listed)

    # the province flags a fork after each: the next rating's prevHash names the original
    forks = [f["seq"] for f in province.store.audit_flags(device.config.province.device_id)]
    assert forks == [3, 5, 6]

    # verify-ledger, anchored at the enrolled key with the province key: OK, with a note each
    checked = verify_cli(device, *anchored(device))
    assert checked.returncode == 0, checked.stderr
    for seq in lost:
        assert f"note at seq {seq}: {SENT_WITHOUT_IDENTITY}" in checked.stdout
    assert "ledger OK: 7 ratings" in checked.stdout
    assert "4 sent without personal data (identity lost)" in checked.stdout

    again = device.sync_cli("once", "--timeout", "30")  # nothing more to send, nothing said
    assert again.returncode == 0 and WARNING not in again.stderr
    assert province.store.evaluation_count() == 7


def test_a_resent_rating_without_personal_data_is_a_duplicate_never_a_second_copy(device, province):
    ids = [device.record(n, identity=person(n)).evaluation_id for n in range(3)]
    attack(device.config.ledger_path, DELETE_ROW.format(seq=2))
    province.faults.set("drop_after_commit")  # stored at the province, the answer lost
    first = device.sync_cli("once", "--timeout", "3")
    assert first.returncode == 1
    assert first.stderr.count(WARNING) == 1
    held = province.store.evaluation(ids[1])
    assert held is not None and held["userName"] is None
    province.faults.clear()

    second = device.sync_cli("once", "--timeout", "30")

    assert second.returncode == 0, second.stderr
    assert WARNING not in second.stderr  # found once, warned once
    assert [device.ledger.outbox.delivery_of(i) for i in ids] == ["duplicate"] * 3
    assert province.store.evaluation_count() == 3
    assert province.store.evaluation(ids[1]) == held  # the very same bytes again
    report = verify_ledger(
        device.config.ledger_path,
        expect_key_id=device.config.province.enrolled_key_id,
        province_key=device.config.province.province_key,
    )
    assert report.ok, report.findings
    assert [(n.seq, n.problem.split(":")[0]) for n in report.notes] == [(2, SENT_WITHOUT_IDENTITY)]
    checked = check_ledger(device.config)  # what `haochaping-provision check` shows
    assert checked.ok and "1 sent without personal data (identity lost)" in checked.detail


def test_a_rating_sent_without_personal_data_and_rejected_is_quarantined_with_its_code(
    device, province
):
    ids = [device.record(n, identity=person(n)).evaluation_id for n in range(3)]
    attack(device.config.ledger_path, CHANGE_BYTE.format(seq=1))
    province.faults.set("reject", evaluation_ids=[ids[0]], code="E_FIELD", field="taskCode")

    done = device.sync_cli("once", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    assert set(province.store.evaluation_ids()) == set(ids[1:])  # the ones behind it went
    listing = device.sync_cli("quarantine", "list").stdout
    assert ids[0] in listing and "E_FIELD" in listing
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["quarantined"], status["identityLost"], status["sentWithoutIdentity"]) == (
        1,
        1,
        0,
    )
    assert "quarantined (E_FIELD)" in device.sync_cli("identity-lost").stdout
    province.faults.clear()
    assert device.sync_cli("quarantine", "requeue", ids[0]).returncode == 0
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    sent = province.store.evaluation(ids[0])
    assert sent is not None and all(sent[name] is None for name in PERSONAL_FIELDS)
    assert device.ledger.outbox.delivery_of(ids[0]) == "accepted"
    assert verify_cli(device, *anchored(device)).returncode == 0


def test_a_rating_signed_before_a_key_rotation_is_re_signed_by_the_current_key(tmp_path, province):
    """The key that signed the rating is shredded at rotation: the record sent without the
    personal data is signed by the rotated key, which the province and the anchored
    key history both know."""
    device = Device(tmp_path, province)
    enrolled = device.key.key_id
    first = device.record(1, identity=person(1))
    rotated = device.provision_cli("rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    config = load(device.config_path)
    device.key = DeviceKey.load(config.key_path)
    assert device.key.key_id != enrolled
    after = device.record(2, identity=person(2))
    attack(config.ledger_path, DELETE_ROW.format(seq=1))

    done = device.sync_cli("once", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    sent = province.store.evaluation(first.evaluation_id)
    assert sent["keyId"] == device.key.key_id and sent["userName"] is None
    assert province.store.evaluation(after.evaluation_id) == after.record
    checked = verify_cli(
        device,
        "--expect-key-id",
        enrolled,
        "--province-key",
        config.province.province_key,
    )
    assert checked.returncode == 0, checked.stderr
    assert f"note at seq 1: {SENT_WITHOUT_IDENTITY}" in checked.stdout
    assert f"re-signed by key {device.key.key_id}" in checked.stdout
    device.close()


def test_a_whole_batch_of_lost_identities_goes_in_the_same_round_as_the_rest(device, province):
    lost = [device.record(n, identity=person(n)) for n in range(5)]
    plain = [device.record(n) for n in range(5, 8)]
    attack(device.config.ledger_path, "DELETE FROM rater_identities")
    daemon = build(device.config)
    try:
        result = daemon.sender.send_round()
        assert (result.sent, result.delivered, result.quarantined) == (8, 8, 0)
    finally:
        daemon.sender.close()
        daemon.sender.adapter.close()
        daemon.ledger.close()
    assert set(province.store.evaluation_ids()) == {r.evaluation_id for r in lost + plain}


def test_tampering_with_what_was_sent_instead_is_found(device, province):
    """The kept signature changed, or the record of the loss deleted after delivery: the
    first no longer verifies, the second leaves a receipt that proves nothing here."""
    for n in range(3):
        device.record(n, identity=person(n))
    attack(device.config.ledger_path, DELETE_ROW.format(seq=1), DELETE_ROW.format(seq=2))
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    with sqlite3.connect(device.config.ledger_path) as conn:
        signature = conn.execute("SELECT signature FROM identity_losses WHERE seq = 2").fetchone()
    forged = ("A" if signature[0][0] != "A" else "B") + signature[0][1:]
    attack(
        device.config.ledger_path,
        f"UPDATE identity_losses SET signature = '{forged}' WHERE seq = 2",
        "DELETE FROM identity_losses WHERE seq = 1",
    )
    report = verify_ledger(
        device.config.ledger_path,
        expect_key_id=device.config.province.enrolled_key_id,
        province_key=device.config.province.province_key,
    )
    problems = sorted((f.seq, f.problem) for f in report.findings)
    assert problems == [
        (1, NO_RECEIPT),
        (2, NO_RECEIPT),
        (2, "the record sent without personal data has an invalid signature"),
    ]
    assert verify_cli(device, *anchored(device)).returncode == 1


def test_retention_removes_a_proven_rating_sent_without_personal_data(device, province):
    for n in range(3):
        device.record(n, identity=person(n))
    attack(device.config.ledger_path, DELETE_ROW.format(seq=2))
    assert device.sync_cli("once", "--timeout", "30").returncode == 0
    removed = prune_delivered(
        device.ledger,
        device.key,
        "9999-12-31T00:00:00+00:00",
        province_key=device.config.province.province_key,
        device_id=device.config.province.device_id,
    )
    assert removed == 3  # its receipt, for the bytes sent, proves it like any other
    assert device.ledger.identity_losses.entries() == []
    device.record(3)
    assert verify_ledger(device.config.ledger_path, province_key=None).ok


def test_without_a_device_key_such_a_rating_is_kept_back_and_the_rest_delivered(device, province):
    """A sender given no key to sign with cannot send it without personal data: it keeps it
    on the device (E_IDENTITY_LOST) and sends the ones behind it."""
    lost = device.record(1, identity=person(1))
    plain = device.record(2)
    attack(device.config.ledger_path, DELETE_ROW.format(seq=1))
    p = device.config.province
    client = ProvinceClient(p.base_url, p.device_id, device.key)
    with Ledger(device.config.ledger_path) as ledger:
        sender = Sender(ledger, ProvinceAdapter(client, p.pinned_key), device.vault, overlap=False)
        result = sender.send_round()
        client.close()
        assert (result.sent, result.delivered) == (1, 1)
    assert province.store.evaluation_ids() == [plain.evaluation_id]
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["identityLostKeptBack"], status["quarantined"]) == (1, 1)
    assert "1 kept on the device, not sent" in device.sync_cli("status").stdout
    assert lost.evaluation_id in device.sync_cli("quarantine", "list").stdout


def test_a_ledger_from_before_identity_losses_verifies_and_is_upgraded(filled):
    """A file written before migration 0007 is read by verify-ledger as it is, and gets the
    table when the device opens it."""
    attack(
        filled,
        "DROP TABLE identity_losses",
        "DELETE FROM _migrations WHERE name = '0007_identity_losses'",
    )
    report = verify_ledger(filled)
    assert report.ok and report.rows > 0 and report.notes == ()
    with Ledger(filled) as ledger:
        assert ledger.identity_losses.entries() == []
    assert verify_ledger(filled).ok


def test_ratings_an_older_sync_kept_back_go_out_after_the_upgrade(device, province):
    """Before migration 0007 such a rating was quarantined on the device (E_IDENTITY_LOST):
    the upgrade releases it and the sync sends it without personal data."""
    kept = device.record(1, identity=person(1))
    device.record(2)
    device.close()
    attack(
        device.config.ledger_path,
        DELETE_ROW.format(seq=1),
        "UPDATE ratings SET quarantine_code = 'E_IDENTITY_LOST',"
        " quarantine_message = 'personal data cannot be restored' WHERE seq = 1",
        "DROP TABLE identity_losses",
        "DELETE FROM _migrations WHERE name = '0007_identity_losses'",
    )

    done = device.sync_cli("once", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    assert province.store.evaluation_count() == 2
    assert province.store.evaluation(kept.evaluation_id)["userName"] is None
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["quarantined"], status["sentWithoutIdentity"]) == (0, 1)

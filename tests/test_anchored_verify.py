"""verify-ledger anchored outside the file: a ledger forged with a new key, another device's
ledger, a garbage key or identity blob and a malformed file are all caught, through the real
file and the real command; key rotation keeps the chain provable from the enrolled key."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
import sys

import pytest
import requests

from device.daemon.config import load
from device.keys.key_history import certify
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.ledger.verify import verify_ledger
from device.record.rating import Level
from sync.province_client import OperatorNeededError, ProvinceClient
from tests.support.records import make_body
from tests.support.sync import Device

ROWS = 5


def _fill(path, key, vault, rows=ROWS):
    with Ledger(path) as led:
        for n in range(rows):
            led.append(make_body(n, Level(1 + n % 5)), key, vault)
    return path


def _cli(path, *args):
    return subprocess.run(
        [sys.executable, "-m", "device", "verify-ledger", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _forge_every_rating(path, forger):
    """The SD-card attack: every rating rewritten to 非常满意 and re-signed with a new key
    that is added to the file's own key table."""
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT seq, record FROM ratings ORDER BY seq").fetchall()
    with Ledger(path.with_name("forged.db")) as forged:
        for _seq, text in rows:
            body = json.loads(text)
            for field in ("seq", "prevHash", "keyId", "signature"):
                body.pop(field, None)
            body["satisfaction"] = int(Level.VERY_SATISFIED)
            forged.append(body, forger, None)
    conn.close()
    return path.with_name("forged.db")


def test_a_ledger_re_signed_with_another_key_fails_when_anchored(ledger_path, key, vault):
    _fill(ledger_path, key, vault)
    forged = _forge_every_rating(ledger_path, DeviceKey.generate())
    assert verify_ledger(forged).ok  # consistent with itself: that alone proves nothing
    loose = _cli(forged)
    assert loose.returncode == 0
    assert "only self-consistent" in loose.stdout
    report = verify_ledger(forged, expect_key_id=key.key_id)
    assert not report.ok and report.anchored
    anchored = _cli(forged, "--expect-key-id", key.key_id)
    assert anchored.returncode == 1
    assert f"the expected key {key.key_id} is not in the ledger" in anchored.stderr
    assert "Traceback" not in anchored.stderr


def test_a_new_empty_ledger_verifies_against_the_enrolled_key(ledger_path, key):
    with Ledger(ledger_path):  # what the evaluator leaves on a device provisioned just now
        pass
    report = verify_ledger(ledger_path, expect_key_id=key.key_id)
    assert report.ok and report.anchored and report.rows == 0, report.findings


def test_ratings_whose_key_rows_were_removed_fail_when_anchored(ledger_path, key, vault):
    _fill(ledger_path, key, vault)
    conn = sqlite3.connect(ledger_path)
    with conn:  # the key table emptied, so the file looks like a new ledger's
        conn.execute("DELETE FROM device_keys")
    conn.close()
    report = verify_ledger(ledger_path, expect_key_id=key.key_id)
    assert not report.ok
    assert {f.seq for f in report.findings if "unknown key" in f.problem} >= set(range(1, ROWS + 1))


def test_a_forged_key_added_beside_the_enrolled_one_is_not_trusted(ledger_path, key, vault):
    _fill(ledger_path, key, vault)
    forger = DeviceKey.generate()
    with Ledger(ledger_path) as led:  # one more rating, signed by an uncertified key
        led.append(make_body(99, Level.VERY_SATISFIED), forger, None)
    report = verify_ledger(ledger_path, expect_key_id=key.key_id)
    problems = [f.problem for f in report.findings]
    assert f"key {forger.key_id} is not certified by the chain from {key.key_id}" in problems
    assert any(f.seq == ROWS + 1 and "unknown key" in f.problem for f in report.findings)
    assert report.rows == ROWS + 1


def test_another_devices_ledger_fails_against_this_devices_key(tmp_path, key, vault):
    other_key = DeviceKey.generate()
    other = _fill(tmp_path / "other.db", other_key, vault)
    result = _cli(other, "--expect-key-id", key.key_id)
    assert result.returncode == 1
    assert "not in the ledger" in result.stderr


def test_a_key_row_whose_id_is_not_its_public_key_is_refused(ledger_path, key, vault):
    _fill(ledger_path, key, vault)
    forger = DeviceKey.generate()
    conn = sqlite3.connect(ledger_path)
    with conn:  # the enrolled key id, pointing at the forger's public key
        conn.execute(
            "UPDATE device_keys SET public_key = ? WHERE key_id = ?",
            (forger.public_b64, key.key_id),
        )
    conn.close()
    report = verify_ledger(ledger_path, expect_key_id=key.key_id)
    assert not report.ok
    assert any("does not match its public key" in f.problem for f in report.findings)


def test_a_rotated_key_certified_by_the_enrolled_one_verifies(ledger_path, key, vault):
    _fill(ledger_path, key, vault, rows=2)
    new = DeviceKey.generate()
    with Ledger(ledger_path) as led:
        led.record_key(certify(key, new, "DEV-TEST-1", 1_790_000_000), "DEV-TEST-1")
        led.append(make_body(7, Level.SATISFIED), new, vault)
    report = verify_ledger(ledger_path, vault, expect_key_id=key.key_id)
    assert report.ok, report.findings
    assert report.rows == 3
    # the certificate is what makes it hold: break it and the new key's rating fails
    conn = sqlite3.connect(ledger_path)
    with conn:
        conn.execute(
            "UPDATE device_keys SET certificate = ? WHERE key_id = ?",
            (base64.b64encode(b"\0" * 64).decode(), new.key_id),
        )
    conn.close()
    broken = verify_ledger(ledger_path, vault, expect_key_id=key.key_id)
    assert any(f.seq == 3 and "unknown key" in f.problem for f in broken.findings)


def test_every_bad_row_is_reported_not_only_the_first(ledger_path, key, vault):
    _fill(ledger_path, key, vault)
    conn = sqlite3.connect(ledger_path)
    with conn:
        for seq in (2, 4):
            conn.execute("UPDATE ratings SET seal = ? WHERE seq = ?", ("AAAA", seq))
    conn.close()
    report = verify_ledger(ledger_path, expect_key_id=key.key_id)
    assert [f.seq for f in report.findings] == [2, 4]
    result = _cli(ledger_path, "--expect-key-id", key.key_id)
    assert result.returncode == 1
    assert "seq 2" in result.stderr and "seq 4" in result.stderr


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE device_keys SET public_key = 'not base64 at all!'", "does not match"),
        ("UPDATE rater_identities SET sealed = x'00'", "personal data"),
    ],
)
def test_garbage_keys_and_identity_blobs_give_findings_not_tracebacks(
    ledger_path, key, vault, tmp_path, sql, expected
):
    with Ledger(ledger_path) as led:
        led.append(make_body(0, Level.DISSATISFIED, {"userName": "李建国"}), key, vault)
    conn = sqlite3.connect(ledger_path)
    with conn:
        conn.execute(sql)
    conn.close()
    vault_key = tmp_path / "identity.key"
    result = _cli(ledger_path, "--expect-key-id", key.key_id, "--identity-key", str(vault_key))
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_file_is_not_ok(ledger_path, key, vault, tmp_path):
    _fill(ledger_path, key, vault, rows=40)
    broken = tmp_path / "broken.db"
    shutil.copy(ledger_path, broken)
    data = bytearray(broken.read_bytes())
    page = 4096
    for offset in range(page * 2 + 100, min(len(data), page * 3), 7):
        data[offset] ^= 0x5A  # scribble over one page, as a failing card would
    broken.write_bytes(bytes(data))
    result = _cli(broken, "--expect-key-id", key.key_id)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


def test_the_province_lists_the_key_history_and_refuses_a_bad_certificate(province, tmp_path):
    device = Device(tmp_path, province)
    enrolled, device_id = device.key, device.config.province.device_id
    new = DeviceKey.generate()
    entry = certify(enrolled, new, device_id, 1_790_000_000)
    client = ProvinceClient(province.url, device_id, enrolled)
    try:
        bad = {
            "publicKey": new.public_b64,
            "previousKeyId": enrolled.key_id,
            "issuedAt": 1_790_000_000,
            "certificate": DeviceKey.generate().sign(b"x"),
        }
        with pytest.raises(OperatorNeededError) as refused:
            client.call("POST", f"/devices/{device_id}/keys", bad)
        assert refused.value.code == "E_KEY_CERT"
        good = {**bad, "certificate": entry.certificate}
        assert client.call("POST", f"/devices/{device_id}/keys", good)["keyId"] == new.key_id
    finally:
        client.close()
    listed = requests.get(f"{province.url}/devices/{device_id}/keys", timeout=5).json()
    assert [k["keyId"] for k in listed["keys"]] == [enrolled.key_id, new.key_id]
    assert listed["keys"][0]["certificate"] is None
    assert listed["keys"][1]["certificate"] == entry.certificate
    device.close()


def test_rotate_key_then_verify_from_the_enrolled_key(tmp_path, province):
    device = Device(tmp_path, province)
    enrolled = device.config.province.enrolled_key_id
    assert enrolled == device.key.key_id
    device.record(1)
    rotated = device.provision_cli("rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    config = load(device.config_path)
    assert config.province.enrolled_key_id == enrolled != config.province.key_id
    device.key = DeviceKey.load(config.key_path)
    device.record(2)
    device.close()
    result = _cli(config.ledger_path, "--expect-key-id", enrolled)
    assert result.returncode == 0, result.stderr
    assert "ledger OK: 2 ratings" in result.stdout
    assert "anchored at key " + enrolled in result.stdout

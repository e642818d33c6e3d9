"""Another valid key put in identity.key (someone with the SD card, a botched restore) while
raters' personal data is sealed with the original: the sync, the evaluator and
`haochaping-provision check` refuse it like a missing key, naming the file; nothing is sent
without personal data because of it; the original put back restores service and delivery
with the personal data. A row damaged under the right key is still a loss of that row alone.
Real ledger files, the real sync as a process, the real evaluator loop, the stand-in
province on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from device.evaluator.app import site_of
from device.keys.identity_vault import IdentityVault, WrongIdentityKeyError
from device.keys.signing import DeviceKey
from device.ledger.identity_key import KeyVerdict, judge, open_vault
from device.ledger.store import Ledger
from device.ledger.verify import WRONG_IDENTITY_KEY, verify_ledger
from device.record.rating import PERSONAL_FIELDS, Level
from sync.cli import build
from tests.support.evaluator import Driver, make_config
from tests.support.records import make_body

NAME = "欧阳秘密"
WRONG_KEY = "does not match the key that sealed the personal data"


def person(n: int) -> dict[str, str]:
    return {"userName": f"{NAME}{n}", "certType": "111", "certKey": f"5e884898da2804{n:02d}"}


def swap_in_another_key(path: Path) -> bytes:
    """Put another valid 32-byte key, mode 600, where *path* is; the original's bytes."""
    original = path.read_bytes()
    path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    return original


def put_back(path: Path, original: bytes) -> None:
    path.write_bytes(original)
    path.chmod(0o600)


def held_and_lost(ledger_path: Path) -> tuple[int, int]:
    with sqlite3.connect(ledger_path) as conn:
        held = conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0]
        lost = conn.execute("SELECT count(*) FROM identity_losses").fetchone()[0]
    return held, lost


def test_a_swapped_identity_key_stops_the_sync_until_the_original_is_back(device, province):
    stored = [device.record(n, identity=person(n)) for n in range(3)]
    plain = device.record(3)
    device.close()
    key_path = device.config.identity_key_path
    original = swap_in_another_key(key_path)

    refused = device.sync_cli("once", "--timeout", "10")

    assert refused.returncode != 0
    assert f"identity key {key_path} {WRONG_KEY} of 3 ratings" in refused.stderr
    assert "Traceback" not in refused.stderr and NAME not in refused.stderr
    assert province.store.evaluation_count() == 0  # nothing at all, with or without identity
    assert held_and_lost(device.config.ledger_path) == (3, 0)
    assert key_path.read_bytes() != original  # left as found: it is evidence
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert WRONG_KEY in status["identityKey"] and str(key_path) in status["identityKey"]
    assert WRONG_KEY in status["lastError"]
    assert (status["backlog"], status["identityLost"]) == (4, 0)
    text = device.sync_cli("status").stdout
    assert "identity key:   OUT OF SERVICE, nothing is sent: identity key" in text
    assert device.sync_cli("identity-lost").stdout.strip() == "no rating lost its personal data"
    check = device.provision_cli("check", "--no-province")
    assert check.returncode == 1
    assert "FAIL  device key" in check.stdout and WRONG_KEY in check.stdout
    assert "put back the identity.key that sealed" in check.stdout

    put_back(key_path, original)
    done = device.sync_cli("once", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    for rating in [*stored, plain]:  # every one exactly as signed, personal data included
        assert province.store.evaluation(rating.evaluation_id) == rating.record
    assert held_and_lost(device.config.ledger_path) == (0, 0)
    status = json.loads(device.sync_cli("status", "--json").stdout)
    assert (status["identityKey"], status["backlog"], status["identityLost"]) == ("ok", 0, 0)
    assert "identity key:   ok" in device.sync_cli("status").stdout


def test_a_row_damaged_under_the_right_key_is_still_sent_alone_without_identity(device, province):
    """The refusal is for a key that opens none of it; with the original key one damaged
    row goes without its personal data and the rest with theirs."""
    stored = [device.record(n, identity=person(n)) for n in range(3)]
    device.close()
    with sqlite3.connect(device.config.ledger_path) as attacker:
        attacker.execute(
            "UPDATE rater_identities SET sealed = CAST(substr(sealed, 1, 20) || X'00'"
            " || substr(sealed, 22) AS BLOB) WHERE seq = 2"
        )
    original = swap_in_another_key(device.config.identity_key_path)
    assert device.sync_cli("once", "--timeout", "10").returncode != 0
    assert province.store.evaluation_count() == 0
    put_back(device.config.identity_key_path, original)

    done = device.sync_cli("once", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    assert done.stderr.count("reason=does_not_open") == 1
    damaged = province.store.evaluation(stored[1].evaluation_id)
    assert all(damaged[name] is None for name in PERSONAL_FIELDS)
    for rating in (stored[0], stored[2]):
        assert province.store.evaluation(rating.evaluation_id) == rating.record


def test_a_sync_that_started_before_personal_data_was_sealed_refuses_its_key_then(device, province):
    """Nothing held when the sync took the other key; the evaluator, with the original in
    memory, seals a rating after: the sync's next round sends nothing and says why, and
    the one after the original is back sends it, personal data included."""
    original = swap_in_another_key(device.config.identity_key_path)
    daemon = build(device.config)  # nothing held yet: any key will do
    try:
        rating = device.record(1, identity=person(1))  # sealed by the original key

        daemon.step()

        assert daemon.last_error is not None and WRONG_KEY in daemon.last_error
        assert province.store.evaluation_count() == 0
        assert held_and_lost(device.config.ledger_path) == (1, 0)
        assert WRONG_KEY in (device.ledger.sync_state.read().last_error or "")

        put_back(device.config.identity_key_path, original)
        daemon.step()

        assert daemon.last_error is None
        assert province.store.evaluation(rating.evaluation_id) == rating.record
    finally:
        daemon.sender.close()
        daemon.sender.adapter.close()
        daemon.ledger.close()


def test_a_running_sync_follows_a_key_changed_while_nothing_was_held(device, province):
    """A new identity.key while no personal data was held (nothing it could fail to open);
    the evaluator seals with it: the running sync takes the file's key, not its old one."""
    daemon = build(device.config)
    try:
        swap_in_another_key(device.config.identity_key_path)
        renewed = IdentityVault.load(device.config.identity_key_path)
        rating = device.ledger.append(
            make_body(1, identity=person(1), site=site_of(device.config)), device.key, renewed
        )

        daemon.step()

        assert daemon.last_error is None
        assert province.store.evaluation(rating.evaluation_id) == rating.record
        assert held_and_lost(device.config.ledger_path) == (0, 0)
    finally:
        daemon.sender.close()
        daemon.sender.adapter.close()
        daemon.ledger.close()


def test_the_evaluator_goes_out_of_service_on_another_key_and_back_with_the_original(
    tmp_path, caplog
):
    config = make_config(tmp_path)
    with Ledger(config.ledger_path) as ledger:
        ledger.append(
            make_body(1, Level.DISSATISFIED, {"userName": NAME}),
            DeviceKey.load(config.key_path),
            IdentityVault.load_or_create(config.identity_key_path),
        )
    original = swap_in_another_key(config.identity_key_path)
    swapped = config.identity_key_path.read_bytes()
    with Driver(config) as driver:
        assert driver.phase == "out_of_service"
        assert driver.status["outOfService"] == "oos_key"
        assert f"identity key {config.identity_key_path} {WRONG_KEY}" in caplog.text
        assert config.identity_key_path.read_bytes() == swapped  # never replaced by a new one

        put_back(config.identity_key_path, original)
        driver.clock.advance(11)  # the next health check opens the storage again
        driver.until(lambda: driver.phase != "out_of_service", "back in service")
    assert NAME not in caplog.text


def test_a_ledger_from_before_the_key_check_is_judged_by_what_the_key_opens(
    ledger_path, key, vault, tmp_path
):
    """No check recorded (written before migration 0008): a key that opens none of the held
    identities is refused; the right one, even with a damaged row, is taken and recorded."""
    for n in range(3):
        with Ledger(ledger_path) as ledger:
            ledger.append(make_body(n, identity=person(n)), key, vault)
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("DELETE FROM identity_key_check")
        conn.execute("UPDATE rater_identities SET sealed = substr(sealed, 1, 5) WHERE seq = 3")
    other = tmp_path / "other.key"
    IdentityVault.load_or_create(other)
    with Ledger(ledger_path) as ledger:
        with pytest.raises(WrongIdentityKeyError, match=f"{WRONG_KEY} of 3 ratings"):
            open_vault(ledger, other)
        assert ledger.identity_key.recorded() is None
        opened = open_vault(ledger, tmp_path / "identity.key")
        assert ledger.identity_key.recorded() == opened.key_check == vault.key_check
        with pytest.raises(WrongIdentityKeyError):
            open_vault(ledger, other)


def test_with_nothing_held_a_new_key_is_taken_and_names_what_it_seals_next(
    ledger_path, key, vault, tmp_path
):
    with Ledger(ledger_path) as ledger:
        ledger.append(make_body(1, identity=person(1)), key, vault)
        assert ledger.identity_key.recorded() == vault.key_check
        ledger.purge_identities()  # as delivery does
        other = IdentityVault.load_or_create(tmp_path / "other.key")
        assert open_vault(ledger, tmp_path / "other.key").key_check == other.key_check
        assert ledger.identity_key.recorded() == vault.key_check  # nothing sealed with it yet
        ledger.append(make_body(2, identity=person(2)), key, other)
        assert ledger.identity_key.recorded() == other.key_check
        with pytest.raises(WrongIdentityKeyError):
            open_vault(ledger, tmp_path / "identity.key")


def test_the_key_check_opens_nothing_and_tells_keys_apart(tmp_path):
    first = IdentityVault.load_or_create(tmp_path / "a.key")
    second = IdentityVault.load_or_create(tmp_path / "b.key")
    key_bytes = (tmp_path / "a.key").read_bytes()
    assert first.key_check != second.key_check
    assert len(first.key_check) == 32 and key_bytes.hex() not in first.key_check
    assert IdentityVault.load(tmp_path / "a.key").key_check == first.key_check
    assert judge(None, first.key_check, 0, lambda: False) is KeyVerdict.NOTHING_HELD
    assert judge(first.key_check, first.key_check, 2, lambda: False) is KeyVerdict.MATCHES
    assert judge(first.key_check, second.key_check, 2, lambda: True) is (KeyVerdict.DOES_NOT_MATCH)
    assert judge("zz\u00e9", first.key_check, 1, lambda: True) is KeyVerdict.DOES_NOT_MATCH


def test_verify_ledger_given_another_identity_key_says_so_once(ledger_path, key, vault, tmp_path):
    with Ledger(ledger_path) as ledger:
        for n in range(3):
            ledger.append(make_body(n, identity=person(n)), key, vault)
    other = IdentityVault.load_or_create(tmp_path / "other.key")

    report = verify_ledger(ledger_path, other)

    assert [(f.seq, f.problem) for f in report.findings] == [(0, WRONG_IDENTITY_KEY)]
    right = verify_ledger(ledger_path, vault)
    assert right.ok and right.fully_verified == 3

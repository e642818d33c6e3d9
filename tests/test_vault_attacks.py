"""The identity vault and the key files against a hostile hall: a deleted identity key is never
silently replaced, loose file modes are refused, and rotated keys are shredded in place."""

from __future__ import annotations

import os

import pytest

from device.keys.identity_vault import IdentityVault, VaultError
from device.keys.private_file import shred
from device.ledger.store import Ledger
from device.record.rating import Level
from tests.support.evaluator import Driver, make_config
from tests.support.records import make_body
from tests.support.sync import Device


def test_a_deleted_identity_key_is_not_replaced_while_identities_are_sealed(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1, Level.DISSATISFIED, identity={"userName": "李建国"})
    device.close()
    vault_path = device.config.identity_key_path
    vault_path.unlink()
    result = device.sync_cli("once", "--timeout", "10")
    assert result.returncode != 0
    assert f"identity key {vault_path} is missing" in result.stderr
    assert "Traceback" not in result.stderr
    assert not vault_path.exists()  # no new key that could never open the sealed data
    assert province.store.evaluation_count() == 0
    with Ledger(device.config.ledger_path) as ledger:
        assert ledger.backlog() == 1  # the rating waits; nothing was lost or sent half


def test_the_evaluator_goes_out_of_service_naming_the_missing_identity_key(tmp_path, caplog):
    config = make_config(tmp_path)
    with Ledger(config.ledger_path) as ledger:
        vault = IdentityVault.load_or_create(config.identity_key_path)
        from device.keys.signing import DeviceKey

        ledger.append(
            make_body(1, Level.DISSATISFIED, {"userName": "李建国"}),
            DeviceKey.load(config.key_path),
            vault,
        )
    config.identity_key_path.unlink()
    with Driver(config) as driver:
        assert driver.phase == "out_of_service"
        assert driver.status["outOfService"] == "oos_key"
    assert str(config.identity_key_path) in caplog.text
    assert not config.identity_key_path.exists()


def test_a_fresh_device_makes_its_identity_key_once(tmp_path):
    path = tmp_path / "identity.key"
    IdentityVault.load_or_create(path, holds_sealed=False)
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_bytes()
    IdentityVault.load_or_create(path, holds_sealed=True)
    assert path.read_bytes() == first


def test_an_identity_key_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "identity.key"
    IdentityVault.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(VaultError, match="mode 644"):
        IdentityVault.load(path)


def test_shredding_overwrites_the_files_own_blocks(tmp_path):
    secret = tmp_path / "device.key"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY----- very secret")
    witness = tmp_path / "witness"
    os.link(secret, witness)  # another name for the same inode: sees what happens to its data
    assert shred(secret)
    assert not secret.exists()
    assert set(witness.read_bytes()) == {0}
    assert not shred(secret)


def test_rotation_leaves_no_old_key_behind(tmp_path, province):

    device = Device(tmp_path, province)
    old_pem = device.config.key_path.read_bytes()
    device.close()
    result = device.provision_cli("rotate-key")
    assert result.returncode == 0, result.stderr
    state = device.config.key_path.parent
    assert sorted(p.name for p in state.iterdir() if p.name.startswith("device.key")) == [
        "device.key"
    ]
    assert device.config.key_path.read_bytes() != old_pem
    assert device.config.key_path.stat().st_mode & 0o777 == 0o600

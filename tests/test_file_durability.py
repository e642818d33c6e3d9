"""Every file the device writes is old or new after a writer dies at a random moment, never
torn, never a mismatched pair, and a temp file left behind disturbs no reader.

A SIGKILL is not a power cut (the page cache survives it): this checks the order of the
steps (temp, sync, rename, folder sync, staged pairs); `bench/power_cut.py` cuts the power
of a virtual machine for what only a real cut shows.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.daemon.config import Config, load
from device.keys.identity_vault import IdentityVault
from device.keys.key_history import certify
from device.keys.private_file import temp_path
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.verify import verify_ledger
from device.local_api.tls import certificate_path, fingerprint, server_context, staged
from device.record import tag_catalog
from provisioning.setup_device import SiteAnswers, provision
from simulator.hall import DEMO_AREA, DEMO_DEPT
from sync.cli import build
from sync.province_client import ProvinceClient
from tests.support import ROOT
from tests.support.sync import Device

KILLS = 12


def _kill_at_random(kind: str, state: Path, rng: random.Random, settle_s: float) -> list[str]:
    """Start a writer, let it write for a random while, SIGKILL it; what it reported done."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.file_writer", kind, str(state)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, settle_s))
    os.kill(writer.pid, signal.SIGKILL)
    output = writer.stdout.read()
    writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    return [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("wrote ")]


def test_configuration_is_old_or_new_and_its_backup_whole(tmp_path):
    rng = random.Random(14)
    before = 0  # the window number the file held when the writer started
    for _ in range(KILLS):
        done = [int(v) for v in _kill_at_random("config", tmp_path, rng, 0.4)]
        if not (tmp_path / "device.toml").exists():
            assert not done
            continue
        last = done[-1] if done else before
        window = int(load(tmp_path / "device.toml").site.window_no)  # parses, validates
        assert window in (last, last + 1)  # the last one written, or the one in progress
        if (tmp_path / "device.toml.bak").exists():
            assert int(load(tmp_path / "device.toml.bak").site.window_no) in (last - 1, last)
        leftover = temp_path(tmp_path / "device.toml")
        if leftover.exists():  # a torn temp file is never read, and the next save replaces it
            leftover.write_bytes(b"[device\x00 torn")
        before = window


def test_certificate_and_its_key_always_belong_together(tmp_path):
    rng = random.Random(15)
    for _ in range(KILLS):
        done = _kill_at_random("certificate", tmp_path, rng, 1.5)
        cert = certificate_path(tmp_path)
        if not cert.exists() and not staged(cert).exists():
            continue
        server_context(tmp_path)  # loads the pair: a key that is not the certificate's fails
        assert not staged(cert).exists()
        in_use = fingerprint(cert.read_bytes())
        assert not done or in_use == done[-1] or in_use not in done  # the last or a newer one


def test_tag_cache_is_old_or_new(tmp_path):
    rng = random.Random(16)
    before = 0
    for _ in range(KILLS):
        done = [int(v[1:]) for v in _kill_at_random("tags", tmp_path, rng, 0.3)]
        path = tmp_path / tag_catalog.CACHE_NAME
        if not path.exists():
            assert not done
            continue
        last = done[-1] if done else before
        version = int(tag_catalog.parse(json.loads(path.read_text(encoding="utf-8"))).version[1:])
        assert version in (last, last + 1)
        assert path.stat().st_mode & 0o777 == 0o644  # readable by the technician's tools
        before = version


def test_identity_keys_are_born_whole(tmp_path):
    rng = random.Random(17)
    for run in range(KILLS):
        state = tmp_path / str(run)
        state.mkdir()
        _kill_at_random("vault", state, rng, 0.3)
        for key_file in state.glob("v*/identity.key"):
            assert len(key_file.read_bytes()) == 32
            assert key_file.stat().st_mode & 0o777 == 0o600
            IdentityVault.load_or_create(key_file)  # leftover temp names are tidied
            assert not list(key_file.parent.glob("identity.key.*.tmp"))


def _rotate(device: Device) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "rotate-key",
            "--config",
            str(device.config_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_rotation_killed_at_any_moment_is_finished_by_running_it_again(tmp_path, province):
    device = Device(tmp_path, province)
    rng = random.Random(18)
    n = 0
    for _ in range(6):
        cut = _rotate(device)
        time.sleep(rng.uniform(0.3, 2.5))
        cut.kill()
        cut.communicate(timeout=10)
        again = _rotate(device)
        _out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        config = load(tmp_path / "device.toml")
        key = DeviceKey.load(config.key_path)
        assert config.province.key_id == key.key_id
        device.key = key
        n += 1
        stored = device.record(n)
        assert build(config).step() == 0.0  # the province takes what the new key signs
        assert province.store.evaluation(stored.evaluation_id)["keyId"] == key.key_id
    report = verify_ledger(config.ledger_path)
    assert report.ok and report.rows == n, report


def test_a_rotation_cut_after_the_province_took_the_key_is_resumed(tmp_path, province):
    """The state a cut leaves after the province registered the new key and the old key got
    its second name, before the rename: the next rotation sends the staged key again (a
    new one would be refused, the province's latest key being the staged one) and must not
    shred the second name, which is the key in use."""
    device = Device(tmp_path, province)
    key_path = device.config.key_path
    pending = DeviceKey.generate()
    pending.save(key_path.with_name(key_path.name + ".new"))
    p = device.config.province
    entry = certify(device.key, pending, p.device_id, int(time.time()))
    client = ProvinceClient(p.base_url, p.device_id, device.key)
    body = {
        "publicKey": entry.public_b64,
        "previousKeyId": device.key.key_id,
        "issuedAt": entry.issued_at,
        "certificate": entry.certificate,
    }
    try:
        assert client.call("POST", f"/devices/{p.device_id}/keys", body)["keyId"] == pending.key_id
    finally:
        client.close()
    os.link(key_path, key_path.with_name(key_path.name + ".old"))
    result = device.provision_cli("rotate-key")
    assert result.returncode == 0, result.stderr
    assert DeviceKey.load(key_path).key_id == pending.key_id
    assert load(device.config_path).province.key_id == pending.key_id
    device.key = pending
    stored = device.record(1)
    assert build(device.config).step() == 0.0
    assert province.store.evaluation(stored.evaluation_id)["keyId"] == pending.key_id


@pytest.mark.parametrize("leftover", ["certificate key alone", "both staged"])
def test_a_certificate_change_cut_short_is_settled_on_reading(tmp_path, leftover):
    from provisioning.certificate import make_certificate

    old = make_certificate(tmp_path, "d1")
    key_path = tmp_path / "local_api.key"
    cert = certificate_path(tmp_path)
    newer = tmp_path / "newer"
    new = make_certificate(newer, "d1")
    staged(key_path).write_bytes((newer / "local_api.key").read_bytes())
    if leftover == "both staged":
        staged(cert).write_bytes(certificate_path(newer).read_bytes())
    server_context(tmp_path)
    expected = new if leftover == "both staged" else old
    assert fingerprint(cert.read_bytes()) == expected
    assert not staged(key_path).exists() and not staged(cert).exists()


def _provision_again(tmp_path: Path, province) -> Config:
    return provision(
        config_path=tmp_path / "device.toml",
        state_dir=tmp_path / "state",
        province_url=province.url,
        token=province.issue_token(),
        site=SiteAnswers(area_code=DEMO_AREA, dept_code=DEMO_DEPT, window_no="3"),
    )


def test_a_provisioning_cut_before_its_configuration_can_be_run_again(tmp_path, province):
    """A cut after the key was saved and before device.toml was written: the key signed
    nothing, so provisioning again replaces it and gives a working device."""
    leftover = DeviceKey.generate()
    (tmp_path / "state").mkdir()
    leftover.save(tmp_path / "state" / "device.key")
    config = _provision_again(tmp_path, province)
    assert config.province.key_id != leftover.key_id
    assert DeviceKey.load(config.key_path).key_id == config.province.key_id


def test_provisioning_never_replaces_a_key_beside_a_ledger(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1)
    device.config_path.unlink()
    with pytest.raises(KeyFileError, match="restore the configuration"):
        _provision_again(tmp_path, province)
    assert DeviceKey.load(device.config.key_path).key_id == device.key.key_id
    assert verify_ledger(device.config.ledger_path).ok


SERVICE = (65534, 65534)  # nobody: stands for the service user the files belong to

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


@needs_root
def test_a_rotation_run_as_root_leaves_key_and_configuration_to_the_service(tmp_path, province):
    """The technician runs rotate-key as root; the evaluator, not root, must still read its
    new key and the configuration after the restart."""
    device = Device(tmp_path, province)
    os.chown(device.config.key_path, *SERVICE)
    os.chown(device.config_path, 0, SERVICE[1])
    device.config_path.chmod(0o640)
    result = device.provision_cli("rotate-key")
    assert result.returncode == 0, result.stderr
    key = device.config.key_path.stat()
    assert (key.st_uid, key.st_gid, key.st_mode & 0o777) == (*SERVICE, 0o600)
    config = device.config_path.stat()
    assert (config.st_uid, config.st_gid, config.st_mode & 0o777) == (0, SERVICE[1], 0o640)
    backup = device.config_path.with_name("device.toml.bak").stat()
    assert (backup.st_gid, backup.st_mode & 0o777) == (SERVICE[1], 0o640)

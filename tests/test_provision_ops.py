"""A technician's commands after init: check, show, rotate-key, decommission — against the
stand-in province, a real pty keypad and real files."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from device.daemon.config import RateLaterSection, load, save
from device.keys.signing import DeviceKey
from device.ledger.verify import verify_ledger
from provisioning.checks import check_backlog, check_clock
from provisioning.keypad_check import check_keypad
from provisioning.test_pattern import SNAPSHOT_NAME
from simulator.hall import PHONE_QUERY
from simulator.virtual_keypad import VirtualKeypad
from sync.cli import build
from tests.support import ROOT
from tests.support.pattern import read_number
from tests.support.sync import Device
from tests.support.terminal import Terminal


def _provision(tmp_path, *args, input_text=None):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            *args,
            "--config",
            str(tmp_path / "device.toml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        input=input_text,
        check=False,
        env={**__import__("os").environ, "SDL_VIDEODRIVER": "dummy"},
    )


def test_check_passes_on_a_good_device_and_names_each_item(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1, identity={"userName": "何勇"})
    assert build(device.config).step() == 0.0  # delivered: nothing stuck
    frames = tmp_path / "frames"
    with VirtualKeypad(link_path=tmp_path / "keypad") as board:
        device.config = dataclasses.replace(
            _with_keypad(device.config, str(tmp_path / "keypad")),
            rate_later=RateLaterSection(province.url + PHONE_QUERY),
            display=dataclasses.replace(device.config.display, snapshot_dir=str(frames)),
        )
        save(device.config, device.config_path)
        term = Terminal(
            [
                sys.executable,
                "-m",
                "provisioning.cli",
                "check",
                "--screen",
                "0.2",
                "--keypad",
                "5",
                "--config",
                str(device.config_path),
            ],
            cwd=ROOT,
            env={**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)},
        )
        term.expect("type the number the screen showed")
        term.type(read_number(frames / SNAPSHOT_NAME, device.config.display.font))
        for key in range(1, 6):
            term.expect(f"press key {key}")
            board.press(key)
        status = term.finish()
    lines = term.screen.splitlines()
    items = ("configuration", "device key", "ledger", "province", "deliveries", "disk", "CJK font")
    for item in (*items, "rate later", "keypad", "screen", "keypad keys"):
        assert any(line.startswith(f"PASS  {item} ") for line in lines), term.screen
    assert any(line.startswith("SKIP  touch ") for line in lines)
    clock_ok = check_clock().ok
    assert status == (0 if clock_ok else 1)
    assert "not tested: touch" in term.screen


def test_check_names_deliveries_stuck_for_more_than_a_day(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1)  # pressed 2026-11-21 11:04 Beijing time, never delivered
    fresh = check_backlog(device.config, now=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    assert fresh.ok and "1 waiting since 2026-11-21 11:04:05" in fresh.detail
    stuck = check_backlog(device.config, now=datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert stuck.ok is False and "haochaping-sync status" in stuck.fix
    assert build(device.config).step() == 0.0
    delivered = check_backlog(device.config, now=datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert delivered.ok and "nothing waiting" in delivered.detail


def test_check_says_what_to_do_when_things_are_wrong(tmp_path, province):
    device = Device(tmp_path, province)
    device.config.key_path.chmod(0o644)
    province.stop()
    result = _provision(tmp_path, "check")
    assert result.returncode == 1
    assert "FAIL  device key" in result.stdout
    assert "chmod 600" in result.stdout
    device.config.key_path.chmod(0o600)
    result = _provision(tmp_path, "check")
    assert "FAIL  province" in result.stdout
    assert "-> check the network" in result.stdout


def test_check_with_a_missing_configuration_fails_at_the_first_line(tmp_path):
    result = _provision(tmp_path, "check")
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL  configuration")


def test_keypad_check_asks_for_each_key(tmp_path, province):
    device = Device(tmp_path, province)
    with VirtualKeypad(link_path=tmp_path / "keypad") as board:
        config = _with_keypad(device.config, board.port)
        asked: list[str] = []

        def say(line: str) -> None:
            asked.append(line)
            board.press(len(asked))

        outcome = check_keypad(config, say, timeout_s=5)
        assert outcome.ok, outcome
        assert len(asked) == 5
        assert "非常满意" in asked[0]

        def wrong(line: str) -> None:
            board.press(3)

        outcome = check_keypad(config, wrong, timeout_s=5)
        assert outcome.ok is False
        assert "asked for key 1, got key 3" in outcome.detail


def test_keypad_check_without_a_board_says_so(tmp_path, province):
    device = Device(tmp_path, province)
    config = _with_keypad(device.config, str(tmp_path / "no-such-tty"))
    outcome = check_keypad(config, print, timeout_s=1, link_timeout_s=1)
    assert outcome.ok is False
    assert "no answer" in outcome.detail


def _with_keypad(config, port):
    return dataclasses.replace(config, keypad=dataclasses.replace(config.keypad, port=port))


def test_show_prints_identity_and_writes_a_label(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1)
    result = _provision(tmp_path, "show", "--qr", str(tmp_path / "label.png"))
    assert result.returncode == 0, result.stderr
    assert f"device id:    {device.config.province.device_id}" in result.stdout
    assert "ratings:      1 unsent, 0 quarantined" in result.stdout
    assert "token ********" in result.stdout
    assert device.config.local_api.token not in result.stdout + repr(device.config)
    assert (tmp_path / "label.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rotate_key_keeps_old_ratings_verifiable_and_signs_new_ones(tmp_path, province):
    device = Device(tmp_path, province)
    before = device.record(1).evaluation_id
    old_key = device.key.key_id
    result = _provision(tmp_path, "rotate-key")
    assert result.returncode == 0, result.stderr
    config = load(tmp_path / "device.toml")
    new_key = DeviceKey.load(config.key_path)
    assert config.province.key_id == new_key.key_id != old_key
    device.key = new_key
    after = device.record(2).evaluation_id
    assert build(config).step() == 0.0
    assert province.store.evaluation(before)["keyId"] == old_key
    assert province.store.evaluation(after)["keyId"] == new_key.key_id
    report = verify_ledger(config.ledger_path)
    assert report.ok and report.rows == 2


def test_decommission_refuses_while_ratings_are_undelivered(tmp_path, province):
    device = Device(tmp_path, province)
    device.record(1, identity={"userName": "何勇"})
    refused = _provision(tmp_path, "decommission", "--yes")
    assert refused.returncode == 1
    assert "not delivered yet" in refused.stderr
    assert device.config.key_path.exists()
    assert build(device.config).step() == 0.0
    device.record(2, identity={"userName": "孙丽"})
    forced = _provision(tmp_path, "decommission", "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not device.config.key_path.exists()
    assert not device.config.identity_key_path.exists()
    assert not (tmp_path / "device.toml").exists()
    raw = device.config.ledger_path.read_bytes()
    assert "孙丽".encode() not in raw and "何勇".encode() not in raw
    assert verify_ledger(device.config.ledger_path).ok  # the evidence is kept


@pytest.mark.parametrize("command", ["check", "show", "rotate-key", "decommission", "init"])
def test_every_command_has_help(tmp_path, command):
    result = _provision(tmp_path, command, "--help")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) > 3

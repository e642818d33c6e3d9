"""`haochaping-provision check` refusing a device that would look fine and rate wrongly: a window
without its keypad, a rate-later code leading to a placeholder, an unsynchronised clock, a
screen nobody looked at, a touch panel that misses its corners."""

from __future__ import annotations

import dataclasses
import os
import sys

import pygame
import pytest

from device.daemon.config import RateLaterSection, save
from device.flow.mode import Mode
from device.record.rate_later import template_for
from provisioning.checks import check_clock, check_keypad_fitted, check_ledger
from provisioning.test_pattern import SNAPSHOT_NAME
from provisioning.touch_check import TARGET, check_touch
from simulator.hall import PHONE_QUERY
from simulator.virtual_keypad import VirtualKeypad
from tests.support import ROOT
from tests.support.pattern import read_number
from tests.support.sync import Device
from tests.support.terminal import Terminal


def _change(device: Device, **sections):
    device.config = dataclasses.replace(device.config, **sections)
    save(device.config, device.config_path)


def _lines(result, mark, name):
    return [line for line in result.stdout.splitlines() if line.startswith(f"{mark}  {name} ")]


def test_a_window_without_its_keypad_or_with_the_sample_rate_later_page_fails(tmp_path, province):
    device = Device(tmp_path, province)  # provisioned as a window; no keypad, the sample page
    result = device.provision_cli("check", "--no-province")
    assert result.returncode == 1
    assert _lines(result, "FAIL", "keypad"), result.stdout
    assert "a window evaluator without a keypad" in result.stdout
    assert "/dev/serial/by-id" in result.stdout  # the fix says where to find it
    assert _lines(result, "FAIL", "rate later")
    assert "the sample address shipped in the software" in result.stdout

    _change(
        device,
        keypad=dataclasses.replace(device.config.keypad, port=str(tmp_path / "ttyACM9")),
        rate_later=RateLaterSection(template_for("https://hcp.example.gov.cn/api/v1/m/rate")),
    )
    result = device.provision_cli("check", "--no-province")
    assert _lines(result, "FAIL", "keypad") and "ttyACM9 is not present" in result.stdout
    assert "points at hcp.example.gov.cn, a placeholder domain" in result.stdout

    with VirtualKeypad(link_path=tmp_path / "keypad") as board:
        _change(
            device,
            keypad=dataclasses.replace(device.config.keypad, port=str(tmp_path / "keypad")),
            rate_later=RateLaterSection(province.url + PHONE_QUERY),
        )
        result = device.provision_cli("check", "--no-province")
        assert _lines(result, "PASS", "keypad"), result.stdout
        assert _lines(result, "PASS", "rate later")
        assert board.port  # the board stayed up while checked
    terminal = dataclasses.replace(
        device.config,
        device=dataclasses.replace(device.config.device, mode=Mode.SELF_SERVICE),
        keypad=dataclasses.replace(device.config.keypad, port=None),
    )
    assert check_keypad_fitted(terminal).ok


def test_an_unsynchronised_clock_fails_with_the_fix_for_its_cause():
    off = check_clock(synced=lambda: False, ntp=lambda: False)
    assert off.ok is False and "switched off" in off.detail
    assert "sudo timedatectl set-ntp true" in off.fix
    unreachable = check_clock(synced=lambda: False, ntp=lambda: True)
    assert unreachable.ok is False and "no NTP server answered" in unreachable.detail
    assert "NTP server must be reachable" in unreachable.fix and "NTP=" in unreachable.fix
    assert check_clock(synced=lambda: True, ntp=lambda: False).ok


def _screen_check(device: Device, *args: str) -> Terminal:
    return Terminal(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "check",
            "--no-province",
            "--config",
            str(device.config_path),
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)},
    )


def test_the_screen_passes_only_when_the_number_shown_is_typed_back(tmp_path, province):
    device = Device(tmp_path, province)
    frames = tmp_path / "frames"
    _change(device, display=dataclasses.replace(device.config.display, snapshot_dir=str(frames)))

    term = _screen_check(device, "--screen", "0.2")
    term.expect("type the number the screen showed")
    term.type(read_number(frames / SNAPSHOT_NAME, device.config.display.font))
    term.expect("PASS  screen")
    term.expect("the number shown was read back")
    term.finish()

    (frames / SNAPSHOT_NAME).unlink()
    term = _screen_check(device, "--screen", "0.2")
    term.expect("type the number the screen showed")
    shown = read_number(frames / SNAPSHOT_NAME, device.config.display.font)
    term.type("y")  # a blind "yes" is not the number
    term.expect("FAIL  screen")
    term.expect("y typed, which is not the number shown")
    assert term.finish() == 1
    assert shown not in term.screen  # the check never prints the number it showed

    term = _screen_check(device, "--screen", "0.2", "--no-input")
    term.expect("SKIP  screen")
    term.expect("not confirmed (--no-input)")
    term.expect("not tested: province, screen, touch, keypad keys")
    term.finish()


def _find_target() -> tuple[float, float] | None:
    """Where the yellow target is on the glass, as a finger's 0-1 position; None if absent."""
    glass = pygame.display.get_surface()
    mask = pygame.mask.from_threshold(glass, TARGET, (1, 1, 1, 255))
    if mask.count() == 0:
        return None
    x, y = mask.centroid()
    width, height = glass.get_size()
    return x / width, y / height


def _finger(x: float, y: float) -> None:
    pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, x=x, y=y, touch_id=1, finger_id=0))


@pytest.mark.parametrize("rotate", [0, 90])
def test_taps_on_the_four_corner_targets_pass(tmp_path, province, rotate):
    device = Device(tmp_path, province)
    config = dataclasses.replace(
        device.config, display=dataclasses.replace(device.config.display, rotate=rotate)
    )
    seen: list[tuple[float, float]] = []

    def tap_the_target(line: str) -> None:
        where = _find_target()
        assert where is not None, f"no target drawn for: {line}"
        seen.append(where)
        _finger(*where)

    outcome = check_touch(config, tap_the_target, timeout_s=2)
    assert outcome.ok, outcome
    # each target in its own corner of the glass
    assert {(round(x), round(y)) for x, y in seen} == {(0, 0), (1, 0), (1, 1), (0, 1)}


def test_a_missed_corner_fails_naming_what_was_missed(tmp_path, province):
    device = Device(tmp_path, province)
    asked: list[str] = []

    def technician(line: str) -> None:
        asked.append(line)
        where = _find_target()
        assert where is not None
        if "top-right" in line:
            _finger(0.5, 0.5)  # the middle of the glass, far from the target
        elif "bottom-left" not in line:  # bottom-left: never tapped
            _finger(*where)

    outcome = check_touch(device.config, technician, timeout_s=0.5)
    assert outcome.ok is False
    assert "top-right: tap landed at" in outcome.detail
    assert "bottom-left: no tap within" in outcome.detail
    assert "top-left" not in outcome.detail and "bottom-right" not in outcome.detail
    assert len(asked) == 4


def test_a_ledger_the_services_opened_before_the_first_rating_passes(tmp_path, province):
    device = Device(tmp_path, province)  # the ledger file is there, nothing signed in it yet
    assert device.config.ledger_path.exists()
    empty = check_ledger(device.config)
    assert empty.ok, empty.detail
    assert empty.detail.startswith("0 ratings, signatures and chain intact")
    device.record(1)
    assert check_ledger(device.config).detail.startswith("1 ratings, signatures and chain intact")

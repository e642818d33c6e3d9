"""`haochaping-provision init` as a technician meets it: asked on a real terminal, wrong answers
refused with the reason and asked again, a URL without /api/v1 corrected, the keypad found
under /dev/serial/by-id, and a configuration that makes a full-screen device; and the same
answers given as options by a script."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from device.daemon.config import load
from provisioning.panel_modes import native_mode
from simulator.hall import DEMO_AREA, DEMO_DEPT
from simulator.virtual_keypad import VirtualKeypad
from tests.support import ROOT
from tests.support.terminal import Terminal


@pytest.fixture
def serial_ports(tmp_path):
    """A by-id folder as udev makes it: a keypad board, and a silent serial device before it
    (a USB-serial adapter with nothing on it)."""
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    master, slave = os.openpty()
    silent = by_id / "usb-FTDI_FT232R_USB_UART_A10K3B2Q-if00-port0"
    silent.symlink_to(os.ttyname(slave))
    with VirtualKeypad(by_id / "usb-Raspberry_Pi_Pico_E6614C311B7A-if00") as board:
        yield silent, Path(board.port)
    os.close(master)
    os.close(slave)


def _command(tmp_path, *args):
    return [
        sys.executable,
        "-m",
        "provisioning.cli",
        "init",
        "--config",
        str(tmp_path / "etc" / "device.toml"),
        "--state-dir",
        str(tmp_path / "state"),
        *args,
    ]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "dumb"}


def _refused(term: Terminal, prompt: str, answer: str, reason: str) -> None:
    term.expect(prompt)
    term.type(answer)
    term.expect("not accepted: ")
    term.expect(reason)


def test_a_technician_is_asked_again_until_every_answer_is_right(tmp_path, province, serial_ports):
    silent, keypad = serial_ports
    term = Terminal(_command(tmp_path, "--serial-by-id", str(keypad.parent)), cwd=ROOT, env=_env())
    _refused(term, "Province base URL", "ftp://hcp.gov.cn/api/v1", "must be an https:// URL")
    _refused(term, "Province base URL", "http://10.1.2.3/api/v1", "not a loopback address")
    without_api = province.url.removesuffix("/api/v1")
    _refused(term, "Province base URL", without_api, "would get 404 Not Found")
    term.expect(f"use {province.url} instead?")
    term.type("y")
    term.expect("Enrolment token")
    token = province.issue_token()
    term.type(token)
    _refused(term, "Mode", "counter", "is not a mode")
    term.expect("Mode")
    term.type("window")
    _refused(term, "Area code", "12", "6-12 digits")
    term.expect("Area code")
    term.type(DEMO_AREA)
    _refused(term, "Department code", "11640100MB12345", "has 15 characters")
    _refused(term, "Department code", "11640100MB1234567O", "contains 'O'")
    term.expect("Department code")
    term.type(DEMO_DEPT)  # its check character is not the one GB 32100 gives
    term.expect("should be N for the 17 before it")
    term.type("y")  # kept: the technician confirms it is what the hall uses
    _refused(term, "Hall code", "H 01", "hall code is 1-32")
    term.expect("Hall code")
    term.type("H01")
    _refused(term, "Window number", "7/8", "window number is 1-16")
    term.expect("Window number")
    term.type("7")
    term.expect(f"1) {silent}")
    term.expect(f"2) {keypad}")
    _refused(term, "Keypad port", str(tmp_path / "ttyUSB9"), "is not present")
    _refused(term, "Keypad port", "none", "a window evaluator needs its keypad")
    term.expect("Keypad port")
    term.type("1")  # the adapter: present, but no keypad answers on it
    term.expect(f"no keypad answered on {silent} within 3 s")
    term.expect("keep it?")
    term.type("n")
    term.expect("Keypad port")
    term.type("2")
    term.expect(f"serves it at {province.url}/m/rate")
    _refused(term, "Rate-later phone page", "https://rate.example.org/m", "placeholder")
    _refused(term, "Rate-later phone page", "http://10.1.2.3/m/rate", "must be https://")
    term.expect("Rate-later phone page")
    term.type("")  # the offered default: the province's own page
    _refused(term, "Screen size", "800x300", "below 480x320")
    term.expect("Screen size")
    term.type("1024x600")
    term.expect("enrolled as ")
    assert term.finish() == 0, term.screen

    config = load(tmp_path / "etc" / "device.toml")
    assert config.province.base_url == province.url
    assert config.keypad.port == str(keypad)
    assert (config.site.hall_code, config.site.window_no, config.site.pf) == ("H01", "7", 4)
    assert config.site.dept_code == DEMO_DEPT
    assert config.rate_later.url_template.startswith(province.url + "/m/rate?p={projectNo}&")
    display = config.display
    assert (display.width, display.height, display.fullscreen) == (1024, 600, True)
    assert token not in term.screen  # typed unseen


def _script(tmp_path, province, *args):
    import subprocess

    return subprocess.run(
        _command(tmp_path, "--no-input", *args),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _terminal_answers(province, token):
    return [
        "--province-url",
        province.url,
        "--token",
        token,
        "--mode",
        "self_service",
        "--area-code",
        DEMO_AREA,
        "--dept-code",
        DEMO_DEPT,
        "--hall-code",
        "H01",
        "--terminal-no",
        "ZZ-03",
        "--display-kind",
        "screen",
        "--rate-later-url",
        province.url + "/m/rate",
        "--display-size",
        "native",
    ]


def test_a_script_gives_every_answer_as_an_option(tmp_path, province):
    result = _script(tmp_path, province, *_terminal_answers(province, province.issue_token()))
    assert result.returncode == 0, result.stderr
    config = load(tmp_path / "etc" / "device.toml")
    assert (config.device.mode, config.site.terminal_no, config.site.pf) == (
        "self_service",
        "ZZ-03",
        5,
    )
    assert config.keypad.port is None
    # native: no size written, so the panel's own mode is used, full screen
    display = config.display
    assert (display.width, display.height, display.fullscreen) == (None, None, True)
    assert display.kind.value == "screen"
    written = (tmp_path / "etc" / "device.toml").read_text()
    assert "fullscreen = true" in written
    # drawn straight on the kernel's display: a device needs no OpenGL to show its pages
    assert display.output.value == "kms"
    assert 'output = "kms"' in written


def test_a_wrong_option_stops_the_script_with_the_reason_and_writes_nothing(tmp_path, province):
    token = province.issue_token()
    answers = _terminal_answers(province, token)
    answers[1] = province.url.removesuffix("/api/v1")
    result = _script(tmp_path, province, *answers)
    assert result.returncode == 2
    assert "--province-url" in result.stderr and "404" in result.stderr
    assert f"did you mean {province.url}?" in result.stderr
    assert not (tmp_path / "state" / "device.key").exists()
    assert not (tmp_path / "etc" / "device.toml").exists()

    missing = _script(tmp_path, province, *_terminal_answers(province, token)[:-2])
    assert missing.returncode == 2
    assert "--display-size is needed with --no-input" in missing.stderr

    no_kind = [
        a for a in _terminal_answers(province, token) if a not in ("--display-kind", "screen")
    ]
    unasked = _script(tmp_path, province, *no_kind)
    assert unasked.returncode == 2 and "missing --display-kind" in unasked.stderr
    assert not (tmp_path / "etc" / "device.toml").exists()

    keypad = _script(
        tmp_path, province, *_terminal_answers(province, token), "--keypad-port", "loop://"
    )
    assert keypad.returncode == 2
    assert "--keypad-port does not apply here (mode self_service)" in keypad.stderr

    assert _script(tmp_path, province, *_terminal_answers(province, token)).returncode == 0


def test_the_panel_resolution_is_read_from_kms(tmp_path):
    drm = tmp_path / "drm"
    for name, status, modes in (
        ("card0-HDMI-A-2", "disconnected", ""),
        ("card0-DSI-1", "connected", "1024x600\n800x480\n"),
    ):
        (drm / name).mkdir(parents=True)
        (drm / name / "status").write_text(status + "\n")
        (drm / name / "modes").write_text(modes)
    assert native_mode(drm) == (1024, 600)
    assert native_mode(tmp_path / "no-drm") is None

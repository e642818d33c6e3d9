"""A technician provisioning a device with `haochaping-provision init` against the province."""

from __future__ import annotations

import subprocess
import sys

from device.daemon.config import load
from device.keys.signing import DeviceKey
from simulator.hall import DEMO_AREA, DEMO_DEPT, free_port


def _init(tmp_path, url, token, *extra):
    """init as a script runs it, the keypad on the board at tmp_path/usb-keypad."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "init",
            "--config",
            str(tmp_path / "etc" / "device.toml"),
            "--state-dir",
            str(tmp_path / "state"),
            "--province-url",
            url,
            "--token",
            token,
            "--area-code",
            DEMO_AREA,
            "--dept-code",
            DEMO_DEPT,
            "--mode",
            "window",
            "--hall-code",
            "H01",
            "--window-no",
            "7",
            "--keypad-port",
            str(tmp_path / "usb-keypad"),
            "--rate-later-url",
            url + "/m/rate",
            "--display-size",
            "native",
            "--no-input",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_init_enrols_and_writes_a_working_configuration(tmp_path, province, board):
    result = _init(tmp_path, province.url, province.issue_token())
    assert result.returncode == 0, result.stderr
    config = load(tmp_path / "etc" / "device.toml")
    key = DeviceKey.load(config.key_path)
    assert config.province.key_id == key.key_id
    assert "enrolled as " + config.province.device_id in result.stdout
    assert (config.key_path.stat().st_mode & 0o777) == 0o600
    assert (config.identity_key_path.stat().st_mode & 0o777) == 0o600
    assert (config.site.window_no, config.site.pf) == ("7", 4)
    assert "no keypad answered" not in result.stderr  # the board answered on the port given


def test_a_refused_token_leaves_nothing_behind(tmp_path, province, board):
    result = _init(tmp_path, province.url, "not-a-token")
    assert result.returncode == 1
    assert "E_TOKEN" in result.stderr
    assert not (tmp_path / "etc" / "device.toml").exists()
    assert not (tmp_path / "state" / "device.key").exists()


def test_an_unreachable_province_leaves_nothing_behind(tmp_path, board):
    result = _init(tmp_path, f"http://127.0.0.1:{free_port()}/api/v1", "token")
    assert result.returncode == 1
    assert "province not reachable" in result.stderr
    assert not (tmp_path / "state" / "device.key").exists()


def test_a_bad_site_field_is_named_before_anything_is_sent(tmp_path, province, board):
    token = province.issue_token()
    result = _init(tmp_path, province.url, token, "--area-code", "12")
    assert result.returncode == 2
    assert "--area-code" in result.stderr and "6-12 digits" in result.stderr
    assert _init(tmp_path, province.url, token).returncode == 0  # the token was not used up


def test_an_existing_key_is_never_overwritten(tmp_path, province, board):
    assert _init(tmp_path, province.url, province.issue_token()).returncode == 0
    before = (tmp_path / "state" / "device.key").read_bytes()
    again = _init(tmp_path, province.url, province.issue_token())
    assert again.returncode == 1
    assert "refusing to overwrite" in again.stderr
    assert (tmp_path / "state" / "device.key").read_bytes() == before


def test_init_asks_a_self_service_terminal_which_display_it_has(tmp_path, province, board):
    terminal = tmp_path / "terminal"
    command = [sys.executable, "-m", "provisioning.cli", "init"]
    command += ["--config", str(terminal / "etc" / "device.toml")]
    command += ["--state-dir", str(terminal / "state"), "--province-url", province.url]
    command += ["--token", province.issue_token(), "--area-code", DEMO_AREA]
    command += ["--dept-code", DEMO_DEPT, "--mode", "self_service", "--terminal-no", "ZZ-01"]
    command += ["--hall-code", "H01", "--display-size", "native"]
    command += ["--rate-later-url", province.url.removesuffix("/api/v1") + "/m/rate"]
    # yes to the department code's check character, then the display question itself
    answers = "y\nkiosk\nweb\njavascript:alert(1)\nhttp://127.0.0.1:8080/app/\n\n"
    result = subprocess.run(
        command, input=answers, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "rating page in the terminal's browser" in result.stdout
    assert "'javascript:alert(1)' is not an http(s) address" in result.stdout
    config = load(terminal / "etc" / "device.toml")
    assert config.display.kind == "web"
    assert config.rate_page.return_urls == ["http://127.0.0.1:8080/app/"]
    window = _init(tmp_path, province.url, province.issue_token())
    assert window.returncode == 0, window.stderr  # a window evaluator is not asked at all
    assert load(tmp_path / "etc" / "device.toml").display.kind == "screen"

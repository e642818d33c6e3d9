"""Provisioning for a 国密 province as a technician runs it: `haochaping-provision gm-enroll`
makes the SM2 and evidence keys on the device (0600), registers it, keeps the credentials
(appSecret masked in `show`), and `check` proves a token and a signed heartbeat; other keys
for a registered deviceNo are refused and leave nothing behind. The officer's page shows the
device's ratings beside a JSON device's."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import requests

from device.daemon.config import load
from device.keys.sm2 import Sm2Key
from sync.jobs import Jobs
from tests.support import ROOT
from tests.support.gm import AREA, DEPT, GmDeviceUnderTest, gm_province, issued_for
from tests.support.records import make_body
from tests.support.sync import Device


def _provision(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning.cli", *args, "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _enroll_args(issued, state: Path) -> list[str]:
    return [
        "gm-enroll",
        "--adapter", "gm-soap",
        "--state-dir", str(state),
        "--gateway-url", issued.gateway_url,
        "--base-url", issued.base_url,
        "--app-key", issued.app_key,
        "--app-secret", issued.app_secret,
        "--province-key", issued.province_sm2_key,
        "--device-no", issued.device_no,
        "--area-code", AREA,
        "--dept-code", DEPT,
        "--window-no", "5",
    ]  # fmt: skip


def test_gm_enroll_show_and_check_as_a_technician_runs_them(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        issued = issued_for(province, "GM-HALL-0042")
        config_path = tmp_path / "device.toml"
        enrolled = _provision(config_path, *_enroll_args(issued, tmp_path / "state"))
        assert enrolled.returncode == 0, enrolled.stderr
        assert "registered as GM-HALL-0042" in enrolled.stdout
        config = load(config_path)
        assert config.sync.adapter == "gm-soap"
        for secret_file in (config.sm2_key_path, config.key_path):
            assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert Sm2Key.load(config.sm2_key_path).public_hex == config.gm.device_sm2_key
        registered = province.store.gm_device("GM-HALL-0042")
        assert registered is not None and registered.sm2_public == config.gm.device_sm2_key
        assert stat.S_IMODE(config_path.stat().st_mode) & 0o077 == 0  # it holds appSecret

        shown = _provision(config_path, "show")
        assert shown.returncode == 0, shown.stderr
        assert issued.app_secret not in shown.stdout
        assert "appSecret ********" in shown.stdout
        assert issued.app_key in shown.stdout

        checked = _provision(config_path, "check")
        province_line = next(line for line in checked.stdout.splitlines() if "province" in line)
        assert province_line.startswith("PASS"), checked.stdout
        assert "signed heartbeat answered" in province_line
        assert province.store.heartbeat("GM-HALL-0042") is not None

        rotated = _provision(config_path, "rotate-key")
        assert rotated.returncode != 0 and "国密" in rotated.stderr

        # a second device claiming the same deviceNo with other keys: refused, nothing left
        again = _provision(tmp_path / "other.toml", *_enroll_args(issued, tmp_path / "other"))
        assert again.returncode != 0
        assert "40103" in again.stderr
        assert not (tmp_path / "other" / "gm-sm2.key").exists()
        assert not (tmp_path / "other" / "device.key").exists()
        assert not (tmp_path / "other.toml").exists()

        retired = _provision(config_path, "decommission", "--yes")
        assert retired.returncode == 0, retired.stderr
        assert not config.sm2_key_path.exists()


def test_wrong_credentials_are_refused_at_provisioning(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        issued = issued_for(province, "GM-HALL-0043")
        args = _enroll_args(issued, tmp_path / "state")
        args[args.index("--app-secret") + 1] = "f" * 32
        refused = _provision(tmp_path / "device.toml", *args)
        assert refused.returncode != 0
        assert "appKey/appSecret" in refused.stderr
        assert not (tmp_path / "state" / "gm-sm2.key").exists()


def test_the_officers_page_shows_both_kinds_of_device(tmp_path: Path, province) -> None:
    """The hall's stand-in speaking both dialects: one JSON device, one 国密 device."""
    del province  # the JSON stand-in of the fixture is not the one used here
    with gm_province(tmp_path / "province.db") as server:
        gm_device = GmDeviceUnderTest(tmp_path / "gm", server, device_no="GM-WINDOW-9")
        gm_device.record(1)
        daemon = gm_device.daemon()
        assert daemon.run_until_empty(20) == 0
        daemon.sender.close()
        daemon.ledger.close()
        beat = Jobs(gm_device.config, gm_device.key).heartbeat()  # the sync's timed job
        assert beat["serverTime"].startswith("20")
        assert server.store.heartbeat("GM-WINDOW-9")["body"]["clockSynced"] in (True, False)

        class _Hall:  # what tests.support.sync.Device needs of a province
            url = server.url

            @staticmethod
            def issue_token() -> str:
                server.store.add_token("hall-token-1", 600)
                return "hall-token-1"

        json_device = Device(tmp_path / "json", _Hall())  # type: ignore[arg-type]
        json_device.ledger.append(
            make_body(3, site=_site(json_device)), json_device.key, json_device.vault
        )
        assert json_device.sync_cli("once", "--timeout", "30").returncode == 0
        page = requests.get(server.root_url + "/", timeout=10).text
        assert "GM-WINDOW-9" in page
        assert "国密 gm-soap" in page
        assert json_device.config.province.device_id in page
        json_device.close()
        gm_device.close()


def _site(device: Device):
    from device.evaluator.app import site_of

    return site_of(device.config)


def test_the_stand_in_speaks_gm_soap_when_started_so(tmp_path: Path) -> None:
    """`python -m simulator.province serve --dialect gm-soap --gm-apps 1`: what it prints is
    all a technician needs for gm-enroll."""
    import re
    import signal

    server = subprocess.Popen(
        [sys.executable, "-m", "simulator.province", "serve", "--db", str(tmp_path / "p.db"),
         "--dialect", "gm-soap", "--gm-apps", "1", "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        said = {}
        for line in server.stdout:
            for name, pattern in (
                ("url", r"listening on (\S+)"),
                ("gateway", r"gateway at (\S+)"),
                ("key", r"province SM2 key ([0-9a-f]{130})"),
                ("app", r"gm-soap app (\S+) ([0-9a-f]{32})"),
            ):
                found = re.search(pattern, line)
                if found:
                    said[name] = found.groups()
            if "app" in said:
                break
        (url,), (gateway,), (key,) = said["url"], said["gateway"], said["key"]
        app_key, app_secret = said["app"]
        config_path = tmp_path / "device.toml"
        args = [
            "gm-enroll", "--state-dir", str(tmp_path / "state"), "--gateway-url", gateway,
            "--base-url", url, "--app-key", app_key, "--app-secret", app_secret,
            "--province-key", key, "--device-no", "GM-CLI-1", "--area-code", AREA,
            "--dept-code", DEPT,
        ]  # fmt: skip
        enrolled = _provision(config_path, *args)
        assert enrolled.returncode == 0, enrolled.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    assert server.returncode == 0

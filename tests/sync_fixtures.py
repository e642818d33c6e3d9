"""A provisioned device beside a stand-in province, for sync tests: its configuration, key,
vault and ledger, and a way to record ratings into it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

from device.daemon.config import Config, save
from device.evaluator.app import site_of
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger, StoredRating
from device.record.rating import Level
from provisioning.setup_device import SiteAnswers, provision
from simulator.hall import DEMO_AREA, DEMO_DEPT, StandInProvince
from tests.conftest import make_body

ROOT = Path(__file__).resolve().parent.parent


class Device:
    def __init__(self, tmp_path: Path, province: StandInProvince, **sync: Any) -> None:
        config = provision(
            config_path=tmp_path / "device.toml",
            state_dir=tmp_path / "state",
            province_url=province.url,
            token=province.issue_token(),
            site=SiteAnswers(area_code=DEMO_AREA, dept_code=DEMO_DEPT, window_no="3"),
        )
        if sync:
            config = dataclasses.replace(config, sync=dataclasses.replace(config.sync, **sync))
            save(config, tmp_path / "device.toml")
        self.config: Config = config
        self.config_path = tmp_path / "device.toml"
        self.key = DeviceKey.load(config.key_path)
        self.vault = IdentityVault.load(config.identity_key_path)
        self.ledger = Ledger(config.ledger_path)

    def record(self, n: int, level: Level = Level.SATISFIED, **kwargs: Any) -> StoredRating:
        body = make_body(n, level, site=site_of(self.config), **kwargs)
        return self.ledger.append(body, self.key, self.vault)

    def sync_process(self, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        out = log.open("ab") if log else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", "sync", *args, "--config", str(self.config_path)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def sync_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync", *args, "--config", str(self.config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def close(self) -> None:
        self.ledger.close()

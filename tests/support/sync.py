"""A provisioned device beside a stand-in province, for sync tests: its configuration, key,
vault and ledger, a way to record ratings into it, its sync as a process or a client, and
a sign that a running sync has settled into waiting for new ratings."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
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
from sync.daemon import SyncDaemon
from sync.province_adapter import ProvinceAdapter
from sync.province_client import ProvinceClient
from tests.support import ROOT
from tests.support.records import make_body


class Device:
    """A device provisioned at `province` under tmp_path; `sync` overrides its sync settings."""

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

    def adapter(self, **client_kwargs: Any) -> ProvinceAdapter:
        """The province adapter the sync would use, speaking for this device's key."""
        province = self.config.province
        client = ProvinceClient(province.base_url, province.device_id, self.key, **client_kwargs)
        return ProvinceAdapter(client, province.pinned_key)

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
        """`haochaping-sync ARGS --config` on this device."""
        return self._cli("sync", *args)

    def provision_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`haochaping-provision ARGS --config` on this device, as a technician runs it."""
        return self._cli("provisioning.cli", *args)

    def _cli(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args, "--config", str(self.config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def close(self) -> None:
        self.ledger.close()


def record_rating(config: Config, n: int) -> str:
    """Rating number `n` stored through a ledger of its own, as the evaluator would; its id."""
    with Ledger(config.ledger_path) as ledger:
        return ledger.append(
            make_body(n, site=site_of(config)),
            DeviceKey.load(config.key_path),
            IdentityVault.load(config.identity_key_path),
        ).evaluation_id


def watching_for_new_ratings(daemon: SyncDaemon) -> threading.Event:
    """Set once `daemon` has taken the ledger's data version to watch: any rating committed
    after that wakes it (the daemon reads the version with `PRAGMA data_version`)."""
    watching = threading.Event()

    def seen(statement: str) -> None:
        if "data_version" in statement:
            watching.set()

    daemon.ledger.conn.set_trace_callback(seen)
    return watching

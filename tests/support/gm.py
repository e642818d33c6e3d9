"""A 国密 province (the stand-in in its gm-soap dialect) and a device provisioned for it with
`gm-enroll`: its configuration, keys and ledger, ratings of any age, and its sync."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from device.daemon.config import Config, save
from device.evaluator.app import site_of
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger, StoredRating
from device.record.rating import Case, Level, Press, record_body
from provisioning.gm_enroll import GmIssued, provision_gm
from provisioning.setup_device import SiteAnswers
from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore
from sync.cli import build
from sync.daemon import SyncDaemon
from sync.gm.adapter import GmSoapAdapter
from sync.gm.setup import gm_client
from sync.province_client import ProvinceClock
from tests.support import ROOT

AREA, DEPT = "640104", "11640100MB1234567X"


@contextmanager
def gm_province(
    db_path: Path, clock: Callable[[], float] = time.time, **settings: Any
) -> Iterator[ProvinceServer]:
    """The stand-in speaking the 国密 dialect (beside its JSON one) over a real SQLite file."""
    store = ProvinceStore(db_path)
    server = ProvinceServer(store, clock=clock, gm=True, **settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        store.close()


def issued_for(server: ProvinceServer, device_no: str) -> GmIssued:
    """What the province hands the technician for one device."""
    assert server.gm is not None
    app_key, app_secret = server.gm.issue_app()
    return GmIssued(
        server.gm_gateway_url, server.url, app_key, app_secret, server.gm.public_key, device_no
    )


def rating_body(
    n: int, config: Config, age: timedelta = timedelta(minutes=5), level: Level = Level.SATISFIED
) -> dict[str, Any]:
    """Rating number *n* at this device, given *age* ago (by the wall clock)."""
    case = Case(
        project_no=f"GM{uuid.uuid4().hex[:8].upper()}{n:05d}",
        task_code="11640100MB1234567X3000111222000",
        task_name="居民身份证换领",
        pro_manager_no="0421",
        pro_manager="王敏",
    )
    writing = "窗口人员态度冷淡 & <等待> 太久" if level.is_bad else None
    assessed = datetime.now(UTC) - age
    press = Press(level, "keypad", 900 + n, assessed, True, writing=writing)
    return record_body(str(uuid.uuid4()), case, site_of(config), press)


class GmDeviceUnderTest:
    """A device provisioned for the 国密 province at *server*, under *tmp_path*."""

    def __init__(
        self, tmp_path: Path, server: ProvinceServer, device_no: str = "GM-DEV-0001", **sync: Any
    ) -> None:
        self.config_path = tmp_path / "device.toml"
        config = provision_gm(
            config_path=self.config_path,
            state_dir=tmp_path / "state",
            issued=issued_for(server, device_no),
            site=SiteAnswers(area_code=AREA, dept_code=DEPT, window_no="7"),
            service_user=None,
        )
        if sync:
            config = dataclasses.replace(config, sync=dataclasses.replace(config.sync, **sync))
            save(config, self.config_path)
        self.config: Config = config
        self.key = DeviceKey.load(config.key_path)
        self.vault = IdentityVault.load(config.identity_key_path)
        self.ledger = Ledger(config.ledger_path)

    def record(
        self, n: int, age: timedelta = timedelta(minutes=5), level: Level = Level.SATISFIED
    ) -> StoredRating:
        return self.ledger.append(rating_body(n, self.config, age, level), self.key, self.vault)

    def adapter(self, clock: ProvinceClock | None = None) -> GmSoapAdapter:
        client = gm_client(self.config)
        client.clock = clock or ProvinceClock()
        return GmSoapAdapter(client)

    def daemon(self) -> SyncDaemon:
        return build(self.config)

    def sync_process(self, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        """`haochaping-sync ARGS --config` as a process of its own."""
        out = log.open("ab") if log else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", "sync", *args, "--config", str(self.config_path)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def sync_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("sync", *args)

    def provision_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("provisioning.cli", *args)

    def cli(
        self, module: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args, "--config", str(self.config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def close(self) -> None:
        self.ledger.close()

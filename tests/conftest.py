"""Shared fixtures: a real ledger file, a device key, an identity vault, ratings to store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.record.rating import Case, Level, Press, Site, record_body
from simulator.hall import StandInProvince

SITE = Site(
    device_id="DEV-TEST-1",
    pf=4,
    area_code="640104",
    dept_code="11640100MB1234567X",
    hall_code="H01",
    window_no="12",
)


def make_body(
    n: int,
    level: Level = Level.SATISFIED,
    identity: dict[str, Any] | None = None,
    site: Site = SITE,
) -> dict[str, Any]:
    case = Case(
        project_no=f"HD2026112100{n:04d}",
        task_code="11640100MB1234567X3000111222000",
        task_name="居民身份证换领",
        pro_manager_no="0421",
        pro_manager="王敏",
        identity=identity or {},
    )
    press = Press(level, "keypad", 1200 + n, datetime(2026, 11, 21, 3, 4, 5, tzinfo=UTC), True)
    return record_body(str(uuid.uuid4()), case, site, press)


@pytest.fixture
def province(tmp_path: Path) -> Iterator[StandInProvince]:
    """The stand-in province serving on a free loopback port, its database in tmp_path."""
    stand_in = StandInProvince(tmp_path)
    stand_in.start()
    yield stand_in
    stand_in.close()


@pytest.fixture
def key() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture
def vault(tmp_path: Path) -> IdentityVault:
    return IdentityVault.load_or_create(tmp_path / "identity.key")


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(ledger_path: Path) -> Iterator[Ledger]:
    with Ledger(ledger_path) as led:
        yield led

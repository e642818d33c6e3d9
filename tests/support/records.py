"""Builders of what gets rated and sent: a device-side rating body for the ledger (and a
ledger filled with a few), and the wire bodies a device sends to the province: its site,
a heartbeat, the case-and-rating fields of a record."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.record.rating import Case, Level, Press, Site, record_body

SITE = Site(
    device_id="DEV-TEST-1",
    pf=4,
    area_code="640104",
    dept_code="11640100MB1234567X",
    hall_code="H01",
    window_no="12",
)

PROVINCE_SITE: dict[str, Any] = {
    "areaCode": "640104",
    "hallCode": "YC-HALL-01",
    "windowNo": "12",
    "deptCode": "11640100MB1234567X",
    "pf": 4,
    "terminalNo": None,
}


def make_body(
    n: int,
    level: Level = Level.SATISFIED,
    identity: dict[str, Any] | None = None,
    site: Site = SITE,
) -> dict[str, Any]:
    """The body of rating number `n` of a finished case, as the evaluator hands it to the ledger."""
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


FILLED_ROWS = 6


def fill_ledger(path: Path, key: DeviceKey, vault: IdentityVault) -> None:
    """FILLED_ROWS ratings of every level in the ledger at `path`, the third with a name."""
    with Ledger(path) as ledger:
        for n in range(FILLED_ROWS):
            identity = {"userName": "李建国"} if n == 2 else None
            ledger.append(make_body(n, Level(1 + n % 5), identity), key, vault)


def heartbeat_body(**overrides: Any) -> dict[str, Any]:
    """A heartbeat of a healthy window evaluator with nothing waiting."""
    body: dict[str, Any] = {
        "firmwareVersion": "0.1.0",
        "backlog": 0,
        "quarantined": 0,
        "lastAcceptedSeq": 0,
        "keypadConnected": True,
        "clockSynced": True,
        "diskFreeBytes": 12_000_000_000,
        "uptimeSeconds": 3600,
    }
    body.update(overrides)
    return body


def rating_fields(**overrides: Any) -> dict[str, Any]:
    """The case and rating part of a RECORD: a 满意 keypad rating of a finished case."""
    fields: dict[str, Any] = {
        "projectNo": "YC" + secrets.token_hex(8).upper(),
        "batchProjectNos": None,
        "theme": None,
        "taskCode": "11640100MB1234567X4000112345000",
        "taskName": "不动产登记",
        "proStatus": 3,
        "pf": 4,
        "areaCode": PROVINCE_SITE["areaCode"],
        "deptCode": PROVINCE_SITE["deptCode"],
        "hallCode": PROVINCE_SITE["hallCode"],
        "windowNo": PROVINCE_SITE["windowNo"],
        "terminalNo": None,
        "proManagerNo": "0012",
        "proManager": "王芳",
        "satisfaction": 4,
        "indicators": None,
        "evalDetail": [],
        "writingEvaluation": None,
        "assessTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600)),
        "clockSynced": True,
        "assessNumber": 1,
        "source": "keypad",
        "reactionMs": 1830,
        "userProp": 1,
        "userName": None,
        "certType": None,
        "certKey": None,
    }
    fields.update(overrides)
    return fields

"""What a rating is: the five levels, the case being rated, and the record built from a press.

Pure domain logic; the ledger adds the chain fields and the signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
PERSONAL_FIELDS = ("userName", "certType", "certKey")


class Level(IntEnum):
    """Wire values of every provincial interface found: 5 is best, 1 is worst."""

    VERY_SATISFIED = 5
    SATISFIED = 4
    BASICALLY_SATISFIED = 3
    DISSATISFIED = 2
    VERY_DISSATISFIED = 1

    @property
    def is_bad(self) -> bool:
        """不满意 and 非常不满意 are 差评: the province requires a reason for them."""
        return self <= Level.DISSATISFIED


class Source(StrEnum):
    """How the overall level was given; the value is the record's `source`."""

    KEYPAD = "keypad"
    TOUCH = "touch"
    WEB = "web"  # the rating page in a browser (province spec v1.1), e.g. a self-service terminal


@dataclass(frozen=True)
class ThemeItem:
    """One item (事项) linked in a theme service (一件事); it may be rated on its own."""

    project_no: str
    task_name: str


@dataclass(frozen=True)
class Theme:
    theme_no: str
    theme_name: str
    items: tuple[ThemeItem, ...]


@dataclass(frozen=True)
class Staff:
    """The window staff member signed in to the evaluator."""

    number: str  # 工号
    name: str
    photo: bytes | None = None  # PNG or JPEG, shown on the idle screen only


@dataclass(frozen=True)
class Case:
    """One thing to be rated, as pushed by the counter's business system."""

    project_no: str
    task_code: str
    task_name: str
    pro_status: int = 3
    pro_manager_no: str | None = None
    pro_manager: str | None = None
    terminal_no: str | None = None
    batch_project_nos: tuple[str, ...] | None = None
    assess_number: int = 1
    user_prop: int | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # userName/certType/certKey
    theme: Theme | None = None
    indicators: bool = False  # rate business (业务) and service (服务) separately too

    @property
    def intake_only(self) -> bool:
        """收件办结: only the intake window's service is rated (Shenzhen §18)."""
        return self.pro_status == 2


@dataclass(frozen=True)
class Site:
    """Where the device stands, from its configuration."""

    device_id: str
    pf: int
    area_code: str
    dept_code: str
    hall_code: str | None = None
    window_no: str | None = None
    terminal_no: str | None = None


@dataclass(frozen=True)
class Press:
    """A person pressing a level for the case on screen: the evidence of a rating."""

    level: Level
    source: str
    reaction_ms: int
    assessed_at: datetime  # aware; converted to Beijing time on the wire
    clock_synced: bool
    eval_detail: tuple[str, ...] = ()
    writing: str | None = None
    indicators: dict[str, int] | None = None  # {"business": 1-5, "service": 1-5}
    theme_levels: tuple[int | None, ...] | None = None  # one per theme item, None = not rated


def assess_time(moment: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time."""
    if moment.tzinfo is None:
        raise ValueError("assess time must be timezone-aware")
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def record_body(evaluation_id: str, case: Case, site: Site, press: Press) -> dict[str, Any]:
    """The RECORD of the provincial spec without seq, prevHash, keyId and signature."""
    terminal_no = case.terminal_no or site.terminal_no
    body: dict[str, Any] = {
        "evaluationId": evaluation_id,
        "deviceId": site.device_id,
        "projectNo": case.project_no,
        "batchProjectNos": list(case.batch_project_nos) if case.batch_project_nos else None,
        "theme": _theme(case, press),
        "taskCode": case.task_code,
        "taskName": case.task_name,
        "proStatus": case.pro_status,
        "pf": site.pf,
        "areaCode": site.area_code,
        "deptCode": site.dept_code,
        "hallCode": site.hall_code,
        "windowNo": site.window_no,
        "terminalNo": terminal_no,
        "proManagerNo": case.pro_manager_no,
        "proManager": case.pro_manager,
        "satisfaction": int(press.level),
        "indicators": dict(press.indicators) if press.indicators else None,
        "evalDetail": list(press.eval_detail),
        "writingEvaluation": press.writing,
        "assessTime": assess_time(press.assessed_at),
        "clockSynced": press.clock_synced,
        "assessNumber": case.assess_number,
        "source": press.source,
        "reactionMs": press.reaction_ms,
        "userProp": case.user_prop,
    }
    for name in PERSONAL_FIELDS:
        body[name] = case.identity.get(name)
    return body


def _theme(case: Case, press: Press) -> dict[str, Any] | None:
    if case.theme is None:
        return None
    levels = press.theme_levels or (None,) * len(case.theme.items)
    return {
        "themeNo": case.theme.theme_no,
        "items": [
            {"projectNo": item.project_no, "satisfaction": level}
            for item, level in zip(case.theme.items, levels, strict=True)
        ],
    }


def split_identity(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record with personal fields nulled, the personal fields that were set)."""
    identity = {k: record[k] for k in PERSONAL_FIELDS if record.get(k) is not None}
    redacted = dict(record)
    for name in PERSONAL_FIELDS:
        redacted[name] = None
    return redacted, identity


def join_identity(redacted: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    full = dict(redacted)
    full.update(identity)
    return full

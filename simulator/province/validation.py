"""Pure checks of a rating RECORD, an enrolment and a heartbeat against the province interface.

No I/O and no clock: each check returns None or the Rejection the province answers with.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_PROJECT_NO = 50
MAX_WRITING_EVALUATION = 500
PUBLIC_KEY_BYTES = 32
MAX_SEQ = 2**53 - 1  # the largest integer every JSON parser reads exactly

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
HEX64 = re.compile(r"[0-9a-f]{64}")
KEY_ID = re.compile(r"[0-9a-f]{16}")
AREA_CODE = re.compile(r"[0-9]{6,12}")
DEPT_CODE = re.compile(r"[0-9A-Z]{18}")
ASSESS_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


@dataclass(frozen=True)
class Rejection:
    """Why the province refuses something: a spec error code, a message, maybe the field."""

    code: str
    message: str
    field: str | None = None

    def as_json(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


Check = Callable[[Any, str], Rejection | None]
NONE = type(None)


def passes_as(check: Check, *types: type) -> Check:
    """Mark *check* as passing every value whose exact type is one of *types* (no length,
    range or pattern applies to them), so that check_fields need not call it for those."""
    check.passing_types = frozenset(types)  # type: ignore[attr-defined]
    return check


def field_error(field: str, problem: str) -> Rejection:
    return Rejection("E_FIELD", f"{field} {problem}", field)


def is_int(value: Any) -> bool:
    """An integer in the JSON sense: Python's bool is an int, but true is not 1 here."""
    return isinstance(value, int) and not isinstance(value, bool)


def text(
    *,
    max_len: int | None = None,
    pattern: re.Pattern[str] | None = None,
    what: str = "",
    non_empty: bool = False,
    nullable: bool = False,
) -> Check:
    def check(value: Any, field: str) -> Rejection | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            return field_error(field, "must be a string" + (" or null" if nullable else ""))
        if non_empty and not value:
            return field_error(field, "must not be empty")
        if max_len is not None and len(value) > max_len:
            return field_error(field, f"must be at most {max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            return field_error(field, f"must be {what}")
        return None

    free = max_len is None and pattern is None and not non_empty
    return passes_as(check, *((str,) if free else ()), *((NONE,) if nullable else ()))


def integer(
    *,
    low: int | None = None,
    high: int | None = None,
    choices: Collection[int] | None = None,
    nullable: bool = False,
) -> Check:
    def check(value: Any, field: str) -> Rejection | None:
        if value is None and nullable:
            return None
        if not is_int(value):
            return field_error(field, "must be an integer" + (" or null" if nullable else ""))
        if choices is not None and value not in choices:
            return field_error(field, f"must be one of {sorted(choices)}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low}–{high}" if high is not None else f"≥ {low}"
            return field_error(field, f"must be {bounds}")
        return None

    free = low is None and high is None and choices is None
    return passes_as(check, *((int,) if free else ()), *((NONE,) if nullable else ()))


def code(*, nullable: bool = False) -> Check:
    """A code that provinces send either as a number or as a string (userProp, certType)."""

    def check(value: Any, field: str) -> Rejection | None:
        if value is None and nullable:
            return None
        if is_int(value) or isinstance(value, str):
            return None
        return field_error(field, "must be an integer or a string")

    return passes_as(check, int, str, *((NONE,) if nullable else ()))


def boolean(value: Any, field: str) -> Rejection | None:
    return None if isinstance(value, bool) else field_error(field, "must be true or false")


passes_as(boolean, bool)


def one_of(*allowed: str) -> Check:
    def check(value: Any, field: str) -> Rejection | None:
        if value in allowed and isinstance(value, str):
            return None
        return field_error(field, f"must be one of {', '.join(allowed)}")

    return check


def assess_time(value: Any, field: str) -> Rejection | None:
    """`yyyy-MM-dd HH:mm:ss` naming a real day and time (strptime is too slow per record)."""
    found = ASSESS_TIME.fullmatch(value) if isinstance(value, str) else None
    if found is not None:
        try:
            year, month, day, hour, minute, second = map(int, found.groups())
            datetime(year, month, day, hour, minute, second)
        except ValueError:
            pass
        else:
            return None
    return field_error(field, "must be a time 'yyyy-MM-dd HH:mm:ss'")


def public_key(value: Any, field: str) -> Rejection | None:
    problem = field_error(field, f"must be standard base64 of {PUBLIC_KEY_BYTES} bytes")
    if not isinstance(value, str):
        return problem
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return problem
    return None if len(raw) == PUBLIC_KEY_BYTES else problem


def list_of(item: Check, *, nullable: bool = False, non_empty: bool = False) -> Check:
    def check(value: Any, field: str) -> Rejection | None:
        if value is None and nullable:
            return None
        if not isinstance(value, list):
            return field_error(field, "must be a list" + (" or null" if nullable else ""))
        if non_empty and not value:
            return field_error(field, "must not be empty")
        for index, element in enumerate(value):
            rejection = item(element, f"{field}[{index}]")
            if rejection is not None:
                return rejection
        return None

    return passes_as(check, *((NONE,) if nullable else ()))


def obj(
    fields: Mapping[str, Check], *, nullable: bool = False, optional: Collection[str] = ()
) -> Check:
    def check(value: Any, field: str) -> Rejection | None:
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            return field_error(field, "must be an object" + (" or null" if nullable else ""))
        return check_fields(value, fields, prefix=f"{field}.", optional=optional)

    return passes_as(check, *((NONE,) if nullable else ()))


def check_fields(
    value: dict[str, Any],
    fields: Mapping[str, Check],
    *,
    prefix: str = "",
    optional: Collection[str] = (),
) -> Rejection | None:
    """Reject unknown keys, then missing keys, then each field in the interface's order."""
    if value.keys() == fields.keys():  # the usual case: every field and no other
        for name, check in fields.items():
            field_value = value[name]
            if type(field_value) in getattr(check, "passing_types", ()):
                continue
            rejection = check(field_value, prefix + name)
            if rejection is not None:
                return rejection
        return None
    if not fields.keys() >= value.keys():
        for key in value:
            if key not in fields:
                return field_error(f"{prefix}{key}", "is not a field of this interface")
    for name, check in fields.items():
        if name in value:
            rejection = check(value[name], prefix + name)
            if rejection is not None:
                return rejection
        elif name not in optional:
            return field_error(f"{prefix}{name}", "is missing")
    return None


LEVEL = integer(low=1, high=5)
CASE_NO = text(non_empty=True, max_len=MAX_PROJECT_NO)

THEME_FIELDS: dict[str, Check] = {
    "themeNo": text(non_empty=True),
    "items": list_of(
        obj({"projectNo": CASE_NO, "satisfaction": integer(low=1, high=5, nullable=True)})
    ),
}

RECORD_FIELDS: dict[str, Check] = {
    "evaluationId": text(pattern=UUID, what="a UUID (8-4-4-4-12 hex digits)"),
    "deviceId": text(non_empty=True),
    "keyId": text(pattern=KEY_ID, what="16 lower-case hex characters"),
    "seq": integer(low=1, high=MAX_SEQ),
    "prevHash": text(pattern=HEX64, what="64 lower-case hex characters"),
    "projectNo": CASE_NO,
    "batchProjectNos": list_of(CASE_NO, nullable=True, non_empty=True),
    "theme": obj(THEME_FIELDS, nullable=True),
    "taskCode": text(),
    "taskName": text(),
    "proStatus": integer(choices=(2, 3)),
    "pf": integer(),
    "areaCode": text(pattern=AREA_CODE, what="6–12 digits", nullable=True),
    "deptCode": text(pattern=DEPT_CODE, what="18 characters 0-9 A-Z", nullable=True),
    "hallCode": text(nullable=True),
    "windowNo": text(nullable=True),
    "terminalNo": text(nullable=True),
    "proManagerNo": text(nullable=True),
    "proManager": text(nullable=True),
    "satisfaction": LEVEL,
    "indicators": obj({"business": LEVEL, "service": LEVEL}, nullable=True),
    "evalDetail": list_of(text(non_empty=True)),
    "writingEvaluation": text(max_len=MAX_WRITING_EVALUATION, nullable=True),
    "assessTime": assess_time,
    "clockSynced": boolean,
    "assessNumber": integer(choices=(1, 2)),
    "source": one_of("keypad", "touch", "web"),  # web: spec v1.1, the rating page in a browser
    "reactionMs": integer(low=0),
    "userProp": code(nullable=True),
    "userName": text(nullable=True),
    "certType": code(nullable=True),
    "certKey": text(nullable=True),
    "signature": text(non_empty=True),
}

SITE_FIELDS: dict[str, Check] = {
    "areaCode": text(pattern=AREA_CODE, what="6–12 digits"),
    "hallCode": text(nullable=True),
    "windowNo": text(nullable=True),
    "deptCode": text(pattern=DEPT_CODE, what="18 characters 0-9 A-Z"),
    "pf": integer(),
    "terminalNo": text(nullable=True),
}
SITE_OPTIONAL = ("hallCode", "windowNo", "terminalNo")

ENROLMENT_FIELDS: dict[str, Check] = {
    "enrollToken": text(non_empty=True),
    "publicKey": public_key,
    "serial": text(non_empty=True),
    "model": text(),
    "firmwareVersion": text(),
    "site": obj(SITE_FIELDS, optional=SITE_OPTIONAL),
}


def validate_record(record: Any) -> Rejection | None:
    """Check one RECORD's shape, types and ranges, then the reason rule for bad ratings."""
    if not isinstance(record, dict):
        return field_error("record", "must be an object")
    rejection = check_fields(record, RECORD_FIELDS)
    if rejection is not None:
        return rejection
    return _check_batch_cases(record) or _check_reason(record)


def _check_batch_cases(record: dict[str, Any]) -> Rejection | None:
    cases = record["batchProjectNos"]
    if cases is None:
        return None
    if record["projectNo"] not in cases:
        return field_error("batchProjectNos", "must include projectNo")
    if len(set(cases)) != len(cases):
        return field_error("batchProjectNos", "must not repeat a case")
    return None


def _check_reason(record: dict[str, Any]) -> Rejection | None:
    """A rating of 1 or 2 needs a tag or a text; whitespace alone is no reason."""
    if record["satisfaction"] > 2 or record["evalDetail"]:
        return None
    writing = record["writingEvaluation"]
    if writing is not None and writing.strip():
        return None
    return Rejection(
        "E_REASON_REQUIRED",
        "a rating of 1 or 2 needs at least one evalDetail tag or a writingEvaluation",
    )


def validate_enrolment(body: Any) -> Rejection | None:
    """Check an enrolment request; site.hallCode, windowNo and terminalNo may be left out."""
    if not isinstance(body, dict):
        return field_error("body", "must be an object")
    return check_fields(body, ENROLMENT_FIELDS)


def nullable_boolean(value: Any, field: str) -> Rejection | None:
    if value is None or isinstance(value, bool):
        return None
    return field_error(field, "must be true, false or null")


HEARTBEAT_FIELDS: dict[str, Check] = {
    "firmwareVersion": text(),
    "backlog": integer(low=0),
    "quarantined": integer(low=0),
    "lastAcceptedSeq": integer(low=0),
    "keypadConnected": nullable_boolean,  # null: the device has no keypad (self-service)
    "clockSynced": boolean,
    "diskFreeBytes": integer(low=0),
    "uptimeSeconds": integer(low=0),
}


def validate_heartbeat(body: Any) -> Rejection | None:
    """Check a heartbeat body: every field present, none unknown."""
    if not isinstance(body, dict):
        return field_error("body", "must be an object")
    return check_fields(body, HEARTBEAT_FIELDS)

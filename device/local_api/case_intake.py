"""Validation of a case pushed by the counter's business system, in the province's field names.

Pure: a JSON object in, a `Case` out, or a `CaseError` naming the bad field.
"""

from __future__ import annotations

import re
from typing import Any

from device.errors import HaochapingError
from device.flow.mode import Mode
from device.local_api.cert_key import cert_key_problem
from device.record.rating import PERSONAL_FIELDS, Case, Theme, ThemeItem

MAX_BATCH = 100
MAX_THEME_ITEMS = 10
MAX_USER_PROP = 99

_FORBIDDEN = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"  # control characters, line separators
# One line of text with something on it; docs/local-api.openapi.json uses the same pattern.
TEXT_PATTERN = rf"^[^{_FORBIDDEN}]*[^\s{_FORBIDDEN}][^{_FORBIDDEN}]*$"
_TEXT = re.compile(TEXT_PATTERN)

TEXT_LIMITS = {
    "projectNo": 50,
    "taskCode": 64,
    "taskName": 200,
    "proManagerNo": 32,
    "proManager": 64,
    "terminalNo": 64,
    "userName": 200,
    "certType": 16,
    "certKey": 128,
    "themeNo": 64,
    "themeName": 200,
}
CASE_FIELDS = frozenset(
    {
        "projectNo",
        "taskCode",
        "taskName",
        "proStatus",
        "proManagerNo",
        "proManager",
        "terminalNo",
        "batchProjectNos",
        "theme",
        "indicators",
        "assessNumber",
        "userProp",
        *PERSONAL_FIELDS,
    }
)
# What only the rater gives, on the device: a pushed case carrying any of these is refused.
RATING_FIELDS = frozenset(
    {
        "satisfaction",
        "alternate",
        "apprate",
        "evalDetail",
        "appraisald",
        "writingEvaluation",
        "assessTime",
        "evaluationId",
        "source",
        "reactionMs",
    }
)


class CaseError(HaochapingError, ValueError):
    """A pushed body that cannot become a case (or staff); `field` names the culprit."""

    code = "E_FIELD"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def known_mode(mode: Mode | str) -> Mode:
    """`mode` as a `Mode`; a word that is none is a programming error, not a bad request."""
    try:
        return Mode(mode)
    except ValueError:
        known = ", ".join(Mode)
        raise ValueError(f"unknown evaluator mode {mode!r}; expected one of {known}") from None


def json_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CaseError(field, "must be a JSON object")
    return value


def check_keys(body: dict[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    """Refuse a rating first (the more serious mistake), then any field not in `allowed`."""
    for key in body:
        if key in RATING_FIELDS:
            raise CaseError(prefix + key, "a case never carries a rating: only the rater gives it")
    for key in body:
        if key not in allowed:
            raise CaseError(prefix + key, "is not a known field")


def text(value: Any, field: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise CaseError(field, "must be a string")
    if len(value) > max_len:
        raise CaseError(field, f"must be at most {max_len} characters")
    if not _TEXT.fullmatch(value):
        if not value.strip():
            raise CaseError(field, "must not be empty")
        raise CaseError(field, "must be one line without control characters")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise CaseError(field, "must be valid Unicode (no lone surrogates)")
    return value


def required_text(body: dict[str, Any], name: str, prefix: str = "") -> str:
    if body.get(name) is None:
        raise CaseError(prefix + name, "is required")
    return text(body[name], prefix + name, TEXT_LIMITS[name])


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """An absent field and a JSON null mean the same: not given."""
    if body.get(name) is None:
        return None
    return text(body[name], name, TEXT_LIMITS[name])


def _choice(body: dict[str, Any], name: str, allowed: tuple[int, ...], default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise CaseError(name, f"must be one of {', '.join(map(str, allowed))}")
    return value


def _user_prop(body: dict[str, Any]) -> int | None:
    value = body.get("userProp")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_USER_PROP:
        raise CaseError("userProp", f"must be an integer 1-{MAX_USER_PROP}")
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise CaseError(name, "must be true or false")
    return value


def _staff(body: dict[str, Any], mode: Mode) -> tuple[str | None, str | None]:
    given = [name for name in ("proManagerNo", "proManager") if body.get(name) is not None]
    if given and not mode.needs_staff:
        raise CaseError(given[0], "self-service terminals rate without staff: leave it out")
    number, name = optional_text(body, "proManagerNo"), optional_text(body, "proManager")
    if len(given) == 1:
        missing = "proManager" if name is None else "proManagerNo"
        raise CaseError(
            missing,
            "proManagerNo and proManager come together (leave both out for the staff signed in)",
        )
    return number, name


def _batch(body: dict[str, Any], project_no: str) -> tuple[str, ...] | None:
    value = body.get("batchProjectNos")
    if value is None:
        return None
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_BATCH:
        raise CaseError("batchProjectNos", f"must be a list of 2-{MAX_BATCH} case numbers")
    numbers = tuple(
        text(item, f"batchProjectNos[{i}]", TEXT_LIMITS["projectNo"])
        for i, item in enumerate(value)
    )
    _no_repeats(numbers, "batchProjectNos[{}]")
    if project_no not in numbers:
        raise CaseError("batchProjectNos", "must include projectNo")
    return numbers


def _no_repeats(numbers: tuple[str, ...], field: str) -> None:
    seen: set[str] = set()
    for i, number in enumerate(numbers):
        if number in seen:
            raise CaseError(field.format(i), "repeats an earlier case number")
        seen.add(number)


def _theme(value: Any) -> Theme | None:
    if value is None:
        return None
    body = json_object(value, "theme")
    check_keys(body, frozenset({"themeNo", "themeName", "items"}), "theme.")
    theme_no = required_text(body, "themeNo", "theme.")
    theme_name = required_text(body, "themeName", "theme.")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_THEME_ITEMS:
        raise CaseError("theme.items", f"must be a list of 1-{MAX_THEME_ITEMS} items")
    parsed = tuple(_theme_item(item, f"theme.items[{i}].") for i, item in enumerate(items))
    _no_repeats(tuple(item.project_no for item in parsed), "theme.items[{}].projectNo")
    return Theme(theme_no=theme_no, theme_name=theme_name, items=parsed)


def _theme_item(value: Any, prefix: str) -> ThemeItem:
    body = json_object(value, prefix.rstrip("."))
    check_keys(body, frozenset({"projectNo", "taskName"}), prefix)
    return ThemeItem(
        project_no=required_text(body, "projectNo", prefix),
        task_name=required_text(body, "taskName", prefix),
    )


def cert_key(value: str) -> str:
    """Refuse anything but a hash's shape in certKey: a raw ID number must never leave the
    counter, neither bare nor padded nor encoded."""
    problem = cert_key_problem(value)
    if problem is not None:
        raise CaseError("certKey", problem)
    return value


def _identity(body: dict[str, Any]) -> dict[str, Any]:
    """The rater's personal data, kept apart from the case so it can be encrypted alone."""
    identity = {name: optional_text(body, name) for name in PERSONAL_FIELDS}
    given = identity.get("certKey")
    if given is not None:
        cert_key(given)
    return {name: value for name, value in identity.items() if value is not None}


def parse_case(body: Any, mode: Mode) -> Case:
    """The case in `body` for an evaluator in `mode`."""
    mode = known_mode(mode)
    fields = json_object(body, "$")
    check_keys(fields, CASE_FIELDS)
    project_no = required_text(fields, "projectNo")
    task_code = required_text(fields, "taskCode")
    task_name = required_text(fields, "taskName")
    pro_status = _choice(fields, "proStatus", (2, 3), 3)
    staff_no, staff_name = _staff(fields, mode)
    batch = _batch(fields, project_no)
    theme = _theme(fields.get("theme"))
    if batch is not None and theme is not None:
        raise CaseError("theme", "a case is either a batch (batchProjectNos) or a theme, not both")
    indicators = _flag(fields, "indicators")
    if indicators and pro_status == 2:
        raise CaseError("indicators", "an intake-only case (proStatus 2) rates the service only")
    return Case(
        project_no=project_no,
        task_code=task_code,
        task_name=task_name,
        pro_status=pro_status,
        pro_manager_no=staff_no,
        pro_manager=staff_name,
        terminal_no=optional_text(fields, "terminalNo"),
        batch_project_nos=batch,
        assess_number=_choice(fields, "assessNumber", (1, 2), 1),
        user_prop=_user_prop(fields),
        identity=_identity(fields),
        theme=theme,
        indicators=indicators,
    )

"""Validation of a case pushed by the counter's business system, in the province's field names.

Pure: a JSON object in, a `Case` out, or a `CaseError` naming the bad field.
"""

from __future__ import annotations

from typing import Any

from device.rating import PERSONAL_FIELDS, Case

MAX_BATCH = 100
_ALLOWED = {
    "projectNo",
    "taskCode",
    "taskName",
    "proStatus",
    "proManagerNo",
    "proManager",
    "terminalNo",
    "batchProjectNos",
    "assessNumber",
    "userProp",
    *PERSONAL_FIELDS,
}


class CaseError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(body: dict[str, Any], name: str, max_len: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise CaseError(name, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise CaseError(name, "must be a non-empty string")
    if len(value) > max_len:
        raise CaseError(name, f"must be at most {max_len} characters")
    if any(ord(c) < 0x20 for c in value):
        raise CaseError(name, "must not contain control characters")
    return value


def _choice(body: dict[str, Any], name: str, allowed: tuple[int, ...], default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or value not in allowed:
        raise CaseError(name, f"must be one of {', '.join(map(str, allowed))}")
    return value


def _batch(body: dict[str, Any], project_no: str) -> tuple[str, ...] | None:
    value = body.get("batchProjectNos")
    if value is None:
        return None
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_BATCH:
        raise CaseError("batchProjectNos", f"must be a list of 2-{MAX_BATCH} case numbers")
    for item in value:
        if not isinstance(item, str) or not item or len(item) > 50:
            raise CaseError("batchProjectNos", "every case number must be 1-50 characters")
    if len(set(value)) != len(value):
        raise CaseError("batchProjectNos", "case numbers must not repeat")
    if project_no not in value:
        raise CaseError("batchProjectNos", "must include projectNo")
    return tuple(value)


def parse_case(body: Any) -> Case:
    if not isinstance(body, dict):
        raise CaseError("$", "the case must be a JSON object")
    unknown = sorted(set(body) - _ALLOWED)
    if unknown:
        raise CaseError(unknown[0], "is not a known case field")
    project_no = _text(body, "projectNo", 50, required=True)
    assert project_no is not None
    identity = {}
    for name in PERSONAL_FIELDS:
        value = _text(body, name, 128, required=False)
        if value is not None:
            identity[name] = value
    user_prop = body.get("userProp")
    if user_prop is not None and (isinstance(user_prop, bool) or not isinstance(user_prop, int)):
        raise CaseError("userProp", "must be an integer")
    return Case(
        project_no=project_no,
        task_code=_text(body, "taskCode", 64, required=True) or "",
        task_name=_text(body, "taskName", 200, required=True) or "",
        pro_status=_choice(body, "proStatus", (2, 3), 3),
        pro_manager_no=_text(body, "proManagerNo", 32, required=False),
        pro_manager=_text(body, "proManager", 64, required=False),
        terminal_no=_text(body, "terminalNo", 64, required=False),
        batch_project_nos=_batch(body, project_no),
        assess_number=_choice(body, "assessNumber", (1, 2), 1),
        user_prop=user_prop,
        identity=identity,
    )

"""Reading the province's answers without trusting them: every shape checked, nothing assumed.

Pure. A body that is not the documented shape is a retryable error (the province, or whatever
sits in its place, may be broken or lying); it never crashes the sync and never counts as a
delivery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))
# A server time outside these bounds is absurd, whatever the device's own clock says.
EARLIEST_SERVER_TIME = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
LATEST_SERVER_TIME = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
MAX_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class ErrorAnswer:
    """What an error body says, each field None when absent or of the wrong type."""

    code: str | None
    message: str
    server_time: float | None


def server_time(value: Any) -> float | None:
    """`serverTime` as Unix seconds: a number, or `yyyy-MM-dd HH:mm:ss` in Beijing time.
    NaN, infinities, booleans and times before 2020 or after 2100 are refused (None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        seconds = moment.replace(tzinfo=BEIJING).timestamp()
    else:
        return None
    if not math.isfinite(seconds) or not EARLIEST_SERVER_TIME <= seconds <= LATEST_SERVER_TIME:
        return None
    return seconds


def error_answer(data: Any) -> ErrorAnswer:
    """The documented error body `{"code", "message"}` (and `serverTime` for E_CLOCK), read
    from whatever JSON value arrived."""
    if not isinstance(data, dict):
        return ErrorAnswer(None, "", None)
    code = data.get("code")
    message = data.get("message")
    return ErrorAnswer(
        code if isinstance(code, str) and len(code) <= 64 else None,
        message[:MAX_MESSAGE_CHARS] if isinstance(message, str) else "",
        server_time(data.get("serverTime")),
    )


def retry_after(header: str | None) -> float | None:
    """`Retry-After` in whole seconds (the only form the interface uses); absurd values
    (over a day) are capped, anything else is ignored."""
    if header is None or not header.strip().isdigit():
        return None
    return min(float(header.strip()), 86_400.0)

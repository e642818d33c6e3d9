"""What became of a case that was shown but not rated, as a signed event the province can use
(e.g. for its 24-hour reminder SMS) and auditors can check. Pure body builder.

Outcomes: timeout (QR code for rating later shown), replaced (a new case came), cancelled
(by the business system), no_reason (a bad level pressed, the rater left without choosing a
reason: no rating is made and no reason is invented), staff_signed_out, out_of_service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device.flow.rating_flow import NotRated
from device.record.rating import Case, assess_time


def outcome_body(
    event_id: str, device_id: str, ended: NotRated, at: datetime, clock_synced: bool
) -> dict[str, Any]:
    case: Case = ended.case
    return {
        "eventId": event_id,
        "deviceId": device_id,
        "projectNo": case.project_no,
        "batchProjectNos": list(case.batch_project_nos) if case.batch_project_nos else None,
        "taskCode": case.task_code,
        "assessNumber": case.assess_number,
        "outcome": ended.reason,
        "levelPressed": int(ended.level) if ended.level is not None else None,
        "endedAt": assess_time(at),
        "clockSynced": clock_synced,
        "rateLaterOffered": ended.reason == "timeout",
    }

"""What became of a case that left the screen without a rating: the spec's EVENT (v1.1).

Pure. The body carries the case, the site, the overall level pressed (if any) and the
device-clock times the case reached and left the screen; the ledger adds `eventSeq`,
`prevHash`, `keyId` and the signature. Nothing is filled in for the rater.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from device.record.rating import Case, Site, assess_time


class EventKind(StrEnum):
    """Why a case ended without a rating; the value is the event's `kind`."""

    NOT_RATED = "not_rated"  # the rating page timed out (a rate-later code was shown)
    NO_REASON = "no_reason"  # a bad level pressed, no reason given
    CANCELLED = "cancelled"  # by the business system
    REPLACED = "replaced"  # another case was pushed
    STAFF_SIGNED_OUT = "staff_signed_out"
    OUT_OF_SERVICE = "out_of_service"
    CHANGED = "changed"  # a bad level pressed, then another chosen before it was stored


# Ends that hide a bad level pressed if a rating of the same case follows (spec: suppression).
SUPPRESSING = frozenset({EventKind.CANCELLED, EventKind.REPLACED, EventKind.STAFF_SIGNED_OUT})

# The state machine's words for why a case ended, as event kinds.
_KINDS = {
    "timeout": EventKind.NOT_RATED,
    "no_reason": EventKind.NO_REASON,
    "cancelled": EventKind.CANCELLED,
    "replaced": EventKind.REPLACED,
    "busy": EventKind.REPLACED,  # pushed while the previous rating was being stored
    "staff_signed_out": EventKind.STAFF_SIGNED_OUT,
    "paused": EventKind.STAFF_SIGNED_OUT,  # pushed while no staff member was signed in
    "out_of_service": EventKind.OUT_OF_SERVICE,
    "changed": EventKind.CHANGED,
}


def kind_for(reason: str) -> EventKind:
    """The event kind of the state machine's reason; ValueError for an unknown one."""
    try:
        return _KINDS[reason]
    except KeyError:
        raise ValueError(f"no event kind for a case that ended as {reason!r}") from None


@dataclass(frozen=True)
class CaseEnding:
    """One case that left the screen unrated, with the device-clock times around it."""

    case: Case
    kind: EventKind
    level_pressed: int | None
    shown_at: datetime  # aware
    ended_at: datetime  # aware
    clock_synced: bool
    rate_later: bool


def event_body(event_id: str, site: Site, ending: CaseEnding) -> dict[str, Any]:
    """The EVENT of the provincial spec without eventSeq, prevHash, keyId and signature."""
    case = ending.case
    return {
        "eventId": event_id,
        "deviceId": site.device_id,
        "kind": ending.kind.value,
        "projectNo": case.project_no,
        "batchProjectNos": list(case.batch_project_nos) if case.batch_project_nos else None,
        "taskCode": case.task_code,
        "taskName": case.task_name,
        "proStatus": case.pro_status,
        "assessNumber": case.assess_number,
        "pf": site.pf,
        "areaCode": site.area_code,
        "deptCode": site.dept_code,
        "hallCode": site.hall_code,
        "windowNo": site.window_no,
        "terminalNo": case.terminal_no or site.terminal_no,
        "proManagerNo": case.pro_manager_no,
        "proManager": case.pro_manager,
        "levelPressed": ending.level_pressed,
        "shownAt": assess_time(ending.shown_at),
        "endedAt": assess_time(ending.ended_at),
        "clockSynced": ending.clock_synced,
        "rateLater": ending.rate_later,
    }

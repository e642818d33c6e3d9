"""The evaluator as the local API sees it: thread-safe, answers from the last published status
and hands every request to the main loop's queue, which alone changes the state machine.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from device.evaluator.messages import CancelCase, Message, PushCase, SignIn, SignOut
from device.evaluator.rate_later_codes import NoSigningKeyError, RateLaterCodes
from device.flow.mode import Mode
from device.flow.presenter import Status
from device.flow.rating_flow import Phase
from device.local_api.server import Refusal
from device.record.rate_later import RateLaterCode
from device.record.rating import Case, Staff

Post = Callable[[Message], None]
BUSY_PHASES = (Phase.RATING, Phase.REASONS)


def starting_json(mode: Mode) -> dict[str, Any]:
    """The status until the main loop publishes the first frame it drew."""
    return {
        "phase": "starting",
        "mode": mode.value,
        "projectNo": None,
        "staff": None,
        "keypadConnected": None,
        "clockSynced": False,
        "backlog": 0,
        "ratedSinceStart": 0,
        "lastSeq": 0,
        "lastEvaluationId": None,
        "outOfService": None,
    }


class EvaluatorInbox:
    def __init__(self, post: Post, mode: Mode, codes: RateLaterCodes | None = None) -> None:
        self._post = post
        self.codes = codes  # rate-later codes for receipts; None: none handed out
        self._lock = threading.Lock()
        self._status: Status | None = None  # None: starting
        self._staff: Staff | None = None
        self.mode = mode

    @property
    def staff(self) -> Staff | None:
        with self._lock:
            return self._staff

    # -- written by the main loop -------------------------------------------------------

    def publish(self, status: Status) -> None:
        with self._lock:
            self._status = status

    # -- called from API threads --------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            status = self._status
        return starting_json(self.mode) if status is None else status.as_json()

    def push_case(self, case: Case, page_id: str | None = None) -> Refusal | None:
        with self._lock:
            status, staff = self._status, self._staff
        if status is None:
            return Refusal.out_of_service("starting up")
        if status.phase is Phase.OUT_OF_SERVICE:
            problem = status.problem
            return Refusal.out_of_service(
                problem.value if problem else "device cannot store ratings"
            )
        if self.mode.needs_staff and staff is None:  # set at once, unlike the published phase
            return Refusal.paused()
        if self.mode.needs_staff and case.pro_manager_no is None and staff is not None:
            case = dataclasses.replace(case, pro_manager_no=staff.number, pro_manager=staff.name)
        self._post(PushCase(case, page_id))
        if self.codes is not None:
            self.codes.case_pushed(case.project_no)
        return None

    def rate_later_code(self, project_no: str) -> RateLaterCode | Refusal | None:
        """The case's rate-later code for the receipt; None for a case this device was not
        pushed, a Refusal when no code can be signed now."""
        if self.codes is None:
            return None
        try:
            return self.codes.code_for(project_no)
        except NoSigningKeyError:
            return Refusal.out_of_service("the device key is not open")

    def rate_later_handed_out(self, project_no: str) -> bool:
        """Whether a rate-later code went out for this case through the local API (for the
        case event's `rateLater`, together with the code the rate-later page showed)."""
        return self.codes is not None and self.codes.handed_out(project_no)

    def cancel_case(self, project_no: str) -> bool:
        with self._lock:
            status = self._status
        on_screen = (
            status is not None and status.project_no == project_no and status.phase in BUSY_PHASES
        )
        if on_screen:
            self._post(CancelCase(project_no))
        return on_screen

    def sign_in(self, staff: Staff) -> None:
        with self._lock:
            self._staff = staff
        self._post(SignIn(staff))

    def sign_out(self) -> None:
        with self._lock:
            self._staff = None
        self._post(SignOut())

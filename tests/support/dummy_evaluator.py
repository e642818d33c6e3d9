"""The dummy twin of the evaluator behind the local API: the simplest honest `EvaluatorControl`.

In memory and thread-safe: it queues cases, shows one at a time, pauses without staff.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from device.evaluator.rate_later_codes import RateLaterCodes
from device.keys.signing import DeviceKey
from device.local_api.server import Refusal
from device.record.rate_later import DEFAULT_TEMPLATE, RateLaterCode
from device.record.rating import Case, Staff


class DummyEvaluator:
    def __init__(self, mode: str = "window", staff: Staff | None = None) -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self.key = DeviceKey.generate()
        self.reset(staff)

    def reset(self, staff: Staff | None = None) -> None:
        """As just started, with `staff` signed in."""
        self.staff = staff
        self.on_screen: Case | None = None
        self.queue: list[Case] = []
        self.pushed: list[Case] = []  # every case accepted, in order
        self.cancelled: list[str] = []
        self.rated = 0
        self.out_of_service: str | None = None
        self.codes = RateLaterCodes(DEFAULT_TEMPLATE, "hcp-dummy", lambda: self.key)

    # -- EvaluatorControl ---------------------------------------------------------------

    def push_case(self, case: Case) -> Refusal | None:
        with self._lock:
            if self.out_of_service:
                return Refusal.out_of_service(self.out_of_service)
            if self.mode == "window" and self.staff is None:
                return Refusal.paused()
            if self.mode == "window" and case.pro_manager_no is None:
                case = dataclasses.replace(
                    case, pro_manager_no=self.staff.number, pro_manager=self.staff.name
                )
            self.pushed.append(case)
            self.codes.case_pushed(case.project_no)
            if self.on_screen is None:
                self.on_screen = case
            else:
                self.queue.append(case)
            return None

    def cancel_case(self, project_no: str) -> bool:
        with self._lock:
            if self.on_screen is None or self.on_screen.project_no != project_no:
                return False
            self.cancelled.append(project_no)
            self._next()
            return True

    def rate_later_code(self, project_no: str) -> RateLaterCode | Refusal | None:
        if self.out_of_service:
            return Refusal.out_of_service(self.out_of_service)
        return self.codes.code_for(project_no)

    def sign_in(self, staff: Staff) -> None:
        with self._lock:
            self.staff = staff

    def sign_out(self) -> None:
        with self._lock:
            self.staff = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            staff = self.staff
            return {
                "phase": self._phase(),
                "mode": self.mode,
                "projectNo": self.on_screen.project_no if self.on_screen else None,
                "staff": {"proManagerNo": staff.number, "proManager": staff.name}
                if staff
                else None,
                "keypadConnected": None,
                "clockSynced": True,
                "backlog": self.rated,
                "ratedSinceStart": self.rated,
                "lastSeq": self.rated,
                "lastEvaluationId": f"dummy-{self.rated}" if self.rated else None,
                "outOfService": self.out_of_service,
                "missingGlyphs": 0,
            }

    # -- what the rater would do ---------------------------------------------------------

    def rate(self) -> Case:
        """The rater presses a level for the case on screen: it leaves the screen, rated."""
        with self._lock:
            case = self.on_screen
            if case is None:
                raise AssertionError("no case on screen to rate")
            self.rated += 1
            self._next()
            return case

    def _next(self) -> None:
        self.on_screen = self.queue.pop(0) if self.queue else None

    def _phase(self) -> str:
        if self.out_of_service:
            return "out_of_service"
        if self.mode == "window" and self.staff is None:
            return "paused"
        return "rating" if self.on_screen else "idle"

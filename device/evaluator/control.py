"""The evaluator as the local API sees it: thread-safe, answers from the last published status
and hands every request to the main loop's queue, which alone changes the state machine.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from device.record.rating import Case, Staff

Post = Callable[[str, dict[str, Any]], None]
BUSY_PHASES = ("rating", "reasons")


class EvaluatorInbox:
    def __init__(self, post: Post, mode: str) -> None:
        self._post = post
        self._lock = threading.Lock()
        # "starting" until the main loop publishes the first frame it drew
        self._status: dict[str, Any] = {
            "phase": "starting",
            "mode": mode,
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
        self._staff: Staff | None = None
        self.mode = mode

    @property
    def staff(self) -> Staff | None:
        with self._lock:
            return self._staff

    # -- written by the main loop -------------------------------------------------------

    def publish(self, status: dict[str, Any]) -> None:
        with self._lock:
            self._status = dict(status)

    # -- called from API threads --------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def push_case(self, case: Case) -> str | None:
        with self._lock:
            phase, problem = self._status["phase"], self._status.get("outOfService")
            staff = self._staff
        if phase == "starting":
            return "E_OUT_OF_SERVICE: starting up"
        if phase == "out_of_service":
            return f"E_OUT_OF_SERVICE: {problem or 'device cannot store ratings'}"
        if self.mode == "window" and staff is None:  # set at once, unlike the published phase
            return "E_PAUSED"
        if self.mode == "window" and case.pro_manager_no is None and staff is not None:
            case = dataclasses.replace(case, pro_manager_no=staff.number, pro_manager=staff.name)
        self._post("case", {"case": case})
        return None

    def cancel_case(self, project_no: str) -> bool:
        with self._lock:
            on_screen = (
                self._status.get("projectNo") == project_no and self._status["phase"] in BUSY_PHASES
            )
        if on_screen:
            self._post("cancel", {"project_no": project_no})
        return on_screen

    def sign_in(self, staff: Staff) -> None:
        with self._lock:
            self._staff = staff
        self._post("sign_in", {"staff": staff})

    def sign_out(self) -> None:
        with self._lock:
            self._staff = None
        self._post("sign_out", {})

"""Rate-later codes for the receipt: which cases this device was pushed (and so may hand a
code out for), the one code each case gets, and whether a code went out (for the case event).

Thread-safe: the local API's threads ask for codes, the main loop asks what was handed out.
Kept in memory: after a restart the business system pushes the next cases anew.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from device.errors import HaochapingError
from device.keys.signing import DeviceKey
from device.record.rate_later import RateLaterCode, rate_later_url

RATING_WINDOW_S = 168 * 3600  # after this the province refuses the code anyway
MAX_CASES = 1000  # a busy window's week is a few hundred cases


class NoSigningKeyError(HaochapingError):
    """The device key is not open (out of service): no code can be signed now."""

    code = "E_OUT_OF_SERVICE"


class RateLaterCodes:
    """Cases pushed to this device, newest last, each with its code once one was asked for."""

    def __init__(
        self,
        template: str,
        device_id: str,
        key: Callable[[], DeviceKey | None],
        wall: Callable[[], float] = time.time,
        max_cases: int = MAX_CASES,
    ) -> None:
        self.template = template
        self.device_id = device_id
        self._key = key
        self._wall = wall
        self._max = max_cases
        self._lock = threading.Lock()
        self._cases: OrderedDict[str, tuple[float, RateLaterCode | None]] = OrderedDict()

    def case_pushed(self, project_no: str) -> None:
        """A case the business system pushed and the evaluator took."""
        with self._lock:
            if project_no in self._cases:
                self._cases.move_to_end(project_no)
                return
            self._cases[project_no] = (self._wall(), None)
            while len(self._cases) > self._max:
                self._cases.popitem(last=False)

    def knows(self, project_no: str) -> bool:
        with self._lock:
            return self._known(project_no)

    def code_for(self, project_no: str) -> RateLaterCode | None:
        """The case's code, made (signed) the first time it is asked for and the same after;
        None for a case this device was not pushed (or long ago). Raises KeyError when the
        device key is not open (NoSigningKeyError)."""
        with self._lock:
            if not self._known(project_no):
                return None
            pushed_at, code = self._cases[project_no]
            if code is not None:
                return code
            key = self._key()
            if key is None:
                raise NoSigningKeyError("the device key is not open")
            issued_at = int(self._wall())
            url = rate_later_url(self.template, project_no, self.device_id, issued_at, key)
            code = RateLaterCode(project_no, url, issued_at)
            self._cases[project_no] = (pushed_at, code)
            return code

    def handed_out(self, project_no: str) -> bool:
        """Whether a code for this case went out (the case event's `rateLater`)."""
        with self._lock:
            entry = self._cases.get(project_no)
            return entry is not None and entry[1] is not None

    def _known(self, project_no: str) -> bool:
        entry = self._cases.get(project_no)
        return entry is not None and self._wall() - entry[0] <= RATING_WINDOW_S

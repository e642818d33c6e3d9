"""Fault switches of the stand-in province, set and cleared at run time; each fires on a
device call with its probability. A FaultPlan is what one call drew; the server applies it.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from device.errors import HaochapingError
from simulator.province.http_server import Reply, retry_later
from simulator.province.receipts import WrongReceipt
from simulator.province.validation import Rejection, is_int

KINDS = (
    "down",
    "slow",
    "error500",
    "rate",
    "unavailable",
    "drop_after_commit",
    "reject",
    "bad_receipt",
    "expired_token",
)
PARAMS: dict[str, tuple[str, ...]] = {  # the parameters that mean something for each kind
    "down": ("mode", "retry_after"),
    "slow": ("delay_ms",),
    "error500": (),
    "rate": ("retry_after",),
    "unavailable": ("retry_after",),
    "drop_after_commit": (),
    "reject": ("evaluation_ids", "fraction", "code", "field"),
    "bad_receipt": ("receipt",),
    # a 国密 province only (a JSON province has no tokens): the call's token has just expired
    "expired_token": (),
}
DOWN_MODES = ("503", "close")
MAX_RETRY_AFTER = 86_400
MAX_DELAY_MS = 600_000
ERROR_CODE = re.compile(r"E_[A-Z0-9_]{1,40}")
CAMEL = {"retry_after": "retryAfter", "delay_ms": "delayMs", "evaluation_ids": "evaluationIds"}


class FaultError(HaochapingError, ValueError):
    """A fault setting that makes no sense; `field` names the parameter (JSON spelling)."""

    code = "E_FAULT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


def _number(value: Any) -> bool:
    return is_int(value) or isinstance(value, float)


@dataclass(frozen=True)
class Fault:
    """One switch. Parameters not listed in PARAMS for its kind keep their defaults."""

    kind: str
    probability: float = 1.0
    retry_after: int = 5  # down (503 flavour), rate, unavailable: the Retry-After seconds
    delay_ms: int = 1000  # slow
    mode: str = "503"  # down: "503" answers E_UNAVAILABLE, "close" hangs up without a word
    evaluation_ids: frozenset[str] = frozenset()  # reject: these records …
    fraction: float | None = None  # … and/or this share of records (all, if neither is set)
    code: str = "E_FIELD"  # reject: the rejection code
    field: str | None = None  # reject: the field named by E_FIELD (default "record")
    receipt: str = WrongReceipt.MISSING  # bad_receipt: what the receipts are instead

    def __post_init__(self) -> None:
        checks = (_check_kind, _check_probability, _check_timing, _check_reject, _check_receipt)
        for check in checks:
            check(self)

    @classmethod
    def from_json(cls, kind: str, body: Any) -> Fault:
        """From the admin interface's body, e.g. `{"probability": 0.5, "delayMs": 200}`."""
        if not isinstance(body, dict):
            raise FaultError("body", "must be an object")
        names = {CAMEL.get(name, name): name for name in ("probability", *PARAMS.get(kind, ()))}
        unknown = sorted(set(body) - set(names))
        if unknown:
            raise FaultError(unknown[0], f"is not a parameter of the {kind} fault")
        params = {names[key]: value for key, value in body.items()}
        return cls.build(kind, **params)

    @classmethod
    def build(cls, kind: str, probability: float = 1.0, **params: Any) -> Fault:
        """From Python keyword arguments, e.g. `Fault.build("rate", retry_after=3)`."""
        allowed = PARAMS.get(kind, ())
        for name in params:
            if name not in allowed:
                raise FaultError(CAMEL.get(name, name), f"is not a parameter of the {kind} fault")
        ids = params.get("evaluation_ids")
        if ids is not None:
            if isinstance(ids, str) or not isinstance(ids, Iterable):
                raise FaultError("evaluationIds", "must be a list of strings")
            params["evaluation_ids"] = frozenset(ids)
        return cls(kind, probability, **params)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"probability": self.probability}
        for name in PARAMS[self.kind]:
            value = getattr(self, name)
            body[CAMEL.get(name, name)] = sorted(value) if isinstance(value, frozenset) else value
        return body

    def rejects(self, evaluation_id: str) -> bool:
        """Whether this reject fault refuses the record; a record always gets the same answer."""
        if evaluation_id in self.evaluation_ids:
            return True
        share = self.fraction
        if share is None:
            share = 0.0 if self.evaluation_ids else 1.0
        digest = hashlib.sha256(evaluation_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < share


def _check_kind(fault: Fault) -> None:
    if fault.kind not in KINDS:
        raise FaultError("kind", f"must be one of {', '.join(KINDS)}")


def _check_probability(fault: Fault) -> None:
    if not _number(fault.probability) or not 0 <= fault.probability <= 1:
        raise FaultError("probability", "must be a number from 0 to 1")


def _check_timing(fault: Fault) -> None:
    if not is_int(fault.retry_after) or not 0 <= fault.retry_after <= MAX_RETRY_AFTER:
        raise FaultError("retryAfter", f"must be whole seconds from 0 to {MAX_RETRY_AFTER}")
    if not is_int(fault.delay_ms) or not 0 <= fault.delay_ms <= MAX_DELAY_MS:
        raise FaultError("delayMs", f"must be whole milliseconds from 0 to {MAX_DELAY_MS}")
    if fault.mode not in DOWN_MODES:
        raise FaultError("mode", f"must be one of {', '.join(DOWN_MODES)}")


def _check_reject(fault: Fault) -> None:
    if not all(isinstance(i, str) for i in fault.evaluation_ids):
        raise FaultError("evaluationIds", "must be a list of strings")
    if fault.fraction is not None and (not _number(fault.fraction) or not 0 <= fault.fraction <= 1):
        raise FaultError("fraction", "must be a number from 0 to 1")
    if not isinstance(fault.code, str) or not ERROR_CODE.fullmatch(fault.code):
        raise FaultError("code", "must be an error code such as E_FIELD")
    if fault.field is not None and not isinstance(fault.field, str):
        raise FaultError("field", "must be a string or null")


def _check_receipt(fault: Fault) -> None:
    if fault.receipt not in WrongReceipt.__members__.values():
        raise FaultError("receipt", f"must be one of {', '.join(WrongReceipt)}")


@dataclass(frozen=True)
class FaultPlan:
    """The faults one device call drew, applied by the server in this order:
    down, slow, unavailable, rate, error500, then reject per record, wrong receipts and drop
    after commit.
    """

    fired: Mapping[str, Fault] = field(default_factory=dict)

    @property
    def delay_seconds(self) -> float:
        slow = self.fired.get("slow")
        return 0.0 if slow is None else slow.delay_ms / 1000

    def refusal(self) -> Reply | None:
        """The reply that ends the call before anything is read or stored, if one fired."""
        down = self.fired.get("down")
        if down is not None and down.mode == "close":
            return Reply.dropped()
        for kind in ("down", "unavailable", "rate", "error500"):
            fault = self.fired.get(kind)
            if fault is not None:
                return _REFUSALS[kind](fault)
        return None

    def rejection(self, evaluation_id: str) -> Rejection | None:
        reject = self.fired.get("reject")
        if reject is None or not reject.rejects(evaluation_id):
            return None
        message = f"rejected by an injected fault ({reject.code})"
        if reject.code == "E_FIELD":
            return Rejection(reject.code, message, reject.field or "record")
        return Rejection(reject.code, message)

    @property
    def wrong_receipt(self) -> WrongReceipt | None:
        """What accepted and duplicate results carry instead of a valid receipt, if anything."""
        fault = self.fired.get("bad_receipt")
        return None if fault is None else WrongReceipt(fault.receipt)

    @property
    def token_expired(self) -> bool:
        return "expired_token" in self.fired

    @property
    def drop_after_commit(self) -> bool:
        return "drop_after_commit" in self.fired


def _unavailable(fault: Fault) -> Reply:
    message = "the province is unavailable (injected fault); nothing was stored"
    return retry_later(503, "E_UNAVAILABLE", message, fault.retry_after).reply()


def _rate(fault: Fault) -> Reply:
    message = "too many requests (injected fault); nothing was stored"
    return retry_later(429, "E_RATE", message, fault.retry_after).reply()


def _error500(_fault: Fault) -> Reply:
    body = {"code": "E_INTERNAL", "message": "internal error (injected fault); nothing was stored"}
    return Reply(500, body)


_REFUSALS: dict[str, Callable[[Fault], Reply]] = {
    "down": _unavailable,
    "unavailable": _unavailable,
    "rate": _rate,
    "error500": _error500,
}


class Faults:
    """The switches in force. Thread-safe; `seed` makes a chaos run's draws repeatable."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._active: dict[str, Fault] = {}
        self._fired: Counter[str] = Counter()

    def set(self, kind: str, probability: float = 1.0, **params: Any) -> Fault:
        """Switch a fault on (replacing its earlier setting), e.g. `set("slow", delay_ms=300)`."""
        return self.put(Fault.build(kind, probability, **params))

    def put(self, fault: Fault) -> Fault:
        with self._lock:
            self._active[fault.kind] = fault
        return fault

    def clear(self, kind: str | None = None) -> None:
        """Switch one fault off, or all of them."""
        if kind is not None and kind not in KINDS:
            raise FaultError("kind", f"must be one of {', '.join(KINDS)}")
        with self._lock:
            if kind is None:
                self._active.clear()
            else:
                self._active.pop(kind, None)

    def active(self) -> dict[str, Fault]:
        with self._lock:
            return dict(self._active)

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {kind: fault.as_json() for kind, fault in sorted(self.active().items())}

    def fired_counts(self, *, reset: bool = False) -> dict[str, int]:
        """How often each fault fired since the start (or the last reset)."""
        with self._lock:
            counts = dict(sorted(self._fired.items()))
            if reset:
                self._fired.clear()
        return counts

    def draw(self) -> FaultPlan:
        """Roll each active fault once for one device call (probability 0 never, 1 always)."""
        with self._lock:
            if not self._active:
                return NO_FAULTS
            fired = {k: f for k, f in self._active.items() if self._rng.random() < f.probability}
            self._fired.update(fired.keys())
        return FaultPlan(fired) if fired else NO_FAULTS


NO_FAULTS = FaultPlan()

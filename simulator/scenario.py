"""Scenario files: scripted runs of a simulated hall, for the demo, tests and chaos runs.

A scenario is TOML: `name`, `windows` (how many evaluators), and `[[step]]` tables, each with
one action and optionally `window = N` (1-based, default 1). Actions:

    sign_in = {proManagerNo, proManager}    sign_out = true
    push = {a case as the local API takes it}   cancel = "projectNo"
    press = 1..5          (a key on the window's keypad, through its pty)
    unplug = true / replug = true            (the keypad's USB cable)
    kill = "evaluator" | "sync"  (SIGKILL)   restart = "evaluator" | "sync"
    fault = {kind, probability, …}           clear_faults = true   (at the province)
    wait = "phase" or {phase, timeout}       sleep = seconds
    expect = {province = N, timeout}  (ratings from this window at the province)
    expect = {ledger = N} / {outcomes = N}   (in this window's ledger)
    rate_later = {projectNo, satisfaction, evalDetail = [codes], writingEvaluation}
        (the receipt's code fetched through the local API, the phone's form posted to it)

`push` waits until the rating page shows the case; `press` waits until the rating is stored
(or the reasons page opens), so scripts read as what a person does.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from device.errors import HaochapingError
from device.ledger.counts import read_counts
from simulator.hall import SimulatedWindow, StandInProvince

ACTIONS = (
    "sign_in",
    "sign_out",
    "push",
    "cancel",
    "press",
    "unplug",
    "replug",
    "kill",
    "restart",
    "fault",
    "clear_faults",
    "wait",
    "sleep",
    "expect",
    "rate_later",
)


class ScenarioError(HaochapingError, ValueError):
    """A scenario file that cannot be run as written; says which step and why."""

    code = "E_SCENARIO"


@dataclass(frozen=True)
class Step:
    number: int
    action: str
    value: Any
    window: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    windows: int
    steps: tuple[Step, ...]


def parse(text: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}") from exc
    windows = data.get("windows", 1)
    if not isinstance(windows, int) or not 1 <= windows <= 16:
        raise ScenarioError("windows must be 1-16")
    steps = []
    for number, table in enumerate(data.get("step", []), start=1):
        window = table.get("window", 1)
        actions = [k for k in table if k != "window"]
        if len(actions) != 1 or actions[0] not in ACTIONS:
            raise ScenarioError(f"step {number}: exactly one action of {', '.join(ACTIONS)}")
        if not isinstance(window, int) or not 1 <= window <= windows:
            raise ScenarioError(f"step {number}: window must be 1-{windows}")
        steps.append(Step(number, actions[0], table[actions[0]], window))
    if not steps:
        raise ScenarioError("a scenario needs at least one [[step]]")
    return Scenario(str(data.get("name", "scenario")), windows, tuple(steps))


def load(path: Path) -> Scenario:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror}") from exc


@dataclass
class Tally:
    """What happened, as a person watching would count it."""

    pressed: dict[str, int] = field(default_factory=dict)  # projectNo -> key
    stored: dict[str, str] = field(default_factory=dict)  # projectNo -> evaluationId
    rated_later: list[str] = field(default_factory=list)  # projectNo rated on a phone


class Runner:
    def __init__(
        self,
        windows: list[SimulatedWindow],
        province: StandInProvince,
        say: Callable[[str], None] = print,
    ) -> None:
        self.windows = windows
        self.province = province
        self.say = say
        self.tally = Tally()

    def run(self, scenario: Scenario) -> Tally:
        for step in scenario.steps:
            try:
                getattr(self, f"_{step.action}")(self.windows[step.window - 1], step.value)
            except (TimeoutError, RuntimeError, AssertionError) as exc:
                raise ScenarioError(f"step {step.number} ({step.action}): {exc}") from exc
        return self.tally

    # -- actions ----------------------------------------------------------------------

    def _sign_in(self, w: SimulatedWindow, staff: dict[str, str]) -> None:
        w.client.sign_in(staff["proManagerNo"], staff["proManager"])
        w.client.wait_for(
            lambda s: s["staff"] is not None and s["phase"] == "idle",
            10,
            "staff signed in",
            w.evaluator_gone,
        )
        self.say(f"window {w.window_no}: staff {staff['proManagerNo']} signed in")

    def _sign_out(self, w: SimulatedWindow, _value: object) -> None:
        w.client.sign_out()
        w.client.wait_for(lambda s: s["phase"] == "paused", 10, "paused", w.evaluator_gone)

    def _push(self, w: SimulatedWindow, case: dict[str, Any]) -> None:
        w.client.push_case(case)
        w.client.wait_for(
            lambda s: s["phase"] == "rating" and s["projectNo"] == case["projectNo"],
            10,
            f"rating page for {case['projectNo']}",
            w.evaluator_gone,
        )
        self.say(f"window {w.window_no}: case {case['projectNo']} ({case['taskName']}) on screen")

    def _cancel(self, w: SimulatedWindow, project_no: str) -> None:
        if not w.client.cancel(project_no):
            raise AssertionError(f"{project_no} was not on screen")

    def _press(self, w: SimulatedWindow, key: int) -> None:
        status = w.client.status()
        project_no, before = status["projectNo"], status["lastSeq"]
        w.keypad.press(key)
        self.tally.pressed[project_no] = key
        after = w.client.wait_for(
            lambda s: s["lastSeq"] > before or s["phase"] == "reasons",
            10,
            f"key {key} taken",
            w.evaluator_gone,
        )
        if after["lastSeq"] > before:
            self.tally.stored[project_no] = after["lastEvaluationId"]
            self.say(f"window {w.window_no}: key {key} -> stored as seq {after['lastSeq']}")
        else:
            self.say(f"window {w.window_no}: key {key} -> reasons page")

    def _unplug(self, w: SimulatedWindow, _value: object) -> None:
        w.keypad.unplug()
        w.client.wait_for(lambda s: s["keypadConnected"] is False, 15, "keypad lost")
        self.say(f"window {w.window_no}: keypad unplugged")

    def _replug(self, w: SimulatedWindow, _value: object) -> None:
        w.keypad.replug()
        w.client.wait_for(lambda s: s["keypadConnected"] is True, 15, "keypad found")
        self.say(f"window {w.window_no}: keypad plugged back in")

    def _kill(self, w: SimulatedWindow, name: str) -> None:
        w.kill(name)
        self.say(f"window {w.window_no}: {name} killed")

    def _restart(self, w: SimulatedWindow, name: str) -> None:
        w.restart(name)
        if name == "evaluator":
            w.client.wait_for(lambda s: s["phase"] not in ("starting",), 30, "evaluator back")
        self.say(f"window {w.window_no}: {name} restarted")

    def _fault(self, _w: SimulatedWindow, fault: dict[str, Any]) -> None:
        params = {k: v for k, v in fault.items() if k not in ("kind", "probability")}
        self.province.faults.set(fault["kind"], fault.get("probability", 1.0), **params)
        self.say(f"province: fault {fault['kind']} on")

    def _clear_faults(self, _w: SimulatedWindow, _value: object) -> None:
        self.province.faults.clear()
        self.say("province: faults cleared")

    def _wait(self, w: SimulatedWindow, value: str | dict[str, Any]) -> None:
        phase = value if isinstance(value, str) else value["phase"]
        timeout = 10 if isinstance(value, str) else value.get("timeout", 10)
        w.client.wait_for(
            lambda s: s["phase"] == phase, timeout, f"phase {phase}", w.evaluator_gone
        )

    def _sleep(self, _w: SimulatedWindow, seconds: float) -> None:
        time.sleep(float(seconds))

    def _expect(self, w: SimulatedWindow, expected: dict[str, Any]) -> None:
        unknown = set(expected) - {"province", "ledger", "outcomes", "timeout"}
        if unknown:
            raise AssertionError(
                f"expect takes province, ledger, outcomes, timeout; "
                f"not {', '.join(sorted(unknown))}"
            )
        timeout = float(expected.get("timeout", 10))
        for what in ("province", "ledger", "outcomes"):
            if what in expected:
                count = self._counter(w, what)
                end = time.monotonic() + timeout
                while count() != expected[what] and time.monotonic() < end:
                    time.sleep(0.1)
                got = count()
                if got != expected[what]:
                    raise AssertionError(f"expected {what} {expected[what]}, found {got}")
                self.say(f"window {w.window_no}: {what} holds {got}")

    def _rate_later(self, w: SimulatedWindow, rating: dict[str, Any]) -> None:
        """The rater takes the receipt home and rates on a phone: the code as the business
        system gets it for the receipt, the form posted as a phone's browser posts it."""
        code = w.client.rate_later(rating["projectNo"])
        url = code["url"]
        query = parse_qs(urlsplit(url).query)
        form: list[tuple[str, str]] = [(k, query[k][0]) for k in ("p", "d", "t", "k", "s")]
        form.append(("satisfaction", str(rating["satisfaction"])))
        form += [("evalDetail", tag) for tag in rating.get("evalDetail", [])]
        form.append(("writingEvaluation", rating.get("writingEvaluation", "")))
        page = requests.get(url, timeout=10)
        if page.status_code != 200:
            raise AssertionError(f"the phone page answered {page.status_code}")
        sent = requests.post(url.split("?", 1)[0], data=form, timeout=10)
        if sent.status_code != 200 or "感谢您的评价" not in sent.text:
            raise AssertionError(f"the phone rating answered {sent.status_code}")
        self.tally.rated_later.append(rating["projectNo"])
        self.say(
            f"phone: case {rating['projectNo']} rated {rating['satisfaction']} "
            "later by its receipt's QR code"
        )

    def _counter(self, w: SimulatedWindow, what: str) -> Callable[[], int]:
        assert w.config is not None
        if what == "province":
            device_id = w.config.province.device_id
            return lambda: self.province.store.evaluation_count(device_id)
        path = w.config.ledger_path

        def count() -> int:
            counts = read_counts(path)
            return counts.ratings if what == "ledger" else counts.outcomes

        return count

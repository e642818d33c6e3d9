"""The evaluator's decisions, without pygame: which keys are lit, when the device stops or
resumes taking ratings, how long the loop sleeps, what the status and the page report."""

from __future__ import annotations

import pytest

from device.evaluator.health import Health
from device.flow import pace
from device.flow.keypad_keys import DARK, INVITING, Lights, level_for_key, lights_for
from device.flow.mode import Mode
from device.flow.presenter import Facts, screen_view, status_of
from device.flow.rating_flow import Phase, Problem, RatingFlow, Timing
from device.flow.service import Verdict, after_health_check
from device.record.rating import Case, Level, Source, Staff

LEFT_TO_RIGHT = [5, 4, 3, 2, 1]
CASE = Case(project_no="A1", task_code="T", task_name="事项甲")
STAFF = Staff("0421", "王敏")
TIMING = Timing(rating_s=30, reasons_s=60, thanks_s=3, rate_later_s=20)


def window_flow() -> RatingFlow:
    flow = RatingFlow(TIMING, needs_staff=True)
    flow.sign_in(STAFF)
    return flow


def facts(mode: Mode = Mode.WINDOW, health: Health | None = None) -> Facts:
    return Facts(
        mode=mode,
        keypad_connected=True,
        clock_synced=True,
        health=health or Health(True, 0, False),
        rated=0,
        last_seq=0,
        last_evaluation_id=None,
        window_no="12",
        hall_code=None,
        terminal_no=None,
    )


# -- the keypad ---------------------------------------------------------------------------


def test_every_key_invites_a_press_while_a_rating_is_awaited():
    assert lights_for(Phase.RATING, Mode.WINDOW, None, LEFT_TO_RIGHT) == INVITING


def test_during_the_reasons_page_no_level_key_is_lit():
    chosen = Level.VERY_DISSATISFIED
    assert lights_for(Phase.REASONS, Mode.WINDOW, chosen, LEFT_TO_RIGHT) == DARK


def test_the_thanks_page_lights_the_key_of_the_level_given():
    lights = lights_for(Phase.THANKS, Mode.WINDOW, Level.SATISFIED, LEFT_TO_RIGHT)
    assert lights == Lights(key=2)  # 满意 is the second key from the left by default
    reversed_keys = lights_for(Phase.THANKS, Mode.WINDOW, Level.SATISFIED, [1, 2, 3, 4, 5])
    assert reversed_keys == Lights(key=4)


@pytest.mark.parametrize(
    "phase", [Phase.PAUSED, Phase.IDLE, Phase.STORING, Phase.RATE_LATER, Phase.OUT_OF_SERVICE]
)
def test_the_keys_are_dark_when_no_press_would_count(phase):
    assert lights_for(phase, Mode.WINDOW, None, LEFT_TO_RIGHT) == DARK


def test_a_self_service_terminal_never_invites_a_key_press_and_ignores_keys():
    assert lights_for(Phase.RATING, Mode.SELF_SERVICE, None, LEFT_TO_RIGHT) == DARK
    assert level_for_key(1, LEFT_TO_RIGHT, Mode.SELF_SERVICE) is None


def test_each_key_gives_the_level_configured_for_it():
    assert level_for_key(1, LEFT_TO_RIGHT, Mode.WINDOW) is Level.VERY_SATISFIED
    assert level_for_key(5, LEFT_TO_RIGHT, Mode.WINDOW) is Level.VERY_DISSATISFIED
    assert level_for_key(1, [1, 2, 3, 4, 5], Mode.WINDOW) is Level.VERY_DISSATISFIED


# -- in and out of service ------------------------------------------------------------------


def never_asked() -> bool:
    raise AssertionError("the ledger need not be touched for this")


def test_a_full_disk_shows_out_of_service():
    assert after_health_check(False, Phase.IDLE, None, never_asked) is Verdict.DISK_FULL


def test_a_full_disk_does_not_hide_the_problem_already_shown():
    verdict = after_health_check(False, Phase.OUT_OF_SERVICE, Problem.KEY, never_asked)
    assert verdict is Verdict.KEEP


@pytest.mark.parametrize("problem", [Problem.DISK, Problem.LEDGER])
def test_storage_usable_again_brings_the_device_back(problem):
    verdict = after_health_check(True, Phase.OUT_OF_SERVICE, problem, lambda: True)
    assert verdict is Verdict.BACK_IN_SERVICE
    still_broken = after_health_check(True, Phase.OUT_OF_SERVICE, problem, lambda: False)
    assert still_broken is Verdict.KEEP


def test_a_missing_key_is_not_cured_by_free_disk_space():
    verdict = after_health_check(True, Phase.OUT_OF_SERVICE, Problem.KEY, never_asked)
    assert verdict is Verdict.KEEP


def test_a_healthy_device_in_service_stays_as_it_is():
    assert after_health_check(True, Phase.IDLE, None, never_asked) is Verdict.KEEP


# -- pace ----------------------------------------------------------------------------------


def test_touches_are_polled_fast_only_while_a_rater_is_on_a_page():
    flow = window_flow()
    assert pace.sleep_s(flow, 100.0, next_health=1000.0) == pytest.approx(pace.IDLE_POLL_S)
    flow.push(CASE, now=100.0)
    assert pace.sleep_s(flow, 100.5, next_health=1000.0) == pytest.approx(pace.RATER_POLL_S)


def test_the_thanks_page_ends_on_time_not_at_the_next_idle_poll():
    flow = RatingFlow(TIMING, needs_staff=False)
    flow.push(CASE, now=100.0)
    flow.press(Level.SATISFIED, Source.KEYPAD, 101.0)
    flow.stored(101.0)  # thanks for 3 s
    assert pace.sleep_s(flow, 103.9, next_health=1000.0) == pytest.approx(0.1)


def test_the_health_check_is_not_overslept():
    flow = window_flow()
    assert pace.sleep_s(flow, 100.0, next_health=100.05) == pytest.approx(0.05)


def test_upkeep_waits_while_a_rater_is_mid_rating():
    assert pace.quiet(Phase.IDLE) and pace.quiet(Phase.THANKS)
    assert not pace.quiet(Phase.RATING) and not pace.quiet(Phase.REASONS)


# -- what is reported and shown ------------------------------------------------------------


def test_the_status_names_the_problem_only_while_out_of_service():
    flow = window_flow()
    flow.out_of_service(Problem.DISK)
    status = status_of(flow, facts()).as_json()
    assert (status["phase"], status["outOfService"], status["mode"]) == (
        "out_of_service",
        "oos_disk",
        "window",
    )
    flow.back_in_service()
    assert status_of(flow, facts()).as_json()["outOfService"] is None


def test_a_backlog_is_shown_on_the_page_only_when_delivery_is_stuck():
    flow = window_flow()
    moving = screen_view(flow, facts(health=Health(True, 40, False)), 0.0, (), None)
    stuck = screen_view(flow, facts(health=Health(True, 40, True)), 0.0, (), None)
    assert (moving.backlog, stuck.backlog) == (None, 40)


def test_a_window_without_staff_shows_the_paused_page():
    flow = RatingFlow(TIMING, needs_staff=Mode.WINDOW.needs_staff)
    assert screen_view(flow, facts(), 0.0, (), None).phase is Phase.PAUSED
    terminal = RatingFlow(TIMING, needs_staff=Mode.SELF_SERVICE.needs_staff)
    assert screen_view(terminal, facts(Mode.SELF_SERVICE), 0.0, (), None).phase is Phase.IDLE

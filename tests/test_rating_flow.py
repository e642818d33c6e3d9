"""The rating cycle a citizen goes through, as the pure state machine decides it."""

from __future__ import annotations

from device.rating import Case, Level
from device.rating_flow import Phase, RatingFlow

CASE_A = Case(project_no="A1", task_code="T", task_name="事项甲")
CASE_B = Case(project_no="B2", task_code="T", task_name="事项乙")


def test_case_rating_thanks_idle():
    flow = RatingFlow(rating_timeout_s=30, thanks_s=3)
    assert flow.push(CASE_A, now=100.0) == []
    flow.shown(100.2)
    choice = flow.press(Level.SATISFIED, "keypad", at=101.45)
    assert choice is not None
    assert (choice.case, choice.level, choice.reaction_ms) == (CASE_A, Level.SATISFIED, 1250)
    assert flow.phase is Phase.STORING  # no thanks before the ledger says it is stored
    flow.stored(101.5)
    assert flow.phase is Phase.THANKS
    assert flow.tick(104.4) == []
    assert flow.phase is Phase.THANKS
    flow.tick(104.6)
    assert flow.phase is Phase.IDLE
    assert flow.case is None


def test_a_press_with_no_case_on_screen_does_nothing():
    flow = RatingFlow(30, 3)
    assert flow.press(Level.VERY_SATISFIED, "touch", at=1.0) is None
    assert flow.phase is Phase.IDLE


def test_one_press_counts_per_case():
    flow = RatingFlow(30, 3)
    flow.push(CASE_A, 0.0)
    assert flow.press(Level.SATISFIED, "keypad", 1.0) is not None
    assert flow.press(Level.VERY_DISSATISFIED, "keypad", 1.1) is None  # while storing
    flow.stored(1.2)
    assert flow.press(Level.VERY_DISSATISFIED, "touch", 1.3) is None  # on the thanks page
    assert flow.chosen is Level.SATISFIED


def test_a_new_case_ends_the_waiting_one_as_not_rated():
    flow = RatingFlow(30, 3)
    flow.push(CASE_A, 0.0)
    ended = flow.push(CASE_B, 5.0)
    assert [(e.case.project_no, e.reason) for e in ended] == [("A1", "replaced")]
    assert flow.case == CASE_B


def test_timeout_ends_the_case_as_not_rated_and_never_invents_a_rating():
    flow = RatingFlow(rating_timeout_s=10, thanks_s=3)
    flow.push(CASE_A, 0.0)
    assert flow.tick(9.9) == []
    ended = flow.tick(10.0)
    assert [(e.case.project_no, e.reason) for e in ended] == [("A1", "timeout")]
    assert flow.phase is Phase.IDLE
    assert flow.chosen is None


def test_a_storage_failure_puts_the_device_out_of_service():
    flow = RatingFlow(30, 3)
    flow.push(CASE_A, 0.0)
    flow.press(Level.SATISFIED, "keypad", 1.0)
    flow.store_failed("disk full")
    assert flow.phase is Phase.OUT_OF_SERVICE
    assert flow.push(CASE_B, 2.0)[0].reason == "out_of_service"
    assert flow.press(Level.SATISFIED, "keypad", 3.0) is None


def test_reaction_time_counts_from_the_page_reaching_the_glass():
    flow = RatingFlow(30, 3)
    flow.push(CASE_A, 10.0)
    flow.shown(10.5)
    choice = flow.press(Level.BASICALLY_SATISFIED, "touch", 12.0)
    assert choice is not None
    assert choice.reaction_ms == 1500

"""The rating cycle a citizen goes through, as the pure state machine decides it."""

from __future__ import annotations

from device.flow.rating_flow import BUSINESS, OVERALL, SERVICE, Phase, RatingFlow, Timing
from device.record.rating import Case, Level, Staff, Theme, ThemeItem

CASE_A = Case(project_no="A1", task_code="T", task_name="事项甲")
CASE_B = Case(project_no="B2", task_code="T", task_name="事项乙")
TIMING = Timing(rating_s=30, reasons_s=60, thanks_s=3, rate_later_s=20)
STAFF = Staff("0421", "王敏")


def window_flow() -> RatingFlow:
    flow = RatingFlow(TIMING, needs_staff=True)
    flow.sign_in(STAFF)
    return flow


def test_case_rating_thanks_idle():
    flow = window_flow()
    assert flow.push(CASE_A, now=100.0) == []
    flow.shown(100.2)
    choice = flow.press(Level.SATISFIED, "keypad", at=101.45)
    assert choice is not None
    assert (choice.case, choice.level, choice.reaction_ms, choice.tags) == (
        CASE_A,
        Level.SATISFIED,
        1250,
        (),
    )
    assert flow.phase is Phase.STORING  # no thanks before the ledger says it is stored
    flow.stored(101.5)
    assert flow.phase is Phase.THANKS
    assert flow.tick(104.4) == []
    flow.tick(104.6)
    assert flow.phase is Phase.IDLE
    assert flow.case is None


def test_a_window_without_staff_is_paused_and_takes_no_case():
    flow = RatingFlow(TIMING, needs_staff=True)
    assert flow.phase is Phase.PAUSED
    assert [n.reason for n in flow.push(CASE_A, 0.0)] == ["paused"]
    assert flow.press(Level.SATISFIED, "keypad", 1.0) is None
    flow.sign_in(STAFF)
    assert flow.phase is Phase.IDLE
    flow.push(CASE_A, 2.0)
    assert [(n.case, n.reason) for n in flow.sign_out()] == [(CASE_A, "staff_signed_out")]
    assert flow.phase is Phase.PAUSED


def test_a_self_service_terminal_needs_no_staff():
    flow = RatingFlow(TIMING, needs_staff=False)
    assert flow.phase is Phase.IDLE
    assert flow.push(CASE_A, 0.0) == []


def test_a_press_with_no_case_on_screen_does_nothing():
    flow = window_flow()
    assert flow.press(Level.VERY_SATISFIED, "touch", at=1.0) is None
    assert flow.phase is Phase.IDLE


def test_one_press_counts_per_case():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    assert flow.press(Level.SATISFIED, "keypad", 1.0) is not None
    assert flow.press(Level.VERY_DISSATISFIED, "keypad", 1.1) is None  # while storing
    flow.stored(1.2)
    assert flow.press(Level.VERY_DISSATISFIED, "touch", 1.3) is None  # on the thanks page
    assert flow.chosen is Level.SATISFIED


def test_a_new_case_ends_the_waiting_one_as_not_rated():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    ended = flow.push(CASE_B, 5.0)
    assert [(e.case.project_no, e.reason) for e in ended] == [("A1", "replaced")]
    assert flow.case == CASE_B


def test_cancel_ends_only_the_named_case():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    assert flow.cancel("B2") == []
    assert [e.reason for e in flow.cancel("A1")] == ["cancelled"]
    assert flow.phase is Phase.IDLE


def test_timeout_offers_rating_later_and_never_invents_a_rating():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    assert flow.tick(29.9) == []
    ended = flow.tick(30.0)
    assert [(e.case.project_no, e.reason, e.level) for e in ended] == [("A1", "timeout", None)]
    assert flow.phase is Phase.RATE_LATER
    assert flow.case == CASE_A  # the QR code is for this case
    assert flow.press(Level.SATISFIED, "keypad", 31.0) is None
    flow.tick(50.0)
    assert flow.phase is Phase.IDLE


def test_a_bad_rating_waits_for_reasons_chosen_by_the_rater():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    assert flow.press(Level.DISSATISFIED, "keypad", 2.0) is None
    assert flow.phase is Phase.REASONS
    assert flow.submit(3.0) is None  # no reason chosen: nothing to submit
    flow.toggle_tag("B01")
    flow.toggle_tag("B03")
    flow.toggle_tag("B01")
    choice = flow.submit(9.0)
    assert choice is not None
    assert (choice.level, choice.tags, choice.reaction_ms, choice.source) == (
        Level.DISSATISFIED,
        ("B03",),
        2000,
        "keypad",
    )


def test_leaving_the_reasons_page_records_no_rating_but_keeps_the_press():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    flow.press(Level.VERY_DISSATISFIED, "touch", 2.0)
    ended = flow.tick(62.0)
    assert [(e.reason, e.level) for e in ended] == [("no_reason", Level.VERY_DISSATISFIED)]
    assert flow.phase is Phase.RATE_LATER  # the rate-later code, as after no press at all
    assert flow.case == CASE_A and flow.submit(63.0) is None
    assert flow.tick(62.0 + TIMING.rate_later_s) == []  # nothing ends twice
    assert flow.phase is Phase.IDLE
    assert flow.tags == ()


def test_indicators_by_keypad_rate_row_after_row():
    flow = window_flow()
    flow.push(Case("A1", "T", "事项甲", indicators=True), 0.0)
    assert flow.press(Level.SATISFIED, "keypad", 1.0) is None
    assert flow.press(Level.VERY_SATISFIED, "keypad", 2.0) is None
    choice = flow.press(Level.BASICALLY_SATISFIED, "keypad", 3.0)
    assert choice is not None
    assert choice.level is Level.SATISFIED
    assert choice.indicators == {"business": 5, "service": 3}
    assert choice.reaction_ms == 1000


def test_touch_on_a_multi_row_page_needs_submit_and_may_change_rows():
    theme = Theme(
        "TH1", "开办企业一件事", (ThemeItem("P1", "设立登记"), ThemeItem("P2", "公章刻制"))
    )
    flow = window_flow()
    flow.push(Case("A1", "T", "开办企业", theme=theme), 0.0)
    assert flow.submit(0.5) is None  # nothing rated yet
    flow.press(Level.SATISFIED, "touch", 1.0, row=OVERALL)
    flow.press(Level.DISSATISFIED, "touch", 2.0, row="item:1")
    flow.press(Level.VERY_SATISFIED, "touch", 3.0, row=OVERALL)
    choice = flow.submit(4.0)
    assert choice is not None
    assert choice.level is Level.VERY_SATISFIED
    assert choice.theme_levels == (None, 2)
    assert choice.reaction_ms == 1000  # the first overall press


def test_a_slow_keypad_rater_on_a_theme_keeps_the_page_while_pressing():
    items = tuple(ThemeItem(f"P{n}", f"事项{n}") for n in range(6))
    flow = window_flow()
    flow.push(Case("A1", "T", "开办企业", theme=Theme("TH1", "一件事", items)), 0.0)
    at = 0.0
    for _ in range(6):  # 25 s between presses: 150 s in all, five rating pages' time
        at += 25.0
        assert flow.tick(at) == []
        assert flow.press(Level.SATISFIED, "keypad", at) is None
    at += 25.0
    assert flow.tick(at) == []
    choice = flow.press(Level.VERY_SATISFIED, "keypad", at)
    assert choice is not None and choice.theme_levels == (4, 4, 4, 4, 4, 5)
    assert flow.press(Level.SATISFIED, "keypad", at + 31) is None  # stored: nothing more


def test_an_idle_multi_row_page_still_times_out():
    flow = window_flow()
    flow.push(Case("A1", "T", "开办企业", indicators=True), 0.0)
    assert flow.press(Level.SATISFIED, "keypad", 5.0) is None
    ended = flow.tick(5.0 + TIMING.rating_s + 0.5)
    assert [(e.reason, e.level) for e in ended] == [("timeout", Level.SATISFIED)]


def test_a_storage_failure_puts_the_device_out_of_service_until_it_recovers():
    flow = window_flow()
    flow.push(CASE_A, 0.0)
    flow.press(Level.SATISFIED, "keypad", 1.0)
    flow.store_failed("disk full")
    assert flow.phase is Phase.OUT_OF_SERVICE
    assert flow.push(CASE_B, 2.0)[0].reason == "out_of_service"
    assert flow.press(Level.SATISFIED, "keypad", 3.0) is None
    flow.back_in_service()
    assert flow.phase is Phase.IDLE


def test_reaction_time_counts_from_the_page_reaching_the_glass():
    flow = window_flow()
    flow.push(CASE_A, 10.0)
    flow.shown(10.5)
    choice = flow.press(Level.BASICALLY_SATISFIED, "touch", 12.0)
    assert choice is not None
    assert choice.reaction_ms == 1500


def test_rows_follow_the_kind_of_case():
    flow = window_flow()
    flow.push(Case("A1", "T", "x", indicators=True), 0.0)
    assert flow.page is not None
    assert flow.page.rows == (OVERALL, BUSINESS, SERVICE)


def test_a_bad_press_is_kept_whatever_ends_the_case():
    for end in ("cancel", "push", "sign_out"):
        flow = window_flow()
        flow.push(CASE_A, now=100.0)
        flow.press(Level.VERY_DISSATISFIED, "keypad", at=101.0)
        assert flow.phase is Phase.REASONS
        if end == "cancel":
            ended = flow.cancel("A1")
        elif end == "push":
            ended = flow.push(CASE_B, now=102.0)
        else:
            ended = flow.sign_out()
        (item,) = ended
        assert (item.case.project_no, item.level, item.shown_at) == (
            "A1",
            Level.VERY_DISSATISFIED,
            100.0,
        )


def test_a_bad_overall_level_changed_before_submitting_is_kept_as_changed_from():
    flow = window_flow()
    flow.push(Case(project_no="A1", task_code="T", task_name="事项甲", indicators=True), 100.0)
    flow.press(Level.VERY_DISSATISFIED, "touch", at=101.0, row=OVERALL)
    flow.press(Level.SATISFIED, "touch", at=102.0, row=OVERALL)
    choice = flow.submit(103.0)
    assert choice is not None
    assert (choice.level, choice.changed_from) == (Level.SATISFIED, Level.VERY_DISSATISFIED)


def test_the_raters_full_time_starts_when_the_page_first_reaches_the_glass():
    flow = RatingFlow(TIMING, needs_staff=False)
    flow.push(CASE_A, 100.0)
    assert flow.tick(125.0) == []
    flow.shown(125.0)  # the terminal's browser opened the page 25 s after the push
    assert flow.seconds_left(125.0) == 30
    assert flow.tick(154.9) == [] and flow.phase is Phase.RATING
    flow.shown(150.0)  # opened again: no more time
    ended = flow.tick(155.1)
    assert [e.reason for e in ended] == ["timeout"] and ended[0].shown_at == 150.0


def test_a_page_never_opened_still_times_out_from_the_push():
    flow = RatingFlow(TIMING, needs_staff=False)
    flow.push(CASE_A, 100.0)
    assert [e.reason for e in flow.tick(130.1)] == ["timeout"]

"""The reasons page finished from the five keys alone, and a mis-press taken back, as the
pure state machine and key policy decide it."""

from __future__ import annotations

from device.flow.keypad_keys import DARK, Lights, lights_on_reasons
from device.flow.mode import Mode
from device.flow.rating_flow import OVERALL, Phase, RatingFlow, Timing
from device.flow.reason_keys import ReasonAction, ReasonKey, group_count, reason_key
from device.record.rating import Case, Level, Source, Staff

CASE = Case(project_no="A1", task_code="T", task_name="事项甲")
TIMING = Timing(rating_s=30, reasons_s=60, thanks_s=3, rate_later_s=20)
CODES = ("B01", "B02", "B03", "B04", "B05")  # three groups: two, two, one


def on_reasons(at: float = 5.0) -> RatingFlow:
    flow = RatingFlow(TIMING, needs_staff=True)
    flow.sign_in(Staff("0421", "王敏"))
    flow.push(CASE, 0.0)
    assert flow.press(Level.VERY_DISSATISFIED, Source.KEYPAD, at) is None
    assert flow.phase is Phase.REASONS and flow.tags == ()
    return flow


def press(flow: RatingFlow, key: int, at: float) -> object:
    """What the main loop does with a key on the reasons page."""
    meaning = reason_key(key, len(CODES), flow.tag_page)
    if meaning is None:
        return None
    match meaning.action:
        case ReasonAction.TOGGLE:
            assert meaning.tag is not None
            flow.toggle_tag(CODES[meaning.tag])
        case ReasonAction.NEXT_GROUP:
            flow.next_tag_group(group_count(len(CODES)))
        case ReasonAction.SUBMIT:
            return flow.submit(at)
        case ReasonAction.CHOOSE_AGAIN:
            return flow.choose_again(at)
    return None


def test_every_reason_is_reachable_by_keys_and_the_groups_wrap():
    seen = []
    flow = on_reasons()
    for _ in range(group_count(len(CODES))):
        for key in (2, 3):
            meaning = reason_key(key, len(CODES), flow.tag_page)
            if meaning is not None:
                assert meaning.tag is not None
                seen.append(CODES[meaning.tag])
        press(flow, 4, 6.0)
    assert tuple(seen) == CODES
    assert flow.tag_page == 0  # after the last group, the first again
    assert reason_key(3, len(CODES), 2) is None  # the last group holds one reason
    assert reason_key(4, 2, 0) is None  # one group only: 换一组 does nothing
    assert reason_key(1, len(CODES), 1) == ReasonKey(ReasonAction.CHOOSE_AGAIN)


def test_two_reasons_by_keys_one_on_the_second_group_then_submit():
    flow = on_reasons()
    press(flow, 3, 6.0)  # B02
    press(flow, 4, 7.0)
    press(flow, 2, 8.0)  # B03
    choice = press(flow, 5, 9.0)
    assert choice is not None and flow.phase is Phase.STORING
    assert (choice.tags, choice.level, choice.source) == (  # type: ignore[attr-defined]
        ("B02", "B03"),
        Level.VERY_DISSATISFIED,
        Source.KEYPAD,
    )


def test_submit_with_none_chosen_stores_nothing_and_asks_until_one_is_chosen():
    flow = on_reasons()
    assert press(flow, 5, 6.0) is None
    assert flow.phase is Phase.REASONS and flow.asked_for_reason
    press(flow, 2, 7.0)
    assert not flow.asked_for_reason and flow.tags == ("B01",)
    press(flow, 2, 8.0)  # ticked off again: the device keeps none itself
    assert flow.tags == () and press(flow, 5, 9.0) is None


def test_choose_again_ends_the_bad_level_as_changed_and_rates_afresh():
    flow = on_reasons(at=5.0)
    press(flow, 2, 6.0)
    ended = press(flow, 1, 20.0)
    assert [(e.case, e.reason, e.level) for e in ended] == [  # type: ignore[attr-defined]
        (CASE, "changed", Level.VERY_DISSATISFIED)
    ]
    assert flow.phase is Phase.RATING and flow.tags == () and flow.chosen is None
    assert OVERALL not in flow.page.levels  # type: ignore[union-attr]
    # the case had 45 s of the reasons page left; the rating page never gets more than 30
    assert flow.seconds_left(20.0) == 30
    choice = flow.press(Level.SATISFIED, Source.KEYPAD, 21.0)
    assert choice is not None and (choice.level, choice.tags) == (Level.SATISFIED, ())
    assert choice.pressed_at == 21.0  # the press that counts is the new one


def test_choose_again_gives_the_rating_page_its_whole_time_again():
    flow = on_reasons(at=5.0)
    flow.choose_again(60.0)  # late on the reasons page: a mis-press costs the rater nothing
    rating_s = int(TIMING.rating_s)
    assert flow.phase is Phase.RATING and flow.seconds_left(60.0) == rating_s
    assert flow.tick(60.0 + rating_s - 1) == []
    ended = flow.tick(60.0 + rating_s + 0.5)
    assert [(e.reason, e.level) for e in ended] == [("timeout", None)]
    assert flow.phase is Phase.RATE_LATER


def test_choose_again_does_nothing_off_the_reasons_page():
    flow = on_reasons()
    flow.toggle_tag("B01")
    flow.submit(6.0)
    assert flow.choose_again(7.0) == [] and flow.phase is Phase.STORING


def test_a_reasons_page_that_times_out_shows_the_rate_later_code():
    flow = on_reasons(at=5.0)
    ended = flow.tick(65.0)
    assert [(e.reason, e.level) for e in ended] == [("no_reason", Level.VERY_DISSATISFIED)]
    assert flow.phase is Phase.RATE_LATER and flow.case == CASE
    assert flow.next_deadline() == 65.0 + TIMING.rate_later_s


def test_the_lit_keys_are_the_ones_that_do_something():
    flow = on_reasons()
    lights = lights_on_reasons(Mode.WINDOW, len(CODES), flow.tag_page, bool(flow.tags))
    assert lights == Lights(keys=(1, 2, 3, 4))  # nothing chosen: 提交 dark
    assert lights_on_reasons(Mode.WINDOW, len(CODES), 2, True) == Lights(keys=(1, 2, 4, 5))
    assert lights_on_reasons(Mode.WINDOW, 2, 0, False) == Lights(keys=(1, 2, 3))
    assert lights_on_reasons(Mode.SELF_SERVICE, len(CODES), 0, True) == DARK

"""An elderly rater at a window with only the five-key keypad: a bad rating finished by keys
alone, a mis-press taken back, a reasons page left alone. The real evaluator, a real pty
keypad board, a real ledger file."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from device.record.rating import Case, Staff
from device.record.tag_catalog import shipped_default
from simulator.virtual_keypad import VirtualKeypad
from tests.support.evaluator import Driver, make_config

CASE = Case("HD20261121000777", "T-01", "个体工商户设立登记")
STAFF = Staff("0421", "王敏")
VERY_DISSATISFIED_KEY = 5  # the default order: key 1 非常满意 … key 5 非常不满意
SATISFIED_KEY = 2


@pytest.fixture
def hall(board: VirtualKeypad, tmp_path) -> Iterator[Driver]:
    """A window evaluator with the pty keypad plugged in, 王敏 signed in, a case on screen."""
    with Driver(make_config(tmp_path, keypad=board.port)) as driver:
        driver.until(lambda: driver.status["keypadConnected"] is True, "keypad found")
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        assert driver.evaluator.inbox.push_case(CASE) is None
        driver.until(lambda: driver.phase == "rating", "case on screen")
        driver.until(lambda: board.lights == "11111", "all keys lit")
        yield driver


def press(driver: Driver, board: VirtualKeypad, key: int) -> None:
    """A key pressed on the board (frames arrive in order; the tests wait for what shows)."""
    board.press(key)
    driver.step()


def hint(driver: Driver) -> str:
    return "".join(t.text for t in driver.evaluator.screen.paint.drawn if t.role == "hint")


def test_two_reasons_by_keys_alone_one_on_the_second_group(hall, board):
    tags = shipped_default().for_level(1)
    press(hall, board, VERY_DISSATISFIED_KEY)
    hall.until(lambda: hall.phase == "reasons", "reasons page")
    # private press (the default): the keys stay dark, the page's badges say what they do
    hall.until(lambda: board.lights == "00000", "keys dark on the reasons page")
    press(hall, board, 3)  # the second reason of the first group
    press(hall, board, 4)  # 换一组
    press(hall, board, 2)  # the first reason of the second group
    assert hall.ratings() == []  # nothing stored before 提交
    press(hall, board, 5)
    hall.until(lambda: hall.phase == "thanks", "stored and thanked")
    (record,) = hall.ratings()
    assert record["satisfaction"] == 1 and record["source"] == "keypad"
    assert sorted(record["evalDetail"]) == sorted([tags[1].code, tags[2].code])
    assert hall.outcomes() == []


def test_without_the_private_press_the_keys_that_do_something_light(board, tmp_path):
    config = make_config(tmp_path, keypad=board.port, private_press=False)
    with Driver(config) as driver:
        driver.until(lambda: driver.status["keypadConnected"] is True, "keypad found")
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        assert driver.evaluator.inbox.push_case(CASE) is None
        driver.until(lambda: board.lights == "11111", "all keys lit")
        press(driver, board, VERY_DISSATISFIED_KEY)
        driver.until(lambda: board.lights == "11110", "back, two reasons, next group lit")
        press(driver, board, 3)
        driver.until(lambda: board.lights == "11111", "提交 lit once a reason is chosen")


def test_submit_with_no_reason_stores_nothing_and_the_page_says_to_choose(hall, board):
    press(hall, board, VERY_DISSATISFIED_KEY)
    hall.until(lambda: hall.phase == "reasons", "reasons page")
    press(hall, board, 5)
    hall.until(lambda: "至少一个原因" in hint(hall), "the page asks for a reason")
    assert hall.phase == "reasons"
    assert hall.ratings() == [] and hall.outcomes() == []


def test_choose_again_by_key_then_satisfied(hall, board):
    press(hall, board, VERY_DISSATISFIED_KEY)
    hall.until(lambda: hall.phase == "reasons", "reasons page")
    press(hall, board, 2)  # a reason ticked, then the rater sees the mistake
    press(hall, board, 1)  # 重新选择
    hall.until(lambda: hall.phase == "rating", "back on the rating page")
    hall.until(lambda: board.lights == "11111", "all keys lit again")
    (changed,) = hall.outcomes()
    assert (changed["kind"], changed["levelPressed"], changed["projectNo"]) == (
        "changed",
        1,
        CASE.project_no,
    )
    assert hall.ratings() == []
    press(hall, board, SATISFIED_KEY)
    hall.until(lambda: hall.phase == "thanks", "stored")
    (record,) = hall.ratings()
    assert (record["satisfaction"], record["source"], record["evalDetail"]) == (
        4,
        "keypad",
        [],
    )
    assert len(hall.outcomes()) == 1  # the rating is not also an outcome


def test_a_reasons_page_left_alone_shows_the_rate_later_code(hall, board):
    press(hall, board, VERY_DISSATISFIED_KEY)
    hall.until(lambda: hall.phase == "reasons", "reasons page")
    # the board's presses are timed on the host's monotonic clock: 61 s after the press
    hall.clock.t = max(hall.clock.t, time.monotonic()) + 61
    hall.until(lambda: hall.phase == "rate_later", "the rate-later code")
    assert hall.evaluator.loop.qr_url() is not None  # the signed rate-later link
    assert CASE.project_no in "".join(t.text for t in hall.evaluator.screen.paint.drawn)
    hall.until(lambda: board.lights == "00000", "keys dark")
    (outcome,) = hall.outcomes()
    assert (outcome["kind"], outcome["levelPressed"]) == ("no_reason", 1)
    assert hall.ratings() == []
    hall.clock.advance(21)
    hall.until(lambda: hall.phase == "idle", "back to idle")
    assert len(hall.outcomes()) == 1

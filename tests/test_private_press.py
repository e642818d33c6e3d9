"""The choice stays the rater's: with the private press (the default) the keypad lights and
beeps the same for 非常满意 and 非常不满意, and the thanks page looks the same; a hall that turns
it off gets the chosen key lit and the level on the thanks page.

Through a real pty keypad (`simulator.virtual_keypad`), which records every frame the device
sends in order."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pygame
import pytest

from device.flow.keypad_keys import DARK, Lights, beeps_after, lights_for
from device.flow.mode import Mode
from device.flow.rating_flow import Phase
from device.record.rating import Case, Level, Staff
from device.record.tag_catalog import shipped_default
from device.screen.texts import Texts
from simulator.virtual_keypad import VirtualKeypad
from tests.support.evaluator import Driver, make_config

STAFF = Staff("0421", "王敏")
CASE = Case("HD20261121000101", "11640100MB1234567X3000111222000", "居民身份证换领")
MARK = ("B", "1")  # a 1 ms beep the test itself sends: every frame before it has arrived
KEY_FOR = {Level.VERY_SATISFIED: 1, Level.VERY_DISSATISFIED: 5}  # the default key_levels


@dataclass
class Seen:
    at_press: list[tuple[str, str]]  # frames from the press until the next page is settled
    whole: list[tuple[str, str]]  # what a bystander sees and hears, push to idle again
    thanks_pixels: bytes
    thanks_chosen: Level | None
    level_stored: int


class Marks:
    """Cuts what the board received into pieces: each piece ends with a mark the test sends
    through the device's own link, so every frame the device sent before it is in."""

    def __init__(self, driver: Driver, board: VirtualKeypad) -> None:
        self.driver, self.board, self.cursor = driver, board, 0

    def cut(self) -> list[tuple[str, str]]:
        keypad = self.driver.evaluator.keypad
        assert keypad is not None
        keypad.beep(int(MARK[1]))
        shown, start = self.board.shown, self.cursor
        self.driver.until(lambda: MARK in shown[start:], "the test's mark reached the board")
        end = start + shown[start:].index(MARK)
        self.cursor = end + 1
        return shown[start:end]


def _as_seen(frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What a person at the counter notices: a change of lights, and every beep."""
    seen, lights = [], None
    for frame in frames:
        if frame[0] == "L" and frame[1] == lights:
            continue
        lights = frame[1] if frame[0] == "L" else lights
        seen.append(frame)
    return seen


def rate(tmp_path, level: Level, *, private: bool) -> Seen:
    folder = tmp_path / f"{int(level)}-{private}"
    folder.mkdir()
    with VirtualKeypad(link_path=folder / "keypad") as board:
        config = make_config(folder, keypad=board.port, private_press=private)
        with Driver(config) as driver:
            driver.until(lambda: driver.status["keypadConnected"] is True, "keypad found")
            driver.evaluator.inbox.sign_in(STAFF)
            assert driver.evaluator.inbox.push_case(CASE) is None
            driver.until(lambda: board.lights == "11111", "all keys lit")
            marks = Marks(driver, board)
            before = marks.cut()
            board.press(KEY_FOR[level])
            driver.until(lambda: driver.phase in ("thanks", "reasons"), "the press taken")
            at_press = marks.cut()
            after = []
            if driver.phase == "reasons":
                layout = driver.evaluator.screen.layout
                tags = shipped_default().for_level(int(level))
                driver.tap_rect(layout.tags(len(tags))[0])
                driver.tap_rect(layout.submit_button)
                driver.until(lambda: driver.phase == "thanks", "thanks")
                after = marks.cut()
            driver.step()
            thanks_pixels = pygame.image.tobytes(driver.evaluator.screen.surface, "RGB")
            thanks_chosen = driver.evaluator.loop._view().chosen
            driver.clock.advance(4)
            driver.until(lambda: driver.phase == "idle", "idle again")
            end = marks.cut()
            (record,) = driver.ratings()
    return Seen(
        at_press=at_press,
        whole=_as_seen([*before, *at_press, *after, *end]),
        thanks_pixels=thanks_pixels,
        thanks_chosen=thanks_chosen,
        level_stored=record["satisfaction"],
    )


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> tuple[Seen, Seen]:
    """非常满意 and 非常不满意, each on a fresh evaluator with the private press (the default)."""
    folder = tmp_path_factory.mktemp("private")
    return (
        rate(folder, Level.VERY_SATISFIED, private=True),
        rate(folder, Level.VERY_DISSATISFIED, private=True),
    )


def test_a_private_press_lights_and_beeps_the_same_for_the_best_and_the_worst(private):
    best, worst = private
    assert (best.level_stored, worst.level_stored) == (5, 1)  # both really rated
    assert best.at_press == worst.at_press == [("L", "00000"), ("B", "80")]
    assert best.whole == worst.whole == [("L", "11111"), ("L", "00000"), ("B", "80")]


def test_a_private_thanks_page_looks_the_same_whatever_the_level(private):
    best, worst = private
    assert best.thanks_chosen is worst.thanks_chosen is None
    assert best.thanks_pixels == worst.thanks_pixels


def test_with_the_private_press_off_the_keypad_and_page_show_the_choice(tmp_path):
    best = rate(tmp_path, Level.VERY_SATISFIED, private=False)
    worst = rate(tmp_path, Level.VERY_DISSATISFIED, private=False)
    assert best.at_press == [("L", "10000"), ("B", "80")]  # the chosen key lit, a beep
    # on the reasons page the keys that do something light; the beep comes at thanks
    assert worst.at_press == [("L", "11110")]
    assert ("B", "80") in worst.whole and ("L", "00001") in worst.whole
    assert best.thanks_chosen is Level.VERY_SATISFIED
    assert worst.thanks_chosen is Level.VERY_DISSATISFIED
    assert best.thanks_pixels != worst.thanks_pixels


@pytest.mark.parametrize("private", [True, False])
def test_the_buzzer_sounds_once_per_rating(private):
    good = [Phase.RATING, Phase.THANKS]
    bad = [Phase.RATING, Phase.REASONS, Phase.THANKS]
    for path in (good, bad):
        steps = itertools.pairwise(path)
        assert sum(beeps_after(a, b, private=private) for a, b in steps) == 1, path


def test_no_level_text_on_a_private_thanks_page():
    texts = Texts("zh-Hans")
    assert not any(texts.level(level) in texts.ui("thanks") for level in Level)


@pytest.mark.parametrize("level", list(Level))
def test_private_lights_while_thanked_are_dark_for_every_level(level):
    keys = [5, 4, 3, 2, 1]
    assert lights_for(Phase.THANKS, Mode.WINDOW, level, keys, private=True) == DARK
    shown = lights_for(Phase.THANKS, Mode.WINDOW, level, keys, private=False)
    assert shown == Lights(key=keys.index(int(level)) + 1)

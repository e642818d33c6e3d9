"""What the citizen sees: the font check, and every phase drawn with the case's details."""

from __future__ import annotations

import itertools

import pygame
import pytest

from device.config import DEFAULT_FONT
from device.fonts import FontError, load_font
from device.layout import Layout
from device.rating import Case, Level
from device.rating_flow import Phase
from device.screen import LEVEL_COLOURS, Screen, ScreenView
from device.texts import all_strings

CASE = Case(
    project_no="HD20261121000101",
    task_code="T",
    task_name="居民身份证换领",
    pro_manager_no="0421",
    pro_manager="王敏",
)
LATIN_ONLY = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def font():
    pygame.display.init()
    yield load_font(DEFAULT_FONT, all_strings())
    pygame.display.quit()


def test_a_font_without_chinese_glyphs_stops_start_up():
    pygame.freetype.init()
    if not __import__("pathlib").Path(LATIN_ONLY).exists():
        pytest.skip("DejaVu not installed")
    with pytest.raises(FontError, match="has no glyph for"):
        load_font(LATIN_ONLY, all_strings())


def test_a_missing_font_file_says_what_to_install():
    with pytest.raises(FontError, match="fonts-wqy-microhei"):
        load_font("/nonexistent/font.ttc", all_strings())


@pytest.mark.parametrize("size", [(800, 480), (1024, 600), (1280, 800)])
def test_the_five_buttons_fit_the_screen_and_do_not_overlap(size):
    layout = Layout(*size)
    rects = [r for _, r in layout.buttons()]
    assert [lvl for lvl, _ in layout.buttons()] == [5, 4, 3, 2, 1]
    for x, y, w, h in rects:
        assert x >= 0 and y >= 0 and x + w <= size[0] and y + h <= size[1]
        assert w >= size[0] // 8 and h >= size[1] // 4  # big enough for a finger
    for (x1, _, w1, _), (x2, _, _, _) in itertools.pairwise(rects):
        assert x1 + w1 < x2
    for level, (x, y, w, h) in layout.buttons():
        assert layout.button_at(x + w // 2, y + h // 2) == level
    assert layout.button_at(0, 0) is None


def test_the_rating_page_shows_the_buttons_in_their_colours(font):
    surface = pygame.Surface((800, 480))
    screen = Screen(surface, font)
    screen.draw(ScreenView(Phase.RATING, case=CASE, seconds_left=30, window_no="12"))
    for level, (x, y, _w, h) in screen.layout.buttons():
        assert surface.get_at((x + 4, y + h - 8))[:3] == LEVEL_COLOURS[level]


def test_every_phase_draws_something_different(font):
    pictures = set()
    for view in [
        ScreenView(Phase.IDLE),
        ScreenView(Phase.RATING, case=CASE, seconds_left=30),
        ScreenView(Phase.THANKS, chosen=Level.SATISFIED),
        ScreenView(Phase.OUT_OF_SERVICE, problem="评价无法保存"),
        ScreenView(Phase.IDLE, keypad_connected=False),
    ]:
        surface = pygame.Surface((800, 480))
        Screen(surface, font).draw(view)
        pictures.add(pygame.image.tobytes(surface, "RGB"))
    assert len(pictures) == 5

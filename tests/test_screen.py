"""What the citizen sees: the font check, the geometry that touches hit, and every page drawn
with the case's details, in every language."""

from __future__ import annotations

import itertools
from pathlib import Path

import pygame
import pytest

from device.daemon.config import DEFAULT_FONT
from device.flow.rating_flow import Phase
from device.record.rating import Case, Staff
from device.screen.fonts import FontError, load_font
from device.screen.layout import Layout
from device.screen.pages import Screen, ScreenView
from device.screen.texts import LANGUAGES, Texts
from device.screen.widgets import LEVEL_COLOURS
from simulator.screenshot import SCREENS, render, view_for
from tests.support.screen import screen_strings

CASE = Case(
    project_no="HD20261121000101",
    task_code="T",
    task_name="居民身份证换领",
    pro_manager_no="0421",
    pro_manager="王敏",
)
LATIN_ONLY = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_cjk_font_has_every_glyph_of_every_language(language):
    pygame.freetype.init()
    load_font(DEFAULT_FONT, screen_strings(language))


def test_a_font_without_chinese_glyphs_stops_start_up():
    pygame.freetype.init()
    if not Path(LATIN_ONLY).exists():
        pytest.skip("DejaVu not installed")
    with pytest.raises(FontError, match="has no glyph for"):
        load_font(LATIN_ONLY, screen_strings("zh-Hans"))


def test_a_missing_font_file_says_what_to_install():
    with pytest.raises(FontError, match="fonts-wqy-microhei"):
        load_font("/nonexistent/font.ttc", screen_strings("zh-Hans"))


@pytest.mark.parametrize("size", [(800, 480), (1024, 600), (1280, 800)])
@pytest.mark.parametrize("large", [False, True])
def test_touch_targets_fit_the_screen_and_do_not_overlap(size, large):
    layout = Layout(*size, large_type=large)
    rects = [r for _, r in layout.buttons()]
    assert [lvl for lvl, _ in layout.buttons()] == [5, 4, 3, 2, 1]
    for x, y, w, h in [*rects, layout.submit_button, *layout.tags(12)]:
        assert x >= 0 and y >= 0 and x + w <= size[0] and y + h <= size[1]
    for _x, _y, w, h in rects:
        assert w >= size[0] // 8 and h >= size[1] // 4  # big enough for a finger
    for (x1, _, w1, _), (x2, _, _, _) in itertools.pairwise(rects):
        assert x1 + w1 < x2
    for level, (x, y, w, h) in layout.buttons():
        assert layout.button_at(x + w // 2, y + h // 2) == level
    assert layout.button_at(0, 0) is None
    rows = layout.rows(("overall", "business", "service", "item:0"))
    for (_, _, a), (_, _, b) in itertools.pairwise(rows):
        assert a[0][1][1] + a[0][1][3] <= b[0][1][1]  # rows do not overlap
    assert rows[-1][2][0][1][1] + rows[-1][2][0][1][3] <= layout.submit_button[1]


def test_the_rating_page_shows_the_buttons_in_their_colours(font):
    surface = pygame.Surface((800, 480))
    screen = Screen(surface, font, Texts())
    screen.draw(ScreenView(Phase.RATING, case=CASE, seconds_left=30, window_no="12"))
    for level, (x, y, _w, h) in screen.layout.buttons():
        assert surface.get_at((x + 4, y + h - 8))[:3] == LEVEL_COLOURS[level]


def test_every_page_draws_something_different(font):
    texts = Texts()
    pictures = set()
    for screen in SCREENS:
        surface = pygame.Surface((800, 480))
        Screen(surface, font, texts).draw(view_for(screen, CASE, "window", texts))
        pictures.add(pygame.image.tostring(surface, "RGB"))
    marks = ScreenView(
        Phase.IDLE,
        keypad_connected=False,
        clock_synced=False,
        backlog=7,
        staff=Staff("0421", "王敏"),
    )
    surface = pygame.Surface((800, 480))
    Screen(surface, font, texts).draw(marks)
    pictures.add(pygame.image.tostring(surface, "RGB"))
    assert len(pictures) == len(SCREENS) + 1


def test_the_screenshot_command_renders_a_case_file(tmp_path):
    out = render(
        "rating",
        {"projectNo": "A1", "taskCode": "T", "taskName": "不动产登记"},
        tmp_path / "shot.png",
        size=(1024, 600),
    )
    image = pygame.image.load(str(out))
    assert image.get_size() == (1024, 600)


def test_every_sample_case_in_the_docs_renders(tmp_path):
    for case_file in sorted((DOCS / "cases").glob("*.json")):
        import json

        body = json.loads(case_file.read_text(encoding="utf-8"))
        mode = "self_service" if "terminalNo" in body else "window"
        render("rating", body, tmp_path / f"{case_file.stem}.png", size=(800, 480), mode=mode)
        assert (tmp_path / f"{case_file.stem}.png").stat().st_size > 1000

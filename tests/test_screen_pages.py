"""Readable at arm's length: every page, every kind of case, both type sizes, three languages,
checked from what the screen drew (size, place, overlap, contrast, required fields); every
name drawn by the font chain; the panel turned by [display] rotate; paging by touch."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from device.daemon.config import DEFAULT_FONT, FALLBACK_FONTS, ConfigError, DisplaySection
from device.flow.presenter import PageTouched, touch_at
from device.flow.rating_flow import Phase, RatingFlow, Timing
from device.record.rating import Level
from device.screen.fonts import PLACEHOLDER, load_font
from device.screen.layout import Layout
from device.screen.pages import Screen, ScreenView
from device.screen.panel import glass_to_page, open_panel, page_size
from device.screen.texts import LANGUAGES, Texts
from tests.support.screen_audit import (
    BATCH,
    KINDS,
    RARE_NAME,
    TAGS,
    THEME,
    badge_problems,
    problems,
    render_all,
)

SIZES = [(800, 480), (1024, 600)]
CITIZEN_PAGES = ("rating", "reasons", "thanks", "rate-later")

needs_fallbacks = pytest.mark.skipif(
    not all(Path(p).is_file() for p in FALLBACK_FONTS), reason="fonts-hanazono not installed"
)


def _joined(shots, name: str, role: str) -> str:
    return "".join(
        t.text for s in shots if s.name.split("#")[0] == name for t in s.texts if t.role == role
    )


@needs_fallbacks
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_page_is_readable_with_hostile_cases(font_chain, size, large, language):
    shots = list(render_all(font_chain, size, large, language))
    found = [p for shot in shots for p in problems(shot, size, large)]
    assert not found, "\n".join(found[:20])
    texts = Texts(language)
    for shot in shots:
        page = shot.name.split("#")[0]
        roles = {t.role for t in shot.texts}
        if page.startswith(CITIZEN_PAGES):
            assert "mark" not in roles, f"{page}: staff marks on a citizen's page"
        if page in ("idle", "paused"):
            assert "mark" in roles, f"{page}: staff marks missing"
        if page.startswith("rating"):
            assert "case_no" in roles, f"{page}: no case number"
            people = "terminal" if page.endswith("self_service") else "staff"
            line = "".join(t.text for t in shot.texts if t.role == people)
            assert ("ZZ-0031" if people == "terminal" else "0733") in line, page
            if people == "staff":
                assert RARE_NAME in line, f"{page}: staff name missing"
            labels = [t for t in shot.texts if t.role == "level"]
            assert len({t.box for t in labels}) % 5 == 0 and labels, page
        if page.startswith("reasons"):
            assert not badge_problems(shot), badge_problems(shot)
            hints = "".join(t.text for t in shot.texts if t.role == "hint")
            asked = texts.ui("need_reason")[:4]
            assert (asked in hints) == shot.view.asked_for_reason, f"{page}: {hints}"
    # everything reachable over the pages: theme items, batch numbers, reason tags
    rows = _joined(shots, "rating-theme", "row")
    assert all(item.task_name in rows for item in THEME.items)
    numbers = _joined(shots, "rating-batch", "case_no")
    assert all(n in numbers for n in BATCH)
    assert texts.ui("batch", n=len(BATCH)).split("：")[0] in numbers or "10" in numbers
    unticked = [s for s in shots if s.name.startswith("reasons") and not s.view.selected_tags]
    tags = "".join(t.text for s in unticked for t in s.texts)
    assert all(tag.label in tags.replace(" ", "") for tag in TAGS)
    assert "✓" not in tags  # none pre-selected
    assert font_chain.missing == set()


def test_large_type_is_at_least_1_3_times_every_size():
    for size in SIZES:
        normal, large = Layout(*size), Layout(*size, large_type=True)
        for name in ("body", "label", "title", "heading"):
            assert getattr(large, name) >= 1.3 * getattr(normal, name) - 1
        assert normal.body >= 22 and normal.label >= 26


# -- every name drawn ---------------------------------------------------------------------


@needs_fallbacks
def test_the_font_chain_draws_cjk_extensions_a_to_f(font_chain):
    assert font_chain.coverage() == dict.fromkeys("ABCDEF", True)
    assert font_chain.width(RARE_NAME, 24) > 0 and font_chain.missing == set()


def test_a_character_no_font_has_is_drawn_as_the_placeholder_and_counted():
    pygame.display.init()
    try:
        alone = load_font(DEFAULT_FONT, Texts().all_strings())  # no fallbacks
        surface = pygame.Surface((800, 480))
        screen = Screen(surface, alone, Texts())
        case = KINDS["single"]
        screen.draw(ScreenView(Phase.RATING, case=case, seconds_left=9, seconds_total=30))
        staff = [t.text for t in screen.paint.drawn if t.role == "staff"]
        assert PLACEHOLDER * 3 in "".join(staff)
        assert screen.paint.missing == 3  # 𠮷 䶮 𬌗, each counted once
        assert alone.coverage()["B"] is False
    finally:
        pygame.display.quit()


# -- the panel as it is -------------------------------------------------------------------


def test_the_device_defaults_to_the_native_resolution_full_screen_and_checks_rotation():
    display = DisplaySection()
    assert (display.width, display.height, display.fullscreen, display.rotate) == (
        None,
        None,
        True,
        0,
    )
    with pytest.raises(ConfigError, match="rotate"):
        DisplaySection(rotate=45).check()
    with pytest.raises(ConfigError, match="together"):
        DisplaySection(width=800).check()


def test_a_full_screen_panel_hides_the_pointer():
    pygame.display.init()
    try:
        panel = open_panel(DisplaySection())
        assert panel.surface.get_width() > 0
        assert pygame.mouse.get_visible() is False
    finally:
        pygame.display.quit()


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_rotation_turns_picture_and_touch_together(rotate):
    pygame.display.init()
    try:
        panel = open_panel(DisplaySection(width=800, height=480, fullscreen=False, rotate=rotate))
        assert panel.surface.get_size() == page_size((800, 480), rotate)
        pw, ph = panel.surface.get_size()
        panel.surface.fill((0, 0, 0))
        marks = {(5, 7): (255, 0, 0), (pw - 3, 11): (0, 255, 0), (13, ph - 2): (0, 0, 255)}
        for point, colour in marks.items():
            panel.surface.set_at(point, colour)
        panel.show()
        glass = pygame.display.get_surface()
        for gx in range(800):
            for gy in (*range(0, 16), *range(464, 480)) if rotate in (0, 180) else range(480):
                colour = tuple(glass.get_at((gx, gy)))[:3]
                if colour != (0, 0, 0):
                    assert marks[panel.to_page(gx, gy)] == colour  # a tap there hits it
        for (px, py), _colour in marks.items():
            found = (
                [
                    (gx, gy)
                    for gx in range(800)
                    for gy in range(480)
                    if glass_to_page(gx, gy, (800, 480), rotate) == (px, py)
                ]
                if rotate in (90, 270)
                else None
            )
            if found is not None:
                assert len(found) == 1
                assert tuple(glass.get_at(found[0]))[:3] == marks[(px, py)]
    finally:
        pygame.display.quit()


# -- paging by keypad and touch -----------------------------------------------------------


def _flow_on(case, phase=Phase.RATING) -> RatingFlow:
    flow = RatingFlow(Timing(), needs_staff=False)
    flow.push(case, 0.0)
    return flow


def test_touch_turns_the_pages_of_a_theme_and_the_keypad_follows():
    layout = Layout(800, 480, large_type=True)
    flow = _flow_on(KINDS["theme"])
    per = layout.rows_per_page
    assert layout.row_page_count(len(flow.page.rows)) > 1
    x, y, w, h = layout.next_button
    touch = touch_at(flow, layout, (), x + w // 2, y + h // 2)
    assert isinstance(touch, PageTouched) and touch.page == per
    flow.show_row(touch.page)
    x, y, w, h = layout.previous_button
    back = touch_at(flow, layout, (), x + w // 2, y + h // 2)
    assert back is not None and back.page == 0
    flow.press(Level.SATISFIED, "keypad", 1.0)  # the keypad rates the row on screen
    assert flow.page.levels == {flow.page.rows[per]: Level.SATISFIED}


def test_the_reasons_page_turns_its_tags_and_selects_none_itself():
    layout = Layout(800, 480)
    flow = _flow_on(KINDS["single"])
    flow.press(Level.VERY_DISSATISFIED, "touch", 1.0)
    assert flow.phase is Phase.REASONS and flow.tags == ()
    pages = layout.tag_page_count(len(TAGS))
    assert pages > 1
    x, y, w, h = layout.next_group_button  # 换一组
    touch = touch_at(flow, layout, TAGS, x + w // 2, y + h // 2)
    assert isinstance(touch, PageTouched) and touch.page == 1
    flow.show_tag_page(pages - 1)
    wrap = touch_at(flow, layout, TAGS, x + w // 2, y + h // 2)
    assert isinstance(wrap, PageTouched) and wrap.page == 0  # after the last, the first
    flow.show_tag_page(1)
    tx, ty, tw, th = layout.tags(len(TAGS), 1)[0]
    tap = touch_at(flow, layout, TAGS, tx + tw // 2, ty + th // 2)
    assert tap is not None and tap.tag == TAGS[layout.tags_per_page].code
    assert flow.tags == ()

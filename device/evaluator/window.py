"""The pygame window as the main loop's glass: draws each view on the panel, keeps the
simulator's snapshots, and turns SDL's events into typed inputs.

Imported only when `[display] kind = "screen"`: a web terminal never loads pygame.
"""

from __future__ import annotations

import pygame

from device.daemon.config import DisplaySection, VoiceSection
from device.evaluator.glass import Closed, DesktopKey, Exposed, GlassInput, TapAt
from device.evaluator.snapshots import Snapshots
from device.evaluator.voice import Voice
from device.flow.presenter import Touch, touch_at
from device.flow.rating_flow import RatingFlow
from device.record.tag_catalog import Tag
from device.screen.fonts import load_font
from device.screen.pages import Screen
from device.screen.panel import Panel, open_panel
from device.screen.texts import Texts
from device.screen.view import ScreenView

DESKTOP_KEYS = {pygame.K_1: 1, pygame.K_2: 2, pygame.K_3: 3, pygame.K_4: 4, pygame.K_5: 5}


class WindowGlass:
    def __init__(self, screen: Screen, panel: Panel, snapshots: Snapshots) -> None:
        self.screen = screen
        self.panel = panel
        self._snapshots = snapshots

    def show(self, view: ScreenView) -> None:
        self.screen.draw(view)
        self.panel.show()
        case = view.case
        self._snapshots.keep(self.screen.surface, view.phase, case.project_no if case else None)

    def inputs(self) -> list[GlassInput]:
        found = (self._input(event) for event in pygame.event.get())
        return [x for x in found if x is not None]

    def _input(self, event: pygame.event.Event) -> GlassInput | None:
        if event.type == pygame.QUIT:
            return Closed()
        if event.type == pygame.KEYDOWN and event.key in DESKTOP_KEYS:
            return DesktopKey(DESKTOP_KEYS[event.key])
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if getattr(event, "touch", False):
                return None  # SDL's copy of a touch: the FINGERDOWN counts
            return TapAt(*self.panel.to_page(*event.pos))
        if event.type == pygame.FINGERDOWN:
            return TapAt(*self.panel.touch_to_page(event.x, event.y))
        if event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE):
            return Exposed()
        return None

    def touch_meaning(
        self, flow: RatingFlow, offered: tuple[Tag, ...], x: int, y: int
    ) -> Touch | None:
        return touch_at(flow, self.screen.layout, offered, x, y)

    @property
    def missing_glyphs(self) -> int:
        return self.screen.paint.missing

    def check_glyphs(self, text: str) -> None:
        self.screen.paint.check_glyphs(text)


def open_window(
    display: DisplaySection, voice: VoiceSection, texts: Texts, strings: list[str]
) -> tuple[WindowGlass, Voice]:
    """The panel, its font (checked for every glyph of *strings*) and the spoken prompts."""
    pygame.display.init()
    font = load_font(display.font, strings, display.fallback_fonts)
    panel = open_panel(display)
    screen = Screen(panel.surface, font, texts, display.large_type)
    glass = WindowGlass(screen, panel, Snapshots(display.snapshot_dir))
    return glass, Voice.configured(voice, display.language)


def close_window() -> None:
    pygame.quit()

"""The pygame pages as the main loop's glass: draws each view on the panel (an SDL window,
or the kernel's KMS/DRM display), keeps the simulator's snapshots, and turns the panel's
taps and SDL's other events into typed inputs.

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
from device.screen.panel import PageTap, Panel, PanelInput, open_panel
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
        found = (self._input(event) for event in self.panel.inputs())
        return [x for x in found if x is not None]

    def _input(self, event: PanelInput) -> GlassInput | None:
        if isinstance(event, PageTap):
            return TapAt(event.x, event.y)
        if event.type == pygame.QUIT:
            return Closed()
        if event.type == pygame.KEYDOWN and event.key in DESKTOP_KEYS:
            return DesktopKey(DESKTOP_KEYS[event.key])
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
    font = load_font(display.font, strings, display.fallback_fonts)
    panel = open_panel(display)
    screen = Screen(panel.surface, font, texts, display.large_type)
    glass = WindowGlass(screen, panel, Snapshots(display.snapshot_dir))
    return glass, Voice.configured(voice, display.language)


def close_window(glass: WindowGlass | None) -> None:
    if glass is not None:
        glass.panel.close()
    pygame.quit()

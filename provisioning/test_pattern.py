"""A screen test pattern for the technician: colour bars, a grid to spot dead areas, and the
five level labels in the CJK font, shown on the configured display."""

from __future__ import annotations

import time

import pygame

from device.daemon.config import Config
from device.screen.fonts import FontChain, load_font
from device.screen.panel import open_panel
from device.screen.texts import Texts
from device.screen.widgets import LEVEL_COLOURS

BARS = [
    (255, 255, 255),
    (255, 255, 0),
    (0, 255, 255),
    (0, 255, 0),
    (255, 0, 255),
    (255, 0, 0),
    (0, 0, 255),
    (0, 0, 0),
]


def draw_pattern(surface: pygame.Surface, font: FontChain, texts: Texts) -> None:
    width, height = surface.get_size()
    bar = width // len(BARS)
    for i, colour in enumerate(BARS):
        pygame.draw.rect(surface, colour, (i * bar, 0, bar + 1, height // 2))
    pygame.draw.rect(surface, (40, 40, 40), (0, height // 2, width, height - height // 2))
    for x in range(0, width, 40):
        pygame.draw.line(surface, (90, 90, 90), (x, height // 2), (x, height))
    for y in range(height // 2, height, 40):
        pygame.draw.line(surface, (90, 90, 90), (0, y), (width, y))
    cell = width // 5
    for i, (level, colour) in enumerate(LEVEL_COLOURS.items()):
        font.render_to(
            surface,
            (i * cell + 8, height * 3 // 4),
            texts.level(level),
            colour,
            size=max(14, cell // 6),
        )
    pygame.draw.rect(surface, (255, 255, 255), (0, 0, width, height), width=2)


def show_pattern(config: Config, seconds: float) -> tuple[int, int]:
    texts = Texts(config.display.language)
    pygame.display.init()
    try:
        font = load_font(config.display.font, texts.all_strings(), config.display.fallback_fonts)
        panel = open_panel(config.display)
        surface = panel.surface
        draw_pattern(surface, font, texts)
        panel.show()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pygame.event.pump()
            time.sleep(0.05)
        return surface.get_size()
    finally:
        pygame.display.quit()

"""The VM test reads the screen test's number off a capture as a technician reads it off the
glass: here off the pattern drawn headless by provisioning/test_pattern.py, saved as a PNG."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from device.daemon.config import DEFAULT_FONT
from device.screen.fonts import load_font
from device.screen.texts import Texts
from provisioning.test_pattern import NOTE, draw_pattern
from simulator.appliance.pattern_reader import read_number


def _pattern(tmp_path: Path, number: str, size: tuple[int, int] = (1024, 600)) -> Path:
    texts = Texts("zh-Hans")
    font = load_font(DEFAULT_FONT, [*texts.all_strings(), NOTE])
    surface = pygame.Surface(size)
    draw_pattern(surface, font, texts, number)
    path = tmp_path / f"{number}.png"
    pygame.image.save(surface, str(path))
    return path


@pytest.mark.parametrize("number", ["1234", "5678", "9090", "1111", "3865"])
def test_the_number_shown_is_read_back(tmp_path: Path, number: str) -> None:
    assert read_number(_pattern(tmp_path, number), DEFAULT_FONT) == number


def test_a_screen_without_the_pattern_reads_as_nothing(tmp_path: Path) -> None:
    black = tmp_path / "black.png"
    pygame.image.save(pygame.Surface((1024, 600)), str(black))
    assert read_number(black, DEFAULT_FONT) is None
    grey = pygame.Surface((1024, 600))
    grey.fill((90, 90, 90))
    pygame.image.save(grey, str(tmp_path / "grey.png"))
    assert read_number(tmp_path / "grey.png", DEFAULT_FONT) is None

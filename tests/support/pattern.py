"""Reading the screen test's number back from a saved frame, as a technician's eyes would:
each digit cell of the frame compared with each digit drawn by the device's font."""

from __future__ import annotations

from pathlib import Path

import pygame
import pygame.freetype

from device.screen.fonts import load_font
from provisioning.test_pattern import digit_image, number_cells


def read_number(frame: Path, font_path: str, digits: int = 4) -> str:
    """The number shown in *frame*; AssertionError when a cell holds no digit."""
    pygame.freetype.init()
    font = load_font(font_path, ["0123456789"]).fonts[0]
    image = pygame.image.load(str(frame))
    read = ""
    for cell in number_cells(image.get_size(), digits):
        shown = pygame.image.tobytes(image.subsurface(cell), "RGB")
        matches = [
            d
            for d in "0123456789"
            if pygame.image.tobytes(digit_image(font, d, cell), "RGB") == shown
        ]
        assert len(matches) == 1, f"cell {cell} of {frame} shows no single digit ({matches})"
        read += matches[0]
    return read

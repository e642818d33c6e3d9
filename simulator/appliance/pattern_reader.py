"""Reading the screen test's number off a capture of the device's screen, as the technician
reads it off the glass: each digit's cell (provisioning/test_pattern.py draws the number one
digit per cell) compared with the ten digits drawn the same way headless. Pure image
arithmetic on small grey thumbnails; a cell that looks like no digit reads as nothing."""

from __future__ import annotations

import os
from pathlib import Path

THUMB = (24, 36)
MIN_SIMILARITY = 0.95  # below this a cell is not taken for any digit
MIN_MARGIN = 0.02  # the best digit must beat the second best by this much


def _grey(surface: object) -> list[float]:
    import pygame  # noqa: PLC0415 (after the video driver is chosen)

    assert isinstance(surface, pygame.Surface)
    picture = pygame.Surface(surface.get_size(), 0, 32)
    picture.blit(surface, (0, 0))
    raw = pygame.image.tobytes(pygame.transform.smoothscale(picture, THUMB), "RGB")
    return [
        (raw[i] * 299 + raw[i + 1] * 587 + raw[i + 2] * 114) / 1000 for i in range(0, len(raw), 3)
    ]


def _similarity(a: list[float], b: list[float]) -> float:
    return 1.0 - sum(abs(x - y) for x, y in zip(a, b, strict=True)) / (255.0 * len(a))


def read_number(capture: Path, font_path: str, digits: int = 4) -> str | None:
    """The number the pattern in *capture* shows, or None when a digit cannot be told."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame  # noqa: PLC0415

    from device.screen.fonts import load_font  # noqa: PLC0415
    from provisioning.test_pattern import digit_image, number_cells  # noqa: PLC0415

    font = load_font(font_path, ["0123456789"]).fonts[0]  # opened as the device opens it
    shot = pygame.image.load(str(capture))
    read = ""
    for cell in number_cells(shot.get_size(), digits):
        seen = _grey(shot.subsurface(cell))
        scores = sorted(
            ((_similarity(seen, _grey(digit_image(font, d, cell))), d) for d in "0123456789"),
            reverse=True,
        )
        (best, digit), (second, _) = scores[0], scores[1]
        if best < MIN_SIMILARITY or best - second < MIN_MARGIN:
            return None
        read += digit
    return read

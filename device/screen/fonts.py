"""Loading the CJK font from a file and proving it can draw every string the UI shows.

A missing glyph would draw as an empty box in front of a citizen: start-up fails instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pygame.freetype

from device.errors import HaochapingError


class FontError(HaochapingError):
    """The font file is missing, unreadable, or lacks glyphs the UI needs."""

    code = "E_FONT"


def missing_glyphs(font: pygame.freetype.Font, texts: Iterable[str]) -> set[str]:
    missing: set[str] = set()
    for text in texts:
        chars = [c for c in text if not c.isspace()]
        metrics = font.get_metrics("".join(chars), size=24)
        missing.update(c for c, m in zip(chars, metrics, strict=True) if m is None)
    return missing


def load_font(path: str, texts: Iterable[str]) -> pygame.freetype.Font:
    if not pygame.freetype.get_init():
        pygame.freetype.init()
    if not Path(path).is_file():
        raise FontError(
            f"CJK font not found at {path}; install fonts-wqy-microhei "
            "(apt-get install fonts-wqy-microhei) or set [display] font"
        )
    try:
        font = pygame.freetype.Font(path)
    except (OSError, pygame.error) as exc:
        raise FontError(f"cannot load font {path}: {exc}") from exc
    missing = missing_glyphs(font, texts)
    if missing:
        shown = "".join(sorted(missing))
        raise FontError(f"font {path} has no glyph for: {shown}")
    return font

"""The chain of CJK fonts the screen draws with, and the start-up proof of what it can draw.

Every string the UI itself shows must be in the chain, or start-up fails. Names from cases
(rare characters of CJK Extensions A–F) are drawn by the first font of the chain that has
them; a character no font has is drawn as the placeholder 〓 (U+3013 GETA MARK) and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import pygame
import pygame.freetype

from device.errors import HaochapingError

log = logging.getLogger(__name__)

PLACEHOLDER = "\u3013"  # 〓: the customary mark in Chinese typesetting for a missing character
SOFT_HYPHEN = "\u00ad"
BREAK = "\u200b"
# One probe per CJK extension: the first and last code point of the block and a known name
# character, so the check at start-up says which extensions the chain draws.
EXTENSION_PROBES: dict[str, str] = {
    "A": "\u3400\u4dae\u4db5",
    "B": "\U00020000\U00020bb7\U0002a6d6",
    "C": "\U0002a700\U0002b734",
    "D": "\U0002b740\U0002b81d",
    "E": "\U0002b820\U0002c317\U0002cea1",
    "F": "\U0002ceb0\U0002ebe0",
}


class FontError(HaochapingError):
    """The font file is missing, unreadable, or lacks glyphs the UI needs."""

    code = "E_FONT"


def _open(path: str) -> pygame.freetype.Font:
    try:
        font = pygame.freetype.Font(path)
    except (OSError, pygame.error) as exc:
        raise FontError(f"cannot load font {path}: {exc}") from exc
    font.pad = True  # one line height for every run, whichever font draws it
    return font


def _has(font: pygame.freetype.Font, char: str) -> bool:
    return font.get_metrics(char, size=16)[0] is not None


class FontChain:
    """Fonts tried in order for each character; the placeholder where none has it."""

    def __init__(self, fonts: Sequence[pygame.freetype.Font], paths: Sequence[str]) -> None:
        self.fonts = list(fonts)
        self.paths = list(paths)
        self.missing: set[str] = set()  # characters drawn as the placeholder so far
        self._which: dict[str, int] = {}
        self._widths: dict[tuple[str, int], int] = {}

    def font_for(self, char: str) -> int | None:
        """Index of the first font that draws *char*, None when no font does."""
        if char not in self._which:
            found = next((i for i, f in enumerate(self.fonts) if _has(f, char)), None)
            self._which[char] = -1 if found is None else found
        index = self._which[char]
        return None if index < 0 else index

    def runs(self, text: str) -> list[tuple[int, str]]:
        """*text* split into runs of one font each; unknown characters become 〓."""
        out: list[tuple[int, str]] = []
        for original in text.replace(SOFT_HYPHEN, "").replace(BREAK, ""):
            char = original
            index = 0 if char.isspace() else self.font_for(char)
            if index is None:
                if char not in self.missing:
                    self.missing.add(char)
                    log.warning(
                        "no font of the chain has U+%04X: drawn as %s", ord(char), PLACEHOLDER
                    )
                index, char = 0, PLACEHOLDER
            if out and out[-1][0] == index:
                out[-1] = (index, out[-1][1] + char)
            else:
                out.append((index, char))
        return out

    def width(self, text: str, size: int) -> int:
        key = (text, size)
        if key not in self._widths:
            if len(self._widths) > 50_000:
                self._widths.clear()
            runs = self.runs(text)
            self._widths[key] = sum(self.fonts[i].get_rect(run, size=size).w for i, run in runs)
        return self._widths[key]

    def line_height(self, size: int) -> int:
        return self.fonts[0].get_sized_height(size)

    def get_rect(self, text: str, size: int) -> pygame.Rect:
        return pygame.Rect(0, 0, self.width(text, size), self.line_height(size))

    def render_to(
        self,
        surface: pygame.Surface,
        pos: tuple[int, int],
        text: str,
        fgcolor: tuple[int, int, int],
        size: int,
    ) -> pygame.Rect:
        """Draw *text* with its line box's top-left at *pos*; returns that line box."""
        x, y = pos
        baseline = y + self.fonts[0].get_sized_ascender(size)
        for index, run in self.runs(text):
            font = self.fonts[index]
            top = baseline - font.get_sized_ascender(size)
            drawn = font.render_to(surface, (x, top), run, fgcolor, size=size)
            x += max(drawn.w, font.get_rect(run, size=size).w)
        return pygame.Rect(pos[0], y, x - pos[0], self.line_height(size))

    def coverage(self) -> dict[str, bool]:
        """For each CJK extension A–F: does the chain draw its probe characters?"""
        return {
            name: all(self.font_for(c) is not None for c in probe)
            for name, probe in EXTENSION_PROBES.items()
        }


def missing_glyphs(chain: FontChain, texts: Iterable[str]) -> set[str]:
    wanted = {
        c
        for text in texts
        for c in text.replace(SOFT_HYPHEN, "").replace(BREAK, "")
        if not c.isspace()
    }
    return {c for c in wanted if chain.font_for(c) is None}


def load_font(path: str, texts: Iterable[str], fallbacks: Sequence[str] = ()) -> FontChain:
    """The chain *path* + *fallbacks*; fails unless it can draw every string in *texts*.

    A fallback file that is absent is logged and left out (the coverage then says so)."""
    if not pygame.freetype.get_init():
        pygame.freetype.init()
    if not Path(path).is_file():
        raise FontError(
            f"CJK font not found at {path}; install fonts-wqy-microhei "
            "(apt-get install fonts-wqy-microhei) or set [display] font"
        )
    fonts, paths = [_open(path)], [path]
    for extra in fallbacks:
        if Path(extra).is_file():
            fonts.append(_open(extra))
            paths.append(extra)
        else:
            log.warning("fallback font %s not found (apt-get install fonts-hanazono)", extra)
    chain = FontChain(fonts, paths)
    missing = missing_glyphs(chain, texts)
    if missing:
        shown = "".join(sorted(missing))
        raise FontError(f"font {path} has no glyph for: {shown}")
    covered = chain.coverage()
    log.info(
        "font chain %s draws CJK extensions %s%s",
        " > ".join(paths),
        "".join(k for k, ok in covered.items() if ok) or "none",
        ""
        if all(covered.values())
        else f" (not {''.join(k for k, ok in covered.items() if not ok)})",
    )
    return chain

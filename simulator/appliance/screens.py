"""Telling what a captured screen shows: not black, and which of the evaluator's pages
(rendered headless by simulator/screenshot.py) it resembles most. Pure image arithmetic on
small grey thumbnails, so fonts' and timers' little differences do not matter."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

THUMB = (64, 40)  # about the panel's 1024×600 aspect


@dataclass(frozen=True)
class Look:
    """What a captured screen looks like next to the references."""

    brightness: float  # mean grey 0–255
    spread: float  # mean absolute deviation from that mean: 0 for a flat colour
    closest: str | None  # the reference it resembles most
    similarity: float  # 1 - mean absolute difference / 255, against `closest`
    scores: dict[str, float]

    @property
    def blank(self) -> bool:
        """One flat colour (black, or a cleared screen): nothing drawn."""
        return self.spread < 2.0


def thumbnail(path: Path) -> list[float]:
    """The picture as THUMB grey values, row by row."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame  # noqa: PLC0415 (after the video driver is chosen)

    loaded = pygame.image.load(str(path))
    picture = pygame.Surface(loaded.get_size(), 0, 32)  # smoothscale needs 24 or 32 bits
    picture.blit(loaded, (0, 0))
    small = pygame.transform.smoothscale(picture, THUMB)
    raw = pygame.image.tobytes(small, "RGB")
    return [
        (raw[i] * 299 + raw[i + 1] * 587 + raw[i + 2] * 114) / 1000 for i in range(0, len(raw), 3)
    ]


@functools.lru_cache(maxsize=64)
def _reference(path: Path) -> list[float]:
    """A reference page's thumbnail, made once."""
    return thumbnail(path)


def similarity(a: list[float], b: list[float]) -> float:
    return 1.0 - sum(abs(x - y) for x, y in zip(a, b, strict=True)) / (255.0 * len(a))


def look(shot: Path, references: dict[str, Path]) -> Look:
    """Compare *shot* with each reference page."""
    grey = thumbnail(shot)
    mean = sum(grey) / len(grey)
    spread = sum(abs(g - mean) for g in grey) / len(grey)
    scores = {
        name: round(similarity(grey, _reference(path)), 4) for name, path in references.items()
    }
    closest = max(scores, key=lambda name: scores[name]) if scores else None
    return Look(
        round(mean, 1),
        round(spread, 1),
        closest,
        scores.get(closest, 0.0) if closest else 0.0,
        scores,
    )

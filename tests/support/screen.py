"""What the screen must be able to draw in a language: every text of its pages and every
label of the shipped tag catalogue."""

from __future__ import annotations

from device.record import tag_catalog
from device.screen.texts import Texts


def screen_strings(language: str) -> list[str]:
    return [*Texts(language).all_strings(), *tag_catalog.shipped_default().labels()]

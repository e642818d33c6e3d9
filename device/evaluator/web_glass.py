"""The rating page in a browser as the main loop's glass: each view is published to the pages
handed out, for the browser to fetch; the browser's presses come back as inbox messages.

No window, no pygame: what a self-service terminal with its own screen runs.
"""

from __future__ import annotations

from device.evaluator.glass import GlassInput
from device.flow.presenter import Touch
from device.flow.rating_flow import RatingFlow
from device.record.tag_catalog import Tag
from device.screen.view import ScreenView
from device.web_page.pages import RatePages


class WebGlass:
    def __init__(self, pages: RatePages) -> None:
        self.pages = pages

    def show(self, view: ScreenView) -> None:
        self.pages.publish(view)

    def inputs(self) -> list[GlassInput]:
        return []  # the browser's presses arrive through the local API

    def touch_meaning(
        self, flow: RatingFlow, offered: tuple[Tag, ...], x: int, y: int
    ) -> Touch | None:
        return None  # no taps by position: the page sends what was pressed

    @property
    def missing_glyphs(self) -> int:
        return 0  # the browser falls back to its own fonts for a character the subset lacks

    def check_glyphs(self, text: str) -> None:
        return None

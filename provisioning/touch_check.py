"""The touch check: a target is drawn in each corner in turn and the technician taps it. Taps
are read as the evaluator reads them (SDL finger events, or the mouse events of a pointer),
turned by [display] rotate; a corner not tapped, or tapped off its target, fails the check."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pygame

from device.daemon.config import Config
from device.screen.panel import Panel, open_panel
from provisioning.checks import Outcome

TARGET = (255, 200, 0)
RING = (255, 255, 255)
PAPER = (0, 0, 0)


@dataclass(frozen=True)
class Corner:
    name: str
    right: bool
    bottom: bool


CORNERS = (
    Corner("top-left", False, False),
    Corner("top-right", True, False),
    Corner("bottom-right", True, True),
    Corner("bottom-left", False, True),
)


def target(corner: Corner, size: tuple[int, int]) -> tuple[tuple[int, int], int]:
    """Centre and radius of *corner*'s target on a page of *size*."""
    width, height = size
    radius = max(20, min(width, height) // 12)
    inset = radius + 6
    x = width - 1 - inset if corner.right else inset
    y = height - 1 - inset if corner.bottom else inset
    return (x, y), radius


def _tap(event: pygame.event.Event, panel: Panel) -> tuple[int, int] | None:
    """Where on the page *event* touched, or None when it is not a touch or a click."""
    if event.type == pygame.FINGERDOWN:
        return panel.touch_to_page(event.x, event.y)
    if event.type == pygame.MOUSEBUTTONDOWN and not getattr(event, "touch", False):
        return panel.to_page(*event.pos)  # a finger's own mouse copy is counted once, above
    return None


def _wait_tap(panel: Panel, seconds: float) -> tuple[int, int] | None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for event in pygame.event.get():
            where = _tap(event, panel)
            if where is not None:
                return where
        time.sleep(0.02)
    return None


def check_touch(config: Config, say: Callable[[str], None], timeout_s: float = 15.0) -> Outcome:
    pygame.display.init()
    try:
        panel = open_panel(config.display)
        size = panel.surface.get_size()
        missed: list[str] = []
        for corner in CORNERS:
            centre, radius = target(corner, size)
            panel.surface.fill(PAPER)
            pygame.draw.circle(panel.surface, RING, centre, radius, width=3)
            pygame.draw.circle(panel.surface, TARGET, centre, radius * 2 // 3)
            panel.show()
            pygame.event.clear()
            say(f"tap the target in the {corner.name} corner within {timeout_s:.0f} s")
            where = _wait_tap(panel, timeout_s)
            if where is None:
                missed.append(f"{corner.name}: no tap within {timeout_s:.0f} s")
                continue
            away = math.dist(where, centre)
            if away > radius:
                missed.append(
                    f"{corner.name}: tap landed at {where[0]},{where[1]}, "
                    f"{away:.0f} px from the target"
                )
    except pygame.error as exc:
        return Outcome(
            "touch",
            False,
            f"cannot open the display: {exc}",
            "stop the evaluator (systemctl stop haochaping-evaluator) first",
        )
    finally:
        pygame.display.quit()
    if missed:
        return Outcome(
            "touch",
            False,
            "missed " + "; ".join(missed),
            "no tap at all: check the touch cable (USB or the DSI ribbon); taps landing "
            "elsewhere: [display] rotate must match how the panel is mounted",
        )
    return Outcome("touch", True, f"all four corners tapped on target ({size[0]}x{size[1]})")

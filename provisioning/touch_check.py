"""The touch check: a target is drawn in each corner in turn and the technician taps it. Taps
are read as the evaluator reads them (the panel's taps: evdev with [display] output = "kms",
SDL's finger or mouse events otherwise), turned by [display] rotate; a corner not tapped, or
tapped off its target, fails the check."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pygame

from device.daemon.config import Config
from device.screen.panel import PageTap, Panel, PanelError, open_panel
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


def _wait_tap(panel: Panel, seconds: float) -> tuple[int, int] | None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for found in panel.inputs():
            if isinstance(found, PageTap):
                return found.x, found.y
        time.sleep(0.02)
    return None


def check_touch(config: Config, say: Callable[[str], None], timeout_s: float = 15.0) -> Outcome:
    try:
        panel = open_panel(config.display)
    except PanelError as exc:
        return Outcome(
            "touch",
            False,
            f"cannot open the display: {exc}",
            "stop the evaluator (systemctl stop haochaping-evaluator) first",
        )
    try:
        size = panel.surface.get_size()
        missed: list[str] = []
        for corner in CORNERS:
            centre, radius = target(corner, size)
            panel.surface.fill(PAPER)
            pygame.draw.circle(panel.surface, RING, centre, radius, width=3)
            pygame.draw.circle(panel.surface, TARGET, centre, radius * 2 // 3)
            panel.show()
            panel.inputs()  # taps made before the target was shown do not count
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
    finally:
        panel.close()
    if missed:
        return Outcome(
            "touch",
            False,
            "missed " + "; ".join(missed),
            "no tap at all: check the touch cable (USB or the DSI ribbon); taps landing "
            "elsewhere: [display] rotate must match how the panel is mounted",
        )
    return Outcome("touch", True, f"all four corners tapped on target ({size[0]}x{size[1]})")

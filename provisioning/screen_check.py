"""The screen check: a test pattern with a random number is shown, then the technician types
the number back. A number they did not see cannot be confirmed, so a blind "yes" fails."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pygame

from device.daemon.config import Config
from device.screen.fonts import FontError
from device.screen.panel import PanelError
from provisioning.checks import Outcome
from provisioning.test_pattern import show_pattern

DIGITS = 4


def pattern_number() -> str:
    """Four digits, the first not 0 (nothing to drop when it is typed)."""
    return str(1000 + secrets.randbelow(9000))


def check_screen(
    config: Config,
    seconds: float,
    read_back: Callable[[], str | None],
    number: Callable[[], str] = pattern_number,
) -> Outcome:
    """Show the pattern for *seconds*, then ask; read_back() None means nobody was asked."""
    shown = number()
    try:
        width, height = show_pattern(config, seconds, shown)
    except (pygame.error, PanelError, FontError, OSError) as exc:
        return Outcome(
            "screen",
            False,
            f"cannot open the display: {exc}",
            "stop the evaluator (systemctl stop haochaping-evaluator) and check "
            "the cable and SDL_VIDEODRIVER=kmsdrm",
        )
    typed = read_back()
    if typed is None:
        return Outcome(
            "screen", None, f"pattern shown at {width}x{height}; not confirmed (--no-input)"
        )
    typed = typed.strip()
    if typed == shown:
        return Outcome("screen", True, f"{width}x{height}, the number shown was read back")
    return Outcome(
        "screen",
        False,
        f"{typed or 'nothing'} typed, which is not the number shown ({width}x{height})",
        "run the check again and read the number in the middle of the screen; if the screen "
        "stayed dark or showed something else, check the cable, that nothing else holds the "
        "display, and [display] rotate",
    )

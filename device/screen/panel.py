"""The physical panel: opened at its native resolution full screen (or a window of a set
size in the simulator), turned by [display] rotate, with touches mapped back to the page.

Two ways to the glass ([display] output):
- "sdl": a pygame display (a desktop window, or SDL's own KMS/DRM driver); touches and keys
  come as SDL events;
- "kms": the kernel's KMS/DRM display through dumb buffers (device/screen/kms.py) and the
  touchscreen through evdev (device/touch/): what a device needs, with no OpenGL at all.

The pages are drawn upright on their own surface; each frame is rotated onto the glass, and
a touch on the glass is turned back into the coordinates of the upright page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TypeAlias

import pygame

from device.daemon.config import DisplayOutput, DisplaySection
from device.errors import HaochapingError
from device.screen.kms import KmsError, KmsScanout
from device.touch.evdev import TouchInput


def page_size(panel: tuple[int, int], rotate: int) -> tuple[int, int]:
    """The upright page's size on a panel of *panel* pixels turned by *rotate* degrees."""
    w, h = panel
    return (h, w) if rotate in (90, 270) else (w, h)


def glass_to_page(x: int, y: int, panel: tuple[int, int], rotate: int) -> tuple[int, int]:
    """A point on the glass (panel pixels) as a point on the upright page.

    *rotate* is clockwise: with 90, the page's top edge runs down the glass's right edge."""
    w, h = panel
    if rotate == 90:
        return y, w - 1 - x
    if rotate == 180:
        return w - 1 - x, h - 1 - y
    if rotate == 270:
        return h - 1 - y, x
    return x, y


class PanelError(HaochapingError):
    """The panel could not be opened; the text says why."""

    code = "E_DISPLAY"


@dataclass(frozen=True)
class PageTap:
    """A touch (or a click) at this point of the upright page."""

    x: int
    y: int


# An SDL event that is not a tap: keys, quit, expose. (A string: pygame 2.1's Event is a
# function, not a type, at run time.)
PanelInput: TypeAlias = "PageTap | pygame.event.Event"


class Panel(ABC):
    """The display: `surface` to draw the upright page on, `show()` to put it on the glass,
    `inputs()` for the taps (and, through SDL, the other events) since the last call."""

    def __init__(self, glass: pygame.Surface, rotate: int) -> None:
        self.glass = glass
        self.rotate = rotate
        size = page_size(glass.get_size(), rotate)
        self.surface = glass if rotate == 0 else pygame.Surface(size)

    @property
    def glass_size(self) -> tuple[int, int]:
        return self.glass.get_size()

    def show(self) -> None:
        if self.rotate:
            # pygame turns counter-clockwise for positive angles
            self.glass.blit(pygame.transform.rotate(self.surface, -self.rotate), (0, 0))
        self._present()

    @abstractmethod
    def inputs(self) -> list[PanelInput]: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _present(self) -> None: ...

    def to_page(self, x: int, y: int) -> tuple[int, int]:
        """A mouse position on the glass as a point on the page."""
        return glass_to_page(x, y, self.glass_size, self.rotate)

    def touch_to_page(self, fx: float, fy: float) -> tuple[int, int]:
        """A finger's normalised position (0–1 of the glass) as a point on the page."""
        w, h = self.glass_size
        return self.to_page(min(w - 1, int(fx * w)), min(h - 1, int(fy * h)))


class SdlPanel(Panel):
    """Through SDL: pygame's display surface is the glass."""

    def _present(self) -> None:
        pygame.display.flip()

    def inputs(self) -> list[PanelInput]:
        found: list[PanelInput] = []
        for event in pygame.event.get():
            if event.type == pygame.FINGERDOWN:
                found.append(PageTap(*self.touch_to_page(event.x, event.y)))
            elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
                if not getattr(event, "touch", False):  # a finger's mouse copy: counted above
                    found.append(PageTap(*self.to_page(*event.pos)))
            else:
                found.append(event)
        return found

    def close(self) -> None:
        pygame.display.quit()


class KmsPanel(Panel):
    """Straight to the kernel's display: frames through dumb buffers, taps from evdev."""

    def __init__(self, scanout: KmsScanout, touch: TouchInput, rotate: int) -> None:
        super().__init__(scanout.frame(), rotate)
        self.scanout = scanout
        self.touch = touch

    def _present(self) -> None:
        self.scanout.show(self.glass)

    def inputs(self) -> list[PanelInput]:
        return [PageTap(*self.touch_to_page(tap.x, tap.y)) for tap in self.touch.taps()]

    def close(self) -> None:
        self.touch.close()
        self.scanout.close()


def open_panel(display: DisplaySection) -> Panel:
    """Native resolution full screen with the pointer hidden unless a size is configured."""
    size = None
    if display.width is not None and display.height is not None:
        size = (display.width, display.height)
    if display.output is DisplayOutput.KMS:
        try:
            scanout = KmsScanout.open(size)
        except KmsError as error:
            raise PanelError(str(error)) from None
        return KmsPanel(scanout, TouchInput(), display.rotate)
    pygame.display.init()
    flags = pygame.FULLSCREEN if display.fullscreen else 0
    try:
        glass = pygame.display.set_mode(size or (0, 0), flags)  # (0, 0): the native mode
    except pygame.error as error:
        raise PanelError(f"SDL cannot open the display: {error}") from None
    pygame.display.set_caption("好差评")
    pygame.mouse.set_visible(not display.fullscreen)
    return SdlPanel(glass, display.rotate)

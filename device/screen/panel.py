"""The physical panel: opened at its native resolution full screen (or a window of a set
size in the simulator), turned by [display] rotate, with touches mapped back to the page.

The pages are drawn upright on their own surface; each frame is rotated onto the glass, and
a touch on the glass is turned back into the coordinates of the upright page.
"""

from __future__ import annotations

import pygame

from device.daemon.config import DisplaySection


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


class Panel:
    """The display: `surface` to draw the upright page on, `show()` to put it on the glass."""

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
        pygame.display.flip()

    def to_page(self, x: int, y: int) -> tuple[int, int]:
        """A mouse position on the glass as a point on the page."""
        return glass_to_page(x, y, self.glass_size, self.rotate)

    def touch_to_page(self, fx: float, fy: float) -> tuple[int, int]:
        """A finger's normalised position (0–1 of the glass) as a point on the page."""
        w, h = self.glass_size
        return self.to_page(min(w - 1, int(fx * w)), min(h - 1, int(fy * h)))


def open_panel(display: DisplaySection) -> Panel:
    """Native resolution full screen with the pointer hidden unless a size is configured."""
    if display.width is not None and display.height is not None:
        size = (display.width, display.height)
    else:
        size = (0, 0)  # SDL: the display's current (native) mode
    flags = pygame.FULLSCREEN if display.fullscreen else 0
    glass = pygame.display.set_mode(size, flags)
    pygame.display.set_caption("好差评")
    pygame.mouse.set_visible(not display.fullscreen)
    return Panel(glass, display.rotate)

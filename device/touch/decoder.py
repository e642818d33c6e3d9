"""Taps out of a touchscreen's evdev events: pure, one device's stream at a time.

A finger (BTN_TOUCH) or a pointer's button (BTN_LEFT, e.g. a USB tablet) going down is a tap,
where the position stands in the same report (SYN_REPORT) or last stood. Positions come from
ABS_X/ABS_Y or, on a multi-touch panel, the first contact's ABS_MT_POSITION_X/Y, and are given
back as fractions 0–1 of the axis's range, which the panel turns into page pixels."""

from __future__ import annotations

from dataclasses import dataclass

EV_SYN = 0x00
EV_KEY = 0x01
EV_ABS = 0x03
SYN_REPORT = 0
SYN_DROPPED = 3
ABS_X = 0x00
ABS_Y = 0x01
ABS_MT_SLOT = 0x2F
ABS_MT_POSITION_X = 0x35
ABS_MT_POSITION_Y = 0x36
BTN_LEFT = 0x110
BTN_TOUCH = 0x14A
PRESSES = (BTN_TOUCH, BTN_LEFT)


@dataclass(frozen=True)
class AxisRange:
    minimum: int
    maximum: int

    def fraction(self, value: int) -> float:
        """*value* as 0–1 of the range (clamped: some panels report a little outside it)."""
        span = self.maximum - self.minimum
        if span <= 0:
            return 0.0
        return min(1.0, max(0.0, (value - self.minimum) / span))


@dataclass(frozen=True)
class Tap:
    """Where a finger came down, as fractions 0–1 of the glass from its top-left corner."""

    x: float
    y: float


class TapDecoder:
    """Feed it (type, code, value) events in order; `feed` returns a Tap when one ends a
    report with a press in it."""

    def __init__(
        self, x_range: AxisRange, y_range: AxisRange, *, multi_touch: bool = False
    ) -> None:
        """*multi_touch*: read the first contact's ABS_MT_POSITION_X/Y (a panel without the
        single-touch ABS_X/ABS_Y); the ranges are then those of the MT axes."""
        self.x_range = x_range
        self.y_range = y_range
        self._x_code = ABS_MT_POSITION_X if multi_touch else ABS_X
        self._y_code = ABS_MT_POSITION_Y if multi_touch else ABS_Y
        self._x: int | None = None
        self._y: int | None = None
        self._slot = 0
        self._pressed = False
        self._down_in_report = False

    def feed(self, kind: int, code: int, value: int) -> Tap | None:
        if kind == EV_ABS:
            self._position(code, value)
        elif kind == EV_KEY and code in PRESSES:
            if value == 1 and not self._pressed:
                self._down_in_report = True
            self._pressed = value != 0
        elif kind == EV_SYN and code == SYN_DROPPED:
            self._down_in_report = False  # the kernel lost events: no tap from a torn report
        elif kind == EV_SYN and code == SYN_REPORT:
            return self._report_end()
        return None

    def _position(self, code: int, value: int) -> None:
        if code == ABS_MT_SLOT:
            self._slot = value
        elif self._slot != 0 and code in (ABS_MT_POSITION_X, ABS_MT_POSITION_Y):
            return  # a second finger: only the first one taps
        elif code == self._x_code:
            self._x = value
        elif code == self._y_code:
            self._y = value

    def _report_end(self) -> Tap | None:
        if not self._down_in_report:
            return None
        self._down_in_report = False
        if self._x is None or self._y is None:
            return None  # a press before any position: nowhere to put it
        return Tap(self.x_range.fraction(self._x), self.y_range.fraction(self._y))

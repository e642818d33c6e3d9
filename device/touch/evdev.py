"""The touchscreens among the kernel's input devices (/dev/input/event*), read without
blocking: each absolute pointer (a touch panel, or a USB tablet in a virtual machine) found
at start, and again every few seconds while none is, gives its taps through TapDecoder.

Needs read access to /dev/input/event* (the service's `input` group). A device that goes
away (a touch controller on USB unplugged) is dropped and looked for again."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import logging
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from device.touch.decoder import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    AxisRange,
    Tap,
    TapDecoder,
)

log = logging.getLogger(__name__)

DEVICES = "/dev/input/event*"
EVENT = struct.Struct("@llHHi")  # struct input_event: timeval, type, code, value
ABSINFO = struct.Struct("=6i")  # struct input_absinfo
RESCAN_S = 5.0
READ_EVENTS = 64
READS_PER_CALL = 16


def _ioc_read(group: str, number: int, size: int) -> int:
    return (2 << 30) | (size << 16) | (ord(group) << 8) | number


def _bits(fd: int, event_type: int, count: int) -> bytes:
    """EVIOCGBIT: which codes of *event_type* the device has (a little-endian bitmap)."""
    size = (count + 7) // 8
    buffer = bytearray(size)
    fcntl.ioctl(fd, _ioc_read("E", 0x20 + event_type, size), buffer, True)
    return bytes(buffer)


def _has(bitmap: bytes, code: int) -> bool:
    return code // 8 < len(bitmap) and bool(bitmap[code // 8] & (1 << (code % 8)))


def _axis(fd: int, code: int) -> AxisRange:
    """EVIOCGABS: the axis's range."""
    buffer = bytearray(ABSINFO.size)
    fcntl.ioctl(fd, _ioc_read("E", 0x40 + code, ABSINFO.size), buffer, True)
    _, minimum, maximum, _, _, _ = ABSINFO.unpack(buffer)
    return AxisRange(minimum, maximum)


def decoder_for(fd: int) -> TapDecoder | None:
    """A decoder when the device behind *fd* is an absolute pointer that presses, else None."""
    abs_bits = _bits(fd, EV_ABS, 0x40)
    key_bits = _bits(fd, EV_KEY, 0x300)
    if not (_has(key_bits, BTN_TOUCH) or _has(key_bits, BTN_LEFT)):
        return None
    if _has(abs_bits, ABS_X) and _has(abs_bits, ABS_Y):
        return TapDecoder(_axis(fd, ABS_X), _axis(fd, ABS_Y))
    if _has(abs_bits, ABS_MT_POSITION_X) and _has(abs_bits, ABS_MT_POSITION_Y):
        x, y = _axis(fd, ABS_MT_POSITION_X), _axis(fd, ABS_MT_POSITION_Y)
        return TapDecoder(x, y, multi_touch=True)
    return None


@dataclass
class _Open:
    path: str
    fd: int
    decoder: TapDecoder
    partial: bytes = b""


class TouchInput:
    """The touchscreens' taps: `taps()` returns those made since the last call."""

    def __init__(
        self,
        pattern: str = DEVICES,
        decoder_of: Callable[[int], TapDecoder | None] = decoder_for,
    ) -> None:
        """*decoder_of*: how to tell a touch device (and its axes) from its descriptor."""
        self.pattern = pattern
        self.decoder_of = decoder_of
        self._open: dict[str, _Open] = {}
        self._last_scan = float("-inf")
        self._scan()

    @property
    def devices(self) -> list[str]:
        return sorted(self._open)

    def taps(self) -> list[Tap]:
        if not self._open and time.monotonic() - self._last_scan >= RESCAN_S:
            self._scan()
        found: list[Tap] = []
        for device in list(self._open.values()):
            found.extend(self._read(device))
        return found

    def close(self) -> None:
        for device in self._open.values():
            with contextlib.suppress(OSError):
                os.close(device.fd)
        self._open.clear()

    def _scan(self) -> None:
        self._last_scan = time.monotonic()
        for path in sorted(glob.glob(self.pattern)):
            if path in self._open:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as error:
                if error.errno in (errno.EACCES, errno.EPERM):
                    log.warning("touch: cannot read %s (%s)", path, error.strerror)
                continue
            try:
                decoder = self.decoder_of(fd)
            except OSError:
                decoder = None  # not an input device that answers evdev's questions
            if decoder is None:
                os.close(fd)
                continue
            log.info("touch: reading %s", path)
            self._open[path] = _Open(path, fd, decoder)

    def _read(self, device: _Open) -> list[Tap]:
        taps: list[Tap] = []
        for _ in range(READS_PER_CALL):  # bounded: a flood of events cannot stall the loop
            try:
                data = os.read(device.fd, EVENT.size * READ_EVENTS)
            except BlockingIOError:
                break
            except OSError as error:
                self._drop(device, error.strerror or str(error))
                break
            if not data:
                self._drop(device, "end of input")
                break
            data = device.partial + data
            whole = len(data) - len(data) % EVENT.size
            device.partial = data[whole:]
            for at in range(0, whole, EVENT.size):
                _, _, kind, code, value = EVENT.unpack_from(data, at)
                tap = device.decoder.feed(kind, code, value)
                if tap is not None:
                    taps.append(tap)
        return taps

    def _drop(self, device: _Open, why: str) -> None:
        log.warning("touch: %s gone (%s); looking for it again", device.path, why)
        with contextlib.suppress(OSError):
            os.close(device.fd)
        del self._open[device.path]

"""Touches read from the kernel's input devices (evdev), for a panel driven through KMS/DRM:
the decoder on the event sequences real touch controllers and a USB tablet send, and the
reader on a real descriptor (a FIFO carrying input_event records), torn reads and a device
that goes away included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device.screen.panel import glass_to_page
from device.touch.decoder import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_MT_SLOT,
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
    AxisRange,
    Tap,
    TapDecoder,
)
from device.touch.evdev import EVENT, TouchInput

TABLET = AxisRange(0, 32767)  # QEMU's usb-tablet
PANEL_X, PANEL_Y = AxisRange(0, 4095), AxisRange(0, 4095)  # a resistive controller's ADC


def feed(decoder: TapDecoder, events: list[tuple[int, int, int]]) -> list[Tap]:
    taps = [decoder.feed(*event) for event in events]
    return [tap for tap in taps if tap is not None]


def test_a_finger_down_is_one_tap_where_it_lands() -> None:
    decoder = TapDecoder(PANEL_X, PANEL_Y)
    taps = feed(
        decoder,
        [
            (EV_ABS, ABS_X, 1024), (EV_ABS, ABS_Y, 3071), (EV_KEY, BTN_TOUCH, 1),
            (EV_SYN, SYN_REPORT, 0),
            (EV_ABS, ABS_X, 1100), (EV_SYN, SYN_REPORT, 0),  # the finger slides: no new tap
            (EV_KEY, BTN_TOUCH, 0), (EV_SYN, SYN_REPORT, 0),
        ],
    )  # fmt: skip
    assert taps == [Tap(1024 / 4095, 3071 / 4095)]


def test_a_tablet_click_taps_at_the_pointer() -> None:
    decoder = TapDecoder(TABLET, TABLET)
    taps = feed(
        decoder,
        [
            (EV_ABS, ABS_X, 32767), (EV_ABS, ABS_Y, 0), (EV_SYN, SYN_REPORT, 0),
            (EV_KEY, BTN_LEFT, 1), (EV_SYN, SYN_REPORT, 0),  # the position came earlier
            (EV_KEY, BTN_LEFT, 0), (EV_SYN, SYN_REPORT, 0),
            (EV_KEY, BTN_LEFT, 1), (EV_SYN, SYN_REPORT, 0),
        ],
    )  # fmt: skip
    assert taps == [Tap(1.0, 0.0), Tap(1.0, 0.0)]


def test_no_tap_without_a_position_or_from_a_report_the_kernel_tore() -> None:
    decoder = TapDecoder(PANEL_X, PANEL_Y)
    assert feed(decoder, [(EV_KEY, BTN_TOUCH, 1), (EV_SYN, SYN_REPORT, 0)]) == []
    decoder = TapDecoder(PANEL_X, PANEL_Y)
    torn = [
        (EV_ABS, ABS_X, 10), (EV_ABS, ABS_Y, 10), (EV_KEY, BTN_TOUCH, 1),
        (EV_SYN, SYN_DROPPED, 0), (EV_SYN, SYN_REPORT, 0),
    ]  # fmt: skip
    assert feed(decoder, torn) == []


def test_a_multi_touch_panel_taps_with_its_first_finger_only() -> None:
    decoder = TapDecoder(AxisRange(0, 799), AxisRange(0, 479), multi_touch=True)
    taps = feed(
        decoder,
        [
            (EV_ABS, ABS_MT_SLOT, 0), (EV_ABS, ABS_MT_POSITION_X, 399),
            (EV_ABS, ABS_MT_POSITION_Y, 0), (EV_KEY, BTN_TOUCH, 1), (EV_SYN, SYN_REPORT, 0),
            (EV_ABS, ABS_MT_SLOT, 1), (EV_ABS, ABS_MT_POSITION_X, 799),  # a second finger
            (EV_ABS, ABS_MT_POSITION_Y, 479), (EV_SYN, SYN_REPORT, 0),
        ],
    )  # fmt: skip
    assert taps == [Tap(399 / 799, 0.0)]


def test_positions_outside_the_range_are_kept_on_the_glass() -> None:
    decoder = TapDecoder(AxisRange(100, 3900), AxisRange(100, 3900))
    taps = feed(
        decoder,
        [(EV_ABS, ABS_X, 40), (EV_ABS, ABS_Y, 4000), (EV_KEY, BTN_TOUCH, 1), (EV_SYN, 0, 0)],
    )
    assert taps == [Tap(0.0, 1.0)]


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_a_corner_tap_lands_in_the_same_corner_of_the_turned_page(rotate: int) -> None:
    """The glass's bottom-right corner is the page's bottom-right corner only at 0°; at 90°
    the page's top edge runs down the glass's right side, and so on."""
    panel = (1024, 600)
    decoder = TapDecoder(TABLET, TABLET)
    (tap,) = feed(
        decoder,
        [(EV_ABS, ABS_X, 32767), (EV_ABS, ABS_Y, 32767), (EV_KEY, BTN_LEFT, 1), (EV_SYN, 0, 0)],
    )
    x, y = glass_to_page(min(1023, int(tap.x * 1024)), min(599, int(tap.y * 600)), panel, rotate)
    expected = {0: (1023, 599), 90: (599, 0), 180: (0, 0), 270: (0, 1023)}
    assert (x, y) == expected[rotate]


# -- the reader, on a real descriptor --------------------------------------------------------


def record(kind: int, code: int, value: int) -> bytes:
    return EVENT.pack(0, 0, kind, code, value)


def tap_bytes(x: int, y: int) -> bytes:
    return b"".join(
        [
            record(EV_ABS, ABS_X, x), record(EV_ABS, ABS_Y, y), record(EV_KEY, BTN_TOUCH, 1),
            record(EV_SYN, SYN_REPORT, 0), record(EV_KEY, BTN_TOUCH, 0),
            record(EV_SYN, SYN_REPORT, 0),
        ]
    )  # fmt: skip


def open_writer(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_NONBLOCK)


def test_the_reader_takes_taps_from_a_device_even_when_a_record_is_split(tmp_path: Path) -> None:
    fifo = tmp_path / "event7"
    os.mkfifo(fifo)
    touch = TouchInput(
        str(tmp_path / "event*"), decoder_of=lambda _fd: TapDecoder(PANEL_X, PANEL_Y)
    )
    try:
        assert touch.devices == [str(fifo)]
        writer = open_writer(fifo)
        assert touch.taps() == []  # nothing touched yet
        stream = tap_bytes(4095, 0) + tap_bytes(0, 4095)
        os.write(writer, stream[:37])  # half a record: nothing yet, nothing lost
        assert touch.taps() == []
        os.write(writer, stream[37:])
        assert touch.taps() == [Tap(1.0, 0.0), Tap(0.0, 1.0)]
        os.close(writer)
        assert touch.taps() == []  # the device went away: dropped, not a crash
        assert touch.devices == []
    finally:
        touch.close()


def test_devices_that_are_not_touchscreens_are_left_alone(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "event0")
    os.mkfifo(tmp_path / "event1")
    touch = TouchInput(str(tmp_path / "event*"), decoder_of=lambda _fd: None)
    assert touch.devices == []
    touch.close()


def test_without_the_kernels_answers_a_plain_file_is_not_taken_for_a_touchscreen(
    tmp_path: Path,
) -> None:
    (tmp_path / "event3").write_bytes(tap_bytes(1, 1))
    touch = TouchInput(str(tmp_path / "event*"))  # the real evdev questions: ENOTTY here
    assert touch.devices == []
    assert touch.taps() == []
    touch.close()

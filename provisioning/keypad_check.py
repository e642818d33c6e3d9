"""The keypad check: the technician presses keys 1 to 5 when asked; each must arrive as that
key within the time allowed. Uses the evaluator's own keypad driver."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from device.daemon.config import Config
from device.keypad.events import KeypadEvent, KeypadFound, KeyPressed
from device.keypad.link import KeypadLink
from device.record.rating import Level
from device.screen.texts import Texts
from provisioning.checks import Outcome


def check_keypad(
    config: Config, say: Callable[[str], None], timeout_s: float = 15.0, link_timeout_s: float = 6.0
) -> Outcome:
    if not config.keypad.port:
        return Outcome("keypad keys", None, "none configured (touch only)")
    events: queue.Queue[KeypadEvent] = queue.Queue()
    link = KeypadLink(config.keypad.port, events.put)
    link.start()
    try:
        if not _wait(events, lambda e: isinstance(e, KeypadFound), link_timeout_s):
            return Outcome(
                "keypad keys",
                False,
                f"no answer from {config.keypad.port}",
                "check the cable and udev name; stop the evaluator first "
                "(it holds the port): systemctl stop haochaping-evaluator",
            )
        texts = Texts(config.display.language)
        for key in range(1, 6):
            label = texts.level(Level(config.keypad.key_levels[key - 1]))
            say(f"press key {key} ({label}) within {timeout_s:.0f} s")
            pressed = _next_press(events, timeout_s)
            if pressed is None:
                return Outcome(
                    "keypad keys",
                    False,
                    f"key {key} not pressed in time",
                    "press firmly; if it never registers, replace the keypad",
                )
            if pressed != key:
                return Outcome(
                    "keypad keys",
                    False,
                    f"asked for key {key}, got key {pressed}",
                    "keys wired or mounted in another order: fix the wiring or "
                    "set [keypad] key_levels",
                )
        return Outcome(
            "keypad keys", True, f"keys 1-5 all arrived ({link.firmware or 'firmware ?'})"
        )
    finally:
        link.stop()


def keypad_answers(port: str, seconds: float = 3.0) -> bool:
    """Whether a keypad answers on *port* (its hello, or a reply to a ping) within *seconds*."""
    events: queue.Queue[KeypadEvent] = queue.Queue()
    link = KeypadLink(port, events.put, ping_interval=0.5, reopen_interval=0.5)
    link.start()
    end = time.monotonic() + seconds
    try:
        while (left := end - time.monotonic()) > 0:
            try:
                if isinstance(events.get(timeout=left), KeypadFound):
                    return True
            except queue.Empty:
                return False
        return False
    finally:
        link.stop()


def _wait(
    events: queue.Queue[KeypadEvent], match: Callable[[KeypadEvent], bool], seconds: float
) -> bool:
    try:
        while True:
            if match(events.get(timeout=seconds)):
                return True
    except queue.Empty:
        return False


def _next_press(events: queue.Queue[KeypadEvent], seconds: float) -> int | None:
    """The next key pressed, or None once no event has come for *seconds*."""
    try:
        while True:
            event = events.get(timeout=seconds)
            if isinstance(event, KeyPressed):
                return event.key
    except queue.Empty:
        return None

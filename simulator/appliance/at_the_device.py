"""Someone at the device, for the field guide's screen, touch and key test (`check --screen
--touch --keypad`): the command runs over ssh, and what it asks for is done through QEMU as a
person would do it at the glass: the number read off the captured screen and typed back, each
corner's target tapped with the usb-tablet, each key pressed on the virtual keypad.

Nothing is answered that the screen did not show: a capture in which no number can be read
is answered with nothing, and the screen test then fails as it must.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from device.daemon.config import DEFAULT_FONT
from provisioning.touch_check import CORNERS, target
from simulator.appliance.machine import SCREEN_SIZE
from simulator.appliance.pattern_reader import read_number

LOOK = re.compile(r"look at the screen")
ASK_NUMBER = re.compile(r"type the number the screen showed")
TAP = re.compile(r"tap the target in the (\S+) corner")
PRESS = re.compile(r"press key (\d)")
SHOT_EVERY_S = 0.4


class Hands(Protocol):
    """What a person at the device can do: look, tap, press."""

    def screendump(self, dest: Path) -> Path: ...

    def tap(self, x: int, y: int) -> None: ...

    def press(self, key: int) -> None: ...


@dataclass
class Session:
    """What happened: every answer given, and the output."""

    numbers_read: list[str | None] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)
    taps: list[tuple[str, int, int]] = field(default_factory=list)
    presses: list[int] = field(default_factory=list)
    output: str = ""
    exit_code: int = 0
    seconds: float = 0.0


class _Output:
    """The command's output as it comes, read in a thread."""

    def __init__(self, stream: int) -> None:
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: int) -> None:
        while chunk := os.read(stream, 4096):
            with self._lock:
                self.text += chunk.decode(errors="replace")

    def now(self) -> str:
        with self._lock:
            return self.text

    def join(self) -> None:
        self._thread.join(5)


EVENTS = (("look", LOOK), ("ask", ASK_NUMBER), ("tap", TAP), ("press", PRESS))


def _next_event(text: str, upto: int) -> tuple[int, str, re.Match[str]] | None:
    """The first thing asked after *upto*: (where it ends, its kind, the match)."""
    found = [(m.start(), m.end(), kind, m) for kind, rx in EVENTS for m in rx.finditer(text, upto)]
    if not found:
        return None
    _, end, kind, match = min(found, key=lambda event: event[0])
    return end, kind, match


@dataclass
class _Person:
    """The one at the device while the command runs."""

    hands: Hands
    shots: Path
    answer: Callable[[str], None]  # types a line into the command
    session: Session = field(default_factory=Session)
    looked: list[Path] = field(default_factory=list)
    looking_until: float = 0.0

    def look(self) -> None:
        """While the pattern is up: one more look at the screen."""
        if time.monotonic() < self.looking_until:
            shot = self.shots / f"look-{len(self.looked):03d}.png"
            self.looked.append(self.hands.screendump(shot))

    def respond(self, kind: str, match: re.Match[str]) -> None:
        if kind == "look":
            self.looking_until = time.monotonic() + 6.0
        elif kind == "ask":
            self.looking_until = 0.0
            number = _number_seen(self.looked, self.session)
            self.session.typed.append(number)
            self.answer(number)
        elif kind == "tap":
            corner = next(c for c in CORNERS if c.name == match.group(1))
            (x, y), _radius = target(corner, SCREEN_SIZE)
            time.sleep(0.5)  # the target is drawn before the question is asked
            self.hands.tap(x, y)
            self.session.taps.append((corner.name, x, y))
        else:
            key = int(match.group(1))
            time.sleep(0.3)
            self.hands.press(key)
            self.session.presses.append(key)


def attend(argv: list[str], hands: Hands, shots: Path, timeout_s: float = 240.0) -> Session:
    """Run *argv* (the ssh command line) and do what it asks until it ends."""
    shots.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 (ssh with the guide's command)
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin = proc.stdin

    def answer(line: str) -> None:
        stdin.write((line + "\n").encode())
        stdin.flush()

    person = _Person(hands, shots, answer)
    output = _Output(proc.stdout.fileno())
    upto = 0
    try:
        while proc.poll() is None and time.monotonic() - started < timeout_s:
            person.look()
            event = _next_event(output.now(), upto)
            if event is None:
                time.sleep(SHOT_EVERY_S if person.looking_until else 0.1)
                continue
            upto, kind, match = event
            person.respond(kind, match)
        if proc.poll() is None:
            proc.kill()
        person.session.exit_code = proc.wait(10)
    finally:
        stdin.close()
        output.join()
    person.session.output = output.now()
    person.session.seconds = time.monotonic() - started
    return person.session


def _number_seen(looked: list[Path], session: Session) -> str:
    """The number the captures show (the one most of them read as), or "" when none does."""
    reads = [read_number(shot, DEFAULT_FONT) for shot in looked]
    session.numbers_read = reads
    found = [r for r in reads if r is not None]
    return max(set(found), key=found.count) if found else ""

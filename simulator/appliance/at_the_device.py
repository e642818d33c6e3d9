"""Someone at the device, for the field guide's commands that ask a person: the command runs
over ssh, and what it asks for is answered as a person would answer it.

- `check --screen --touch --keypad` (`Person`): the number read off QEMU's capture of the
  screen and typed back, each corner's target tapped with the usb-tablet, each key asked for
  pressed on the virtual keypad. Nothing is answered that the screen did not show: a capture
  in which no number can be read is answered with nothing, and the screen test fails.
- `init` without options (`Answers`): each question answered with the hall's value.

`converse()` runs the command and answers what it asks, in the order asked, until it ends.
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

SHOT_EVERY_S = 0.4

# what the command asks, and how it is answered: the text to type, or None (done at the glass)
Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]]


class Hands(Protocol):
    """What a person at the device can do: look, tap, press."""

    def screendump(self, dest: Path) -> Path: ...

    def tap(self, x: int, y: int) -> None: ...

    def press(self, key: int) -> None: ...


@dataclass
class Conversation:
    exit_code: int = 0
    output: str = ""
    seconds: float = 0.0
    typed: list[str] = field(default_factory=list)


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


def _next(rules: list[Rule], text: str, upto: int) -> tuple[int, Rule, re.Match[str]] | None:
    """The first thing asked after *upto*: (where it ends, its rule, the match)."""
    found = [(m.start(), m.end(), rule, m) for rule in rules for m in rule[0].finditer(text, upto)]
    if not found:
        return None
    _, end, rule, match = min(found, key=lambda event: event[0])
    return end, rule, match


def converse(
    argv: list[str],
    rules: list[Rule],
    timeout_s: float = 240.0,
    tick: Callable[[], None] | None = None,
) -> Conversation:
    """Run *argv* (the ssh command line) and answer by *rules* until it ends; *tick* is
    called between answers (e.g. to keep looking at the screen)."""
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 (ssh with the guide's command)
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    output = _Output(proc.stdout.fileno())
    said = Conversation()
    upto = 0
    try:
        while proc.poll() is None and time.monotonic() - started < timeout_s:
            if tick is not None:
                tick()
            event = _next(rules, output.now(), upto)
            if event is None:
                time.sleep(0.1)
                continue
            upto, (_, answer), match = event
            typed = answer(match)
            if typed is not None:
                said.typed.append(typed)
                proc.stdin.write((typed + "\n").encode())
                proc.stdin.flush()
        if proc.poll() is None:
            proc.kill()
        said.exit_code = proc.wait(10)
    finally:
        proc.stdin.close()
        output.join()
    said.output = output.now()
    said.seconds = time.monotonic() - started
    return said


@dataclass
class Person:
    """At the glass during `check --screen --touch --keypad`."""

    hands: Hands
    shots: Path
    numbers_read: list[str | None] = field(default_factory=list)
    taps: list[tuple[str, int, int]] = field(default_factory=list)
    presses: list[int] = field(default_factory=list)
    looked: list[Path] = field(default_factory=list)
    looking_until: float = 0.0

    def rules(self) -> list[Rule]:
        return [
            (re.compile(r"look at the screen"), self._look),
            (re.compile(r"type the number the screen showed"), self._type_number),
            (re.compile(r"tap the target in the (\S+) corner"), self._tap),
            (re.compile(r"press key (\d)"), self._press),
        ]

    def tick(self) -> None:
        """While the pattern is up: one more look at the screen."""
        if time.monotonic() < self.looking_until:
            self.shots.mkdir(parents=True, exist_ok=True)
            shot = self.shots / f"look-{len(self.looked):03d}.png"
            self.looked.append(self.hands.screendump(shot))
            time.sleep(SHOT_EVERY_S)

    def _look(self, _match: re.Match[str]) -> None:
        self.looking_until = time.monotonic() + 6.0

    def _type_number(self, _match: re.Match[str]) -> str:
        """The number the captures show (the one most of them read as), or nothing."""
        self.looking_until = 0.0
        self.numbers_read = [read_number(shot, DEFAULT_FONT) for shot in self.looked]
        found = [r for r in self.numbers_read if r is not None]
        return max(set(found), key=found.count) if found else ""

    def _tap(self, match: re.Match[str]) -> None:
        corner = next(c for c in CORNERS if c.name == match.group(1))
        (x, y), _radius = target(corner, SCREEN_SIZE)
        time.sleep(0.5)  # the target is drawn before the question is asked
        self.hands.tap(x, y)
        self.taps.append((corner.name, x, y))

    def _press(self, match: re.Match[str]) -> None:
        key = int(match.group(1))
        time.sleep(0.3)
        self.hands.press(key)
        self.presses.append(key)


def _typing(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: text


def answers(by_question: dict[str, str]) -> list[Rule]:
    """`init`'s questions (their prompt's first words) answered with the given values; a
    caution it asks to confirm is read and kept ("y"), as the technician who checked the
    value would."""
    rules: list[Rule] = [
        (re.compile(re.escape(question) + r"[^\n]*: $", re.M), _typing(answer))
        for question, answer in by_question.items()
    ]
    rules.append((re.compile(r"keep it\? \[y/N\]: $", re.M), _typing("y")))
    return rules

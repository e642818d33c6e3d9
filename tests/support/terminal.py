"""A command run on a real pseudo-terminal, as a technician types into it: wait for text on
the screen, type a line, read what was shown, with deadlines throughout."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class Terminal:
    """`command` with stdin, stdout and stderr on one pty, its controlling terminal."""

    def __init__(self, command: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""  # everything shown so far
        self._read_to = 0  # how far expect() has matched

    def _read(self, until: float) -> bool:
        ready, _, _ = select.select([self._master], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            return False
        try:
            chunk = os.read(self._master, 4096)
        except OSError:  # the command ended and closed the pty
            return False
        self.screen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Wait until *text* is shown after the last match; what was shown up to it."""
        until = time.monotonic() + timeout
        while True:
            at = self.screen.find(text, self._read_to)
            if at >= 0:
                shown = self.screen[self._read_to : at + len(text)]
                self._read_to = at + len(text)
                return shown
            if time.monotonic() >= until or not self._read(until):
                raise AssertionError(
                    f"{text!r} not shown within {timeout} s; screen:\n{self.screen}"
                )

    def type(self, line: str) -> None:
        os.write(self._master, line.encode() + b"\n")

    def finish(self, timeout: float = 60.0) -> int:
        """Read to the end; the command's exit status."""
        until = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < until:
            self._read(min(until, time.monotonic() + 0.2))
        while self._read(time.monotonic() + 0.2):
            pass
        if self.process.poll() is None:
            self.process.kill()
            raise AssertionError(f"still running after {timeout} s; screen:\n{self.screen}")
        os.close(self._master)
        return self.process.returncode

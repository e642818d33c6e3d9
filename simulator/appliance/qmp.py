"""A minimal client of QEMU's machine protocol (QMP) on a Unix socket: one command at a
time, answers matched in order, events kept aside."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any


class QmpError(RuntimeError):
    """QEMU answered a command with an error, or the socket failed."""


class Qmp:
    """Talk to one QEMU: `command("screendump", filename=...)`."""

    def __init__(self, socket_path: Path, timeout_s: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self.events: list[dict[str, Any]] = []
        self._sock: socket.socket | None = None
        self._buffer = b""

    def connect(self, wait_s: float = 10.0) -> None:
        """Connect (QEMU may still be creating the socket), read the greeting, negotiate."""
        deadline = time.monotonic() + wait_s
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"QMP socket {self.socket_path} not there") from None
                time.sleep(0.05)
        sock.settimeout(self.timeout_s)
        self._sock = sock
        self._message()  # the greeting
        self.command("qmp_capabilities")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def command(self, name: str, **arguments: Any) -> Any:
        """Run one command; returns its "return" value, raises QmpError on "error"."""
        if self._sock is None:
            raise QmpError("not connected")
        request: dict[str, Any] = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as error:
            raise QmpError(f"{name}: {error}") from None
        while True:
            message = self._message()
            if "event" in message:
                self.events.append(message)
                continue
            if "error" in message:
                raise QmpError(f"{name}: {message['error'].get('desc', message['error'])}")
            return message.get("return")

    def _message(self) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except OSError as error:
                raise QmpError(f"QMP: {error}") from None
            if not chunk:
                raise QmpError("QMP: QEMU closed the socket")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

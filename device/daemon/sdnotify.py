"""systemd's notify protocol: READY once started, WATCHDOG from the main loop, STOPPING on
the way out. A datagram to $NOTIFY_SOCKET; nothing happens when not run by systemd."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("systemd notify failed: %s", exc)
        return False
    return True


class Watchdog:
    """Pets systemd's watchdog at half its period, from the loop that must stay alive."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.interval_s = int(usec) / 2e6 if usec.isdigit() and mine else None
        self.monotonic = monotonic
        self._last = 0.0

    def pet(self) -> None:
        if self.interval_s is None:
            return
        now = self.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            notify("WATCHDOG=1")

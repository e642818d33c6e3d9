"""Serial ports a keypad may be on: the ones this machine has (stable names under
/dev/serial/by-id and the udev rule's /dev/haochaping-keypad), and whether a named one is here."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

BY_ID = Path("/dev/serial/by-id")
UDEV_NAME = Path("/dev/haochaping-keypad")


def found_ports(by_id: Path = BY_ID, udev_name: Path = UDEV_NAME) -> list[str]:
    """The keypad's udev name if present, then every port under *by_id*, sorted."""
    ports = [str(udev_name)] if udev_name.exists() else []
    # no USB serial device plugged in: udev has not made the folder
    with contextlib.suppress(OSError):
        ports += sorted(str(by_id / name) for name in os.listdir(by_id))
    return ports


def port_problem(path: str) -> str | None:
    """Why the device file *path* cannot be a keypad here and now; None when it can."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path} is not present (plugged in? ls /dev/serial/by-id/)"
    except OSError as exc:
        return f"{path} cannot be looked at: {exc.strerror}"
    if not stat.S_ISCHR(mode):
        return f"{path} is not a serial device (not a character device)"
    return None

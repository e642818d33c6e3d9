"""The panel's native resolution as the kernel's KMS/DRM reports it, read without opening the
display (the evaluator may hold it): the first mode of the first connected connector."""

from __future__ import annotations

import re
from pathlib import Path

DRM = Path("/sys/class/drm")


def native_mode(drm: Path = DRM) -> tuple[int, int] | None:
    """(width, height) of the connected panel's preferred mode, or None when not known."""
    try:
        connectors = sorted(drm.glob("card*-*"))
    except OSError:
        return None
    for connector in connectors:
        try:
            if (connector / "status").read_text().strip() != "connected":
                continue
            modes = (connector / "modes").read_text().split()
        except OSError:
            continue
        for mode in modes:  # the kernel lists the preferred mode first
            match = re.fullmatch(r"(\d+)x(\d+)\w*", mode)
            if match:
                return int(match[1]), int(match[2])
    return None

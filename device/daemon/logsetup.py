"""Logging for the device programs: one line per event, to stderr (the journal under systemd)."""

from __future__ import annotations

import logging
import os
import sys


def configure(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    under_journal = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if under_journal
        else ("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)

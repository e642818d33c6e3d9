"""PNG snapshots of every new page once it reached the glass, for the simulator's record.

Off unless `[display] snapshot_dir` is set; a snapshot that cannot be saved is only logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pygame

from device.flow.rating_flow import Phase

log = logging.getLogger(__name__)


class Snapshots:
    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._count = 0
        self._last: tuple[Phase, str | None] | None = None

    def keep(self, surface: pygame.Surface, phase: Phase, project_no: str | None) -> None:
        """Save the page unless it is the one saved last (same phase, same case)."""
        page = (phase, project_no)
        if self.folder is None or page == self._last:
            return
        self._last = page
        self._count += 1
        name = f"{self._count:04d}-{phase.value}{'-' + project_no if project_no else ''}.png"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            pygame.image.save(surface, str(self.folder / name))
        except (OSError, pygame.error) as exc:
            log.warning("snapshot not saved: %s", exc)

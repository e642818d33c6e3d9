"""Voice prompts at the window ("请您对本次服务进行评价", "感谢您的评价") from configured
sound files; silent when none are configured or the sound device cannot be opened."""

from __future__ import annotations

import logging

import pygame

log = logging.getLogger(__name__)


class Voice:
    def __init__(self, prompts: dict[str, str | None]) -> None:
        self._sounds: dict[str, pygame.mixer.Sound] = {}
        files = {name: path for name, path in prompts.items() if path}
        if not files:
            return
        try:
            pygame.mixer.init()
        except pygame.error as exc:
            log.warning("no sound device, voice prompts off: %s", exc)
            return
        for name, path in files.items():
            try:
                self._sounds[name] = pygame.mixer.Sound(path)
            except (pygame.error, FileNotFoundError) as exc:
                log.warning("voice prompt %s (%s) not loaded: %s", name, path, exc)

    def say(self, name: str) -> None:
        sound = self._sounds.get(name)
        if sound is not None:
            pygame.mixer.stop()
            sound.play()

    @property
    def active(self) -> bool:
        return bool(self._sounds)

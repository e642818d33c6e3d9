"""Spoken prompts at the window: the shipped ones in the display language, any replaced by a
recorded file; all loaded at start, played on pygame.mixer's own thread.

`say()` only hands a loaded sound to a mixer channel and returns (SDL mixes on its audio
thread), so a prompt never holds up the key path. Silent when `[voice] enabled = false` or
when the sound device cannot be opened.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pygame

from device.daemon.config import VoiceSection
from device.evaluator.make_prompts import PROMPTS_DIR, SUFFIX
from device.flow.voice_prompts import Prompt

log = logging.getLogger(__name__)


def shipped_prompt(language: str, prompt: Prompt) -> Path:
    """The prompt file shipped in the package for `language`."""
    return PROMPTS_DIR / language / f"{prompt.value}{SUFFIX}"


def prompt_files(section: VoiceSection, language: str) -> dict[Prompt, list[Path]]:
    """For each prompt the files to try in order: the recording the configuration names (if
    any), then the shipped one. Empty when the voice is switched off."""
    if not section.enabled:
        return {}
    files: dict[Prompt, list[Path]] = {}
    for prompt in Prompt:
        recorded = getattr(section, prompt.value)
        shipped = shipped_prompt(language, prompt)
        files[prompt] = [Path(recorded), shipped] if recorded else [shipped]
    return files


class Voice:
    """Sounds loaded once; `say(prompt)` starts one, cutting off the one still playing."""

    def __init__(self, files: Mapping[str, str | Path | list[Path] | None]) -> None:
        self._sounds: dict[str, pygame.mixer.Sound] = {}
        self._sources: dict[str, Path] = {}
        self._channel: pygame.mixer.Channel | None = None
        candidates = {name: _as_list(paths) for name, paths in files.items()}
        candidates = {name: paths for name, paths in candidates.items() if paths}
        if not candidates:
            return
        try:
            if pygame.mixer.get_init() is None:
                pygame.mixer.init()
        except pygame.error as exc:
            log.warning("no sound device, voice prompts off: %s", exc)
            return
        for name, paths in candidates.items():
            loaded = _first_loadable(name, paths)
            if loaded is not None:
                self._sounds[name], self._sources[name] = loaded
        if self._sounds:
            pygame.mixer.set_reserved(1)  # channel 0 is the voice's alone
            self._channel = pygame.mixer.Channel(0)

    @classmethod
    def configured(cls, section: VoiceSection, language: str) -> Voice:
        files = prompt_files(section, language)
        return cls({str(name): paths for name, paths in files.items()})

    def say(self, name: str) -> None:
        """Start prompt `name` on the voice's channel, cutting off the one playing there."""
        sound = self._sounds.get(name)
        if sound is not None and self._channel is not None:
            self._channel.play(sound)

    @property
    def active(self) -> bool:
        return bool(self._sounds)

    def source(self, name: str) -> Path | None:
        """The file prompt `name` was loaded from, None if it stays silent."""
        return self._sources.get(name)

    @property
    def playing(self) -> str | None:
        """The prompt being heard now, if any."""
        if self._channel is None or not pygame.mixer.get_init():
            return None
        sound = self._channel.get_sound()
        names = {id(loaded): name for name, loaded in self._sounds.items()}
        return names.get(id(sound)) if sound is not None else None


def _as_list(paths: str | Path | list[Path] | None) -> list[Path]:
    if paths is None or paths == "":
        return []
    if isinstance(paths, list):
        return paths
    return [Path(paths)]


def _first_loadable(name: str, paths: list[Path]) -> tuple[pygame.mixer.Sound, Path] | None:
    for path in paths:
        try:
            return pygame.mixer.Sound(str(path)), path
        except (pygame.error, FileNotFoundError) as exc:
            log.warning("voice prompt %s (%s) not loaded: %s", name, path, exc)
    return None

"""The evaluator's main loop: wires ledger, keys, screen, keypad and local API together.

One thread owns pygame and the state machine; the keypad and the local API post events
into its queue. The loop sleeps until an event or a deadline and redraws only on change.
"""

from __future__ import annotations

import logging
import platform
import signal
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import pygame

from device import __version__
from device.clock import Clock, SystemClock
from device.config import Config
from device.fonts import load_font
from device.identity_vault import IdentityVault
from device.keypad.events import KeypadEvent, KeypadFound, KeypadLost, KeyPressed
from device.keypad.link import KeypadLink
from device.layout import Layout
from device.ledger import QUIET_CHECKPOINT_EVERY, Ledger, LedgerError
from device.local_api import LocalApi
from device.rating import Case, Level, Press, Site, Source, record_body
from device.rating_flow import Phase, RatingFlow
from device.screen import Screen, ScreenView
from device.signing import DeviceKey
from device.texts import all_strings

log = logging.getLogger(__name__)
CASE_PUSHED = pygame.event.custom_type()
KEYPAD = pygame.event.custom_type()
DESKTOP_KEYS = {pygame.K_1: 1, pygame.K_2: 2, pygame.K_3: 3, pygame.K_4: 4, pygame.K_5: 5}


@dataclass
class Status:
    """What the local API reports; written by the main loop, read by API threads."""

    phase: str = Phase.IDLE.value
    project_no: str | None = None
    keypad_connected: bool | None = None
    rated: int = 0
    last_seq: int = 0
    last_evaluation_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "projectNo": self.project_no,
            "keypadConnected": self.keypad_connected,
            "ratedSinceStart": self.rated,
            "lastSeq": self.last_seq,
            "lastEvaluationId": self.last_evaluation_id,
        }


def site_of(config: Config) -> Site:
    return Site(
        device_id=config.province.device_id,
        pf=config.site.pf,
        area_code=config.site.area_code,
        dept_code=config.site.dept_code,
        hall_code=config.site.hall_code,
        window_no=config.site.window_no,
        terminal_no=config.site.terminal_no,
    )


class Evaluator:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.site = site_of(config)
        self.key = DeviceKey.load(config.key_path)
        self.vault = IdentityVault.load_or_create(config.identity_key_path)
        self.ledger = Ledger(config.ledger_path, auto_checkpoint=False)
        self._unchecked_ratings = 0
        self.flow = RatingFlow(config.display.rating_timeout_s, config.display.thanks_s)
        self.status = Status(last_seq=self.ledger.last_seq())
        self._status_lock = threading.Lock()
        self._keypad_connected: bool | None = None
        self._running = False
        self._awaiting_glass = False
        self.keypad: KeypadLink | None = None
        self.api: LocalApi | None = None
        self._layout: Layout | None = None

    # -- start and stop ---------------------------------------------------------------

    def run(self) -> None:
        log.info(
            "haochaping evaluator %s on %s, Python %s",
            __version__,
            platform.platform(),
            platform.python_version(),
        )
        pygame.display.init()
        font = load_font(self.config.display.font, all_strings())
        flags = pygame.FULLSCREEN if self.config.display.fullscreen else 0
        surface = pygame.display.set_mode(
            (self.config.display.width, self.config.display.height), flags
        )
        pygame.display.set_caption("好差评")
        screen = Screen(surface, font)
        self._layout = screen.layout
        self._start_inputs()
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self._loop(screen)
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._stop_inputs()
            self.ledger.close()
            pygame.display.quit()

    def _start_inputs(self) -> None:
        if self.config.keypad.port:
            self._keypad_connected = False
            self.keypad = KeypadLink(self.config.keypad.port, self._post_keypad)
            self.keypad.start()
        cfg = self.config.local_api
        self.api = LocalApi(cfg.bind, cfg.port, cfg.token, self._post_case, self._status_json)
        self.api.start()
        log.info("local API on %s:%d", cfg.bind, self.api.port)

    def _stop_inputs(self) -> None:
        if self.api:
            self.api.stop()
        if self.keypad:
            self.keypad.stop()

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        pygame.event.post(pygame.event.Event(pygame.QUIT))

    # -- cross-thread inboxes ---------------------------------------------------------

    def _post_case(self, case: Case) -> None:
        pygame.event.post(pygame.event.Event(CASE_PUSHED, case=case))

    def _post_keypad(self, event: KeypadEvent) -> None:
        pygame.event.post(pygame.event.Event(KEYPAD, keypad=event))

    def _status_json(self) -> dict[str, Any]:
        with self._status_lock:
            return self.status.as_json()

    # -- the loop ---------------------------------------------------------------------

    def _loop(self, screen: Screen) -> None:
        self._running = True
        dirty = True
        while self._running:
            if dirty:
                screen.draw(self._view())
                pygame.display.flip()
                if self._awaiting_glass:
                    self.flow.shown(self.clock.monotonic())
                    self._awaiting_glass = False
                self._publish_status()
                self._checkpoint_if_quiet()
            event = pygame.event.wait(self._sleep_ms())
            dirty = self._handle(event)
            for more in pygame.event.get():
                dirty = self._handle(more) or dirty
            ended = self.flow.tick(self.clock.monotonic())
            dirty = dirty or bool(ended) or self.flow.phase is Phase.RATING
            for item in ended:
                log.info("case not rated (%s)", item.reason)

    def _checkpoint_if_quiet(self) -> None:
        """WAL upkeep after the rater has been thanked, never inside a press."""
        quiet = self.flow.phase in (Phase.THANKS, Phase.IDLE)
        if quiet and self._unchecked_ratings >= QUIET_CHECKPOINT_EVERY:
            self._unchecked_ratings = 0
            try:
                self.ledger.checkpoint()
            except LedgerError as exc:
                log.warning("%s", exc)

    def _sleep_ms(self) -> int:
        deadline = self.flow.next_deadline()
        now = self.clock.monotonic()
        if deadline is None:
            return 1000
        until_second = 1.0 - ((deadline - now) % 1.0)  # wake to redraw the countdown
        return max(1, int(min(deadline - now, until_second) * 1000) + 1)

    def _handle(self, event: pygame.event.Event) -> bool:
        if event.type == pygame.QUIT:
            self._running = False
            return False
        if event.type == CASE_PUSHED:
            for item in self.flow.push(event.case, self.clock.monotonic()):
                log.info("case not rated (%s)", item.reason)
            self._awaiting_glass = self.flow.phase is Phase.RATING
            return True
        if event.type == KEYPAD:
            return self._keypad_event(event.keypad)
        if event.type == pygame.KEYDOWN and event.key in DESKTOP_KEYS:
            return self._key(DESKTOP_KEYS[event.key], self.clock.monotonic())
        if event.type == pygame.MOUSEBUTTONDOWN and not getattr(event, "touch", False):
            return self._touch(*event.pos)
        if event.type == pygame.FINGERDOWN:
            width, height = pygame.display.get_surface().get_size()
            return self._touch(int(event.x * width), int(event.y * height))
        return event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE)

    def _keypad_event(self, event: KeypadEvent) -> bool:
        if isinstance(event, KeyPressed):
            return self._key(event.key, event.at)
        if isinstance(event, KeypadLost | KeypadFound):
            self._keypad_connected = isinstance(event, KeypadFound)
            log.warning("keypad %s", "found" if self._keypad_connected else "lost")
            return True
        return False

    def _key(self, key: int, at: float) -> bool:
        level = Level(self.config.keypad.key_levels[key - 1])
        return self._press(level, Source.KEYPAD, at)

    def _touch(self, x: int, y: int) -> bool:
        level = self._layout.button_at(x, y) if self._layout else None
        return level is not None and self._press(level, Source.TOUCH, self.clock.monotonic())

    def _press(self, level: Level, source: str, at: float) -> bool:
        choice = self.flow.press(level, source, at)
        if choice is None:
            return False
        assessed_at: datetime = self.clock.now() - timedelta(
            seconds=max(0.0, self.clock.monotonic() - at)
        )
        press = Press(level, source, choice.reaction_ms, assessed_at, self.clock.synced())
        body = record_body(str(uuid.uuid4()), choice.case, self.site, press)
        try:
            stored = self.ledger.append(body, self.key, self.vault)
        except LedgerError as exc:
            log.error("rating could not be stored: %s", exc)
            self.flow.store_failed("评价无法保存，请联系工作人员")
            return True
        self.flow.stored(self.clock.monotonic())
        self._unchecked_ratings += 1
        log.info("rating stored: seq %d", stored.seq)
        with self._status_lock:
            self.status.rated += 1
            self.status.last_seq = stored.seq
            self.status.last_evaluation_id = stored.evaluation_id
        if self.keypad:
            key = self.config.keypad.key_levels.index(int(level)) + 1
            self.keypad.light(key)
            self.keypad.beep(80)
        return True

    def _publish_status(self) -> None:
        with self._status_lock:
            self.status.phase = self.flow.phase.value
            self.status.project_no = self.flow.case.project_no if self.flow.case else None
            self.status.keypad_connected = self._keypad_connected

    def _view(self) -> ScreenView:
        deadline = self.flow.next_deadline()
        seconds_left = None
        if self.flow.phase is Phase.RATING and deadline is not None:
            seconds_left = max(0, int(deadline - self.clock.monotonic() + 0.999))
        return ScreenView(
            phase=self.flow.phase,
            case=self.flow.case,
            chosen=self.flow.chosen,
            seconds_left=seconds_left,
            keypad_connected=self._keypad_connected,
            clock_synced=self.clock.synced(),
            window_no=self.config.site.window_no,
            problem=self.flow.problem,
        )

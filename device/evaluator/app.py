"""The evaluator's main loop: wires ledger, keys, screen, keypad, voice and local API together.

One thread owns pygame and the state machine; the keypad and the local API put events in its
queue and wake it at once. SDL's own input (touch, mouse, keys) is polled: 50 times a second
while a rater is on a page, 4 times a second otherwise (SDL's timed wait busy-polls, which
would cost an idle device several per cent of a core). Redraws happen only on change.
"""

from __future__ import annotations

import logging
import platform
import queue
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import pygame

from device import __version__
from device.daemon.clock import Clock, SystemClock
from device.daemon.config import Config
from device.daemon.sdnotify import Watchdog, notify
from device.evaluator.control import EvaluatorInbox
from device.evaluator.health import Health, HealthCheck
from device.evaluator.voice import Voice
from device.flow.presenter import Facts, offered_tags, screen_view, status_json, touch_at
from device.flow.rating_flow import Choice, NotRated, Phase, RatingFlow, Timing
from device.keypad.events import KeypadEvent, KeypadFound, KeypadLost, KeyPressed
from device.keypad.link import KeypadLink
from device.keys.identity_vault import IdentityVault, VaultError
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.recorder import Recorder
from device.ledger.store import QUIET_CHECKPOINT_EVERY, Ledger, LedgerError
from device.local_api.server import LocalApi
from device.record import tag_catalog
from device.record.rate_later import rate_later_url
from device.record.rating import Level, Site, Source
from device.screen.fonts import load_font
from device.screen.pages import Screen, ScreenView
from device.screen.panel import open_panel
from device.screen.texts import Texts

log = logging.getLogger(__name__)
RATER_POLL_S = 0.02
IDLE_POLL_S = 0.25
DESKTOP_KEYS = {pygame.K_1: 1, pygame.K_2: 2, pygame.K_3: 3, pygame.K_4: 4, pygame.K_5: 5}
HEALTH_EVERY_S = 10.0
QUIET = (Phase.PAUSED, Phase.IDLE, Phase.THANKS, Phase.RATE_LATER, Phase.OUT_OF_SERVICE)


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


def timing_of(config: Config) -> Timing:
    d = config.display
    return Timing(d.rating_timeout_s, d.reasons_timeout_s, d.thanks_s, d.rate_later_s)


class Evaluator:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.mode = config.device.mode
        self.texts = Texts(config.display.language)
        self.flow = RatingFlow(timing_of(config), needs_staff=self.mode == "window")
        self.tags = tag_catalog.load(config.state_dir)
        self.inbox = EvaluatorInbox(self._post, self.mode)
        self.key: DeviceKey | None = None
        self.ledger: Ledger | None = None
        self.recorder: Recorder | None = None
        self.health: HealthCheck | None = None
        self._open_storage()
        self.keypad: KeypadLink | None = None
        self.api: LocalApi | None = None
        self.screen: Screen | None = None
        self.voice: Voice | None = None
        self._keypad_connected: bool | None = None
        self._last_health = Health(True, 0, False)
        self._next_health = 0.0
        self._rated = 0
        self._last: tuple[int, str | None] = (self.ledger.last_seq() if self.ledger else 0, None)
        self._unchecked_ratings = 0
        self._qr: tuple[str, str] | None = None  # project number, url
        self._awaiting_glass = False
        self._running = False
        self._ready = False
        self._snapshots = 0
        self._last_snapshot: tuple[Phase, str | None] | None = None
        self._dirty = True
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()

    def _open_storage(self) -> None:
        """Key, identity vault and ledger; any missing piece puts the device out of service
        (it shows so) instead of taking ratings it cannot sign or store."""
        try:
            self.key = DeviceKey.load(self.config.key_path)
        except KeyFileError as exc:
            log.error("%s", exc)
            self.flow.out_of_service("oos_key")
            return
        try:
            vault = IdentityVault.load_or_create(self.config.identity_key_path)
            self.ledger = Ledger(self.config.ledger_path, auto_checkpoint=False)
        except (VaultError, LedgerError, OSError) as exc:
            log.error("ledger unavailable: %s", exc)
            self.flow.out_of_service("oos_ledger")
            return
        self.recorder = Recorder(self.ledger, self.key, vault, site_of(self.config), self.clock)
        min_free = self.config.device.min_free_mb * 1024 * 1024
        self.health = HealthCheck(self.ledger, self.config.state_dir, min_free)

    # -- start and stop ---------------------------------------------------------------

    def open(self) -> None:
        """Screen, font check, voice, keypad and local API: everything but the loop."""
        log.info(
            "haochaping evaluator %s (%s mode) on %s, Python %s",
            __version__,
            self.mode,
            platform.platform(),
            platform.python_version(),
        )
        pygame.display.init()
        display = self.config.display
        strings = [*self.texts.all_strings(), *self.tags.labels()]
        font = load_font(display.font, strings, display.fallback_fonts)
        self.panel = open_panel(display)
        self.screen = Screen(self.panel.surface, font, self.texts, display.large_type)
        self.voice = Voice({"rate": self.config.voice.rate, "thanks": self.config.voice.thanks})
        self._start_inputs()
        self._running = True
        self._dirty = True
        self.watchdog = Watchdog()

    def close(self) -> None:
        notify("STOPPING=1")
        self._stop_inputs()
        if self.ledger:
            self.ledger.close()
        pygame.quit()

    def run(self) -> None:
        """Run until SIGTERM (or the window is closed)."""
        self.open()
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            while self._running:
                self.step()
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.close()

    def _start_inputs(self) -> None:
        if self.config.keypad.port:
            self._keypad_connected = False
            self.keypad = KeypadLink(self.config.keypad.port, self._post_keypad)
            self.keypad.start()
        cfg = self.config.local_api
        self.api = LocalApi(cfg.bind, cfg.port, cfg.token, self.inbox, self.mode)
        self.api.start()
        log.info("local API on %s:%d", cfg.bind, self.api.port)

    def _stop_inputs(self) -> None:
        if self.api:
            self.api.stop()
        if self.keypad:
            self.keypad.stop()

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self._running = False
        self._wake.set()

    def _post(self, kind: str, data: dict[str, Any]) -> None:
        self._queue.put((kind, data))
        self._wake.set()

    def _post_keypad(self, event: KeypadEvent) -> None:
        self._queue.put(("keypad", event))
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------

    def step(self, max_wait_ms: int | None = None) -> None:
        """One turn of the loop: upkeep, draw if anything changed, sleep until an event or a
        deadline, handle what came."""
        now = self.clock.monotonic()
        self.watchdog.pet()
        self._dirty = self._quiet_upkeep(now) or self._dirty
        if self._dirty:
            self._draw()
            self._dirty = False
            if not self._ready:
                self._ready = notify("READY=1") or True
        wait = self._sleep_s()
        if max_wait_ms is not None:
            wait = min(wait, max_wait_ms / 1000)
        self._wake.wait(wait)
        self._wake.clear()
        dirty = False
        while not self._queue.empty():
            kind, data = self._queue.get_nowait()
            dirty = (
                self._keypad_event(data) if kind == "keypad" else self._inbox(kind, data)
            ) or dirty
        for event in pygame.event.get():
            dirty = self._handle(event) or dirty
        phase = self.flow.phase
        self._ended(self.flow.tick(self.clock.monotonic()))
        if phase is not self.flow.phase:
            self._light_keys()
        self._dirty = (
            dirty or phase is not self.flow.phase or self.flow.seconds_left(now) is not None
        )

    def _draw(self) -> None:
        assert self.screen is not None
        self.screen.draw(self._view())
        self.panel.show()
        self._snapshot()
        if self._awaiting_glass:
            self.flow.shown(self.clock.monotonic())
            self._awaiting_glass = False
        self._publish_status()

    def _snapshot(self) -> None:
        """In the simulator, keep a PNG of every new page (after it reached the glass)."""
        folder = self.config.display.snapshot_dir
        page = (self.flow.phase, self.flow.case.project_no if self.flow.case else None)
        if folder is None or self.screen is None or page == self._last_snapshot:
            return
        self._last_snapshot = page
        self._snapshots += 1
        name = f"{self._snapshots:04d}-{page[0].value}{'-' + page[1] if page[1] else ''}.png"
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            pygame.image.save(self.screen.surface, str(Path(folder) / name))
        except (OSError, pygame.error) as exc:
            log.warning("snapshot not saved: %s", exc)

    def _sleep_s(self) -> float:
        """Until the next deadline, countdown second or input poll, whichever is first."""
        now = self.clock.monotonic()
        rater = self.flow.phase in (Phase.RATING, Phase.REASONS)
        wake = [self._next_health, now + (RATER_POLL_S if rater else IDLE_POLL_S)]
        deadline = self.flow.next_deadline()
        if deadline is not None:
            wake.append(deadline)
            if self.flow.seconds_left(now) is not None:
                wake.append(now + 1.0 - ((deadline - now) % 1.0))  # redraw the countdown
        return max(0.001, min(wake) - now)

    def _quiet_upkeep(self, now: float) -> bool:
        """Checkpoint and health checks, only when no rater is mid-rating."""
        if self.flow.phase not in QUIET:
            return False
        if self.ledger is None:
            return self._retry_storage(now)
        if self._unchecked_ratings >= QUIET_CHECKPOINT_EVERY:
            self._unchecked_ratings = 0
            try:
                self.ledger.checkpoint()
            except LedgerError as exc:
                log.warning("%s", exc)
        if now < self._next_health or self.health is None:
            return False
        self._next_health = now + HEALTH_EVERY_S
        self._reload_tags()
        before = (self._last_health, self.flow.phase)
        self._last_health = self.health.run()
        self._apply_health()
        return before != (self._last_health, self.flow.phase)

    def _retry_storage(self, now: float) -> bool:
        """A key or ledger that could not be opened at start is tried again now and then
        (a technician restoring the key, a first boot racing the sync)."""
        if now < self._next_health:
            return False
        self._next_health = now + HEALTH_EVERY_S
        self.flow = RatingFlow(timing_of(self.config), needs_staff=self.mode == "window")
        self._open_storage()
        if self.ledger is None:
            return False
        log.warning("key and ledger usable now: in service")
        if self.inbox.staff is not None:
            self.flow.sign_in(self.inbox.staff)
        return True

    def _reload_tags(self) -> None:
        """Pick up a tag list the sync fetched; a label the font cannot draw is logged."""
        catalog = tag_catalog.load(self.config.state_dir)
        if catalog.version != self.tags.version:
            log.info("tag lists now version %s", catalog.version)
            self.tags = catalog
            if self.screen is not None:
                self.screen.paint.check_glyphs(" ".join(catalog.labels()))

    def _apply_health(self) -> None:
        problem = self.flow.problem if self.flow.phase is Phase.OUT_OF_SERVICE else None
        if not self._last_health.disk_ok and problem is None:
            log.error("free disk below %d MB: out of service", self.config.device.min_free_mb)
            self._ended(self.flow.out_of_service("oos_disk"))
        elif (
            self._last_health.disk_ok
            and problem in ("oos_disk", "oos_ledger")
            and self.ledger is not None
            and self.ledger.writable()
        ):
            log.warning("storage usable again: back in service")
            self.flow.back_in_service()

    # -- events -----------------------------------------------------------------------

    def _handle(self, event: pygame.event.Event) -> bool:
        if event.type == pygame.QUIT:
            self._running = False
            return False
        if event.type == pygame.KEYDOWN and event.key in DESKTOP_KEYS:
            return self._key(DESKTOP_KEYS[event.key], self.clock.monotonic())
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if getattr(event, "touch", False):
                return False  # SDL's copy of a touch: the FINGERDOWN counts
            return self._touch(*self.panel.to_page(*event.pos))
        if event.type == pygame.FINGERDOWN:
            return self._touch(*self.panel.touch_to_page(event.x, event.y))
        return event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE)

    def _inbox(self, kind: str, data: dict[str, Any]) -> bool:
        now = self.clock.monotonic()
        if kind == "case":
            self._ended(self.flow.push(data["case"], now))
            if self.flow.phase is Phase.RATING:
                self._awaiting_glass = True
                self._qr = None
                self._light_keys()
                if self.voice:
                    self.voice.say("rate")
        elif kind == "cancel":
            self._ended(self.flow.cancel(data["project_no"]))
        elif kind == "sign_in":
            self.flow.sign_in(data["staff"])
        elif kind == "sign_out":
            self._ended(self.flow.sign_out())
        return True

    def _keypad_event(self, event: KeypadEvent) -> bool:
        if isinstance(event, KeyPressed):
            return self._key(event.key, event.at)
        if isinstance(event, KeypadLost | KeypadFound):
            self._keypad_connected = isinstance(event, KeypadFound)
            log.warning("keypad %s", "found" if self._keypad_connected else "lost")
            return True
        return False

    def _key(self, key: int, at: float) -> bool:
        if self.mode == "self_service":
            return False  # touch only
        level = Level(self.config.keypad.key_levels[key - 1])
        return self._level(self.flow.press(level, Source.KEYPAD, at))

    def _touch(self, x: int, y: int) -> bool:
        assert self.screen is not None
        offered = offered_tags(self.flow, self.tags.for_level)
        touch = touch_at(self.flow, self.screen.layout, offered, x, y)
        if touch is None:
            return False
        now = self.clock.monotonic()
        if touch.kind == "level" and touch.level is not None:
            return self._level(self.flow.press(touch.level, Source.TOUCH, now, row=touch.row))
        if touch.kind == "tag" and touch.tag is not None:
            self.flow.toggle_tag(touch.tag)
            return True
        if touch.kind == "page" and touch.page is not None:
            turn = (
                self.flow.show_row if self.flow.phase is Phase.RATING else self.flow.show_tag_page
            )
            turn(touch.page)
            return True
        return self._level(self.flow.submit(now))

    def _level(self, choice: Choice | None) -> bool:
        """After a press: store a finished rating, or just redraw the page."""
        if choice is None:
            return True
        assert self.recorder is not None
        try:
            stored = self.recorder.rating(choice)
        except LedgerError as exc:
            log.error("rating could not be stored: %s", exc)
            self.flow.store_failed("oos_ledger")
            return True
        self.flow.stored(self.clock.monotonic())
        self._unchecked_ratings += 1
        self._rated += 1
        self._last = (stored.seq, stored.evaluation_id)
        log.info("rating stored: seq %d", stored.seq)
        if self.voice:
            self.voice.say("thanks")
        self._light_keys(choice.level)
        if self.keypad:
            self.keypad.beep(80)
        return True

    def _ended(self, ended: list[NotRated]) -> None:
        if self.recorder is None:
            return
        for item in ended:
            self.recorder.not_rated(item)
        if ended:
            self._light_keys()

    def _light_keys(self, chosen: Level | None = None) -> None:
        """All five keys lit while a rating is awaited, the chosen one after a press, dark
        otherwise."""
        if self.keypad is None:
            return
        if chosen is not None:
            self.keypad.light(self.config.keypad.key_levels.index(int(chosen)) + 1)
        elif self.flow.phase is Phase.RATING and self.mode == "window":
            self.keypad.light_all()
        elif self.flow.phase is not Phase.THANKS:
            self.keypad.light(None)

    # -- what is shown ----------------------------------------------------------------

    def _facts(self) -> Facts:
        site = self.config.site
        return Facts(
            mode=self.mode,
            keypad_connected=self._keypad_connected,
            clock_synced=self.clock.synced(),
            health=self._last_health,
            rated=self._rated,
            last_seq=self._last[0],
            last_evaluation_id=self._last[1],
            window_no=site.window_no,
            hall_code=site.hall_code,
            terminal_no=site.terminal_no,
            missing_glyphs=self.screen.paint.missing if self.screen else 0,
        )

    def _qr_url(self) -> str | None:
        case = self.flow.case
        if self.flow.phase is not Phase.RATE_LATER or case is None or self.key is None:
            return None
        if self._qr is None or self._qr[0] != case.project_no:
            url = rate_later_url(
                self.config.rate_later.url_template,
                case.project_no,
                self.config.province.device_id,
                int(time.time()),
                self.key,
            )
            self._qr = (case.project_no, url)
        return self._qr[1]

    def _view(self) -> ScreenView:
        offered = offered_tags(self.flow, self.tags.for_level)
        return screen_view(
            self.flow, self._facts(), self.clock.monotonic(), offered, self._qr_url()
        )

    def _publish_status(self) -> None:
        self.inbox.publish(status_json(self.flow, self._facts()))

"""The evaluator program: builds its parts from the configuration, wires them, starts and stops.

Ledger, keys and health come from `storage`; the glass (the pygame window, or with `[display]
kind = "web"` the rating page served to the terminal's browser), voice, keypad and local API
are opened here and handed to the one main loop (`device.evaluator.loop`), which runs until
SIGTERM. pygame is imported only for the window: a web terminal never loads it.
"""

from __future__ import annotations

import logging
import platform
import signal
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from device import __version__
from device.daemon.clock import Clock, SystemClock
from device.daemon.config import Config, DisplayKind
from device.daemon.sdnotify import Watchdog, notify
from device.evaluator.glass import Glass
from device.evaluator.health import HealthCheck
from device.evaluator.loop import MainLoop
from device.evaluator.storage import open_storage
from device.evaluator.web_glass import WebGlass
from device.flow.rating_flow import RatingFlow, Timing
from device.keypad.link import KeypadLink
from device.ledger.store import Ledger
from device.local_api.case_guard import CaseGuard
from device.local_api.server import LocalApi
from device.local_api.tls import server_context
from device.record.rating import Site
from device.record.tag_catalog import TagCatalog
from device.screen.texts import Texts
from device.web_page.font_subset import make_subset
from device.web_page.pages import RatePages
from device.web_page.routes import RatePageRoutes

if TYPE_CHECKING:
    from device.evaluator.voice import Voice
    from device.screen.pages import Screen

log = logging.getLogger(__name__)


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
        self.loop = MainLoop(
            config,
            self.clock,
            new_flow=lambda: RatingFlow(timing_of(config), needs_staff=self.mode.needs_staff),
            open_storage=lambda: open_storage(config, site_of(config), self.clock),
        )
        self.inbox = self.loop.inbox
        self.keypad: KeypadLink | None = None
        self.api: LocalApi | None = None
        self.web = config.display.kind is DisplayKind.WEB
        # the pages handed out to the terminal's browser (a web terminal only)
        self.rate_pages = RatePages(self.clock.monotonic) if self.web else None
        self._api_ledger: Ledger | None = None  # the API threads' own connection
        self.guard = CaseGuard(self._settled, self._rated, self._bad_press_unrated)
        self.loop.on_settled = self.guard.release

    # -- the parts, as they are now (storage may open later) ----------------------------

    @property
    def flow(self) -> RatingFlow:
        return self.loop.flow

    @property
    def tags(self) -> TagCatalog:
        return self.loop.tags

    @property
    def screen(self) -> Screen | None:
        """The pygame window's pages (None on a web terminal)."""
        return getattr(self.loop.glass, "screen", None)

    @property
    def ledger(self) -> Ledger | None:
        return self.loop.storage.ledger if self.loop.storage else None

    @property
    def health(self) -> HealthCheck | None:
        return self.loop.storage.health if self.loop.storage else None

    # -- start and stop ---------------------------------------------------------------

    def open(self) -> None:
        """Glass, voice, keypad and local API: everything but the loop."""
        log.info(
            "haochaping evaluator %s (%s mode, %s display) on %s, Python %s",
            __version__,
            self.mode,
            self.config.display.kind,
            platform.platform(),
            platform.python_version(),
        )
        glass: Glass
        voice: Voice | None = None
        if self.rate_pages is not None:
            glass = WebGlass(self.rate_pages)  # no window, no voice: the terminal's own screen
        else:
            glass, voice = self._open_window()
        self._start_inputs()
        self.loop.attach(glass, voice, self.keypad, Watchdog())

    def _open_window(self) -> tuple[Glass, Voice]:
        """The pygame window and the voice, loaded here and only here."""
        from device.evaluator import window  # noqa: PLC0415 (pygame: the window only)

        strings = [*self.texts.all_strings(), *self.tags.labels()]
        return window.open_window(self.config.display, self.config.voice, self.texts, strings)

    def close(self) -> None:
        notify("STOPPING=1")
        self._stop_inputs()
        if self.ledger:
            self.ledger.close()
        if not self.web:
            from device.evaluator import window  # noqa: PLC0415 (loaded already by open)

            glass = self.loop.glass
            window.close_window(glass if isinstance(glass, window.WindowGlass) else None)

    def run(self) -> None:
        """Run until SIGTERM (or the window is closed)."""
        self.open()
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            while self.loop.running:
                self.loop.step()
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.close()

    def step(self, max_wait_ms: int | None = None) -> None:
        """One turn of the main loop."""
        self.loop.step(max_wait_ms)

    def _start_inputs(self) -> None:
        if self.config.keypad.port:
            self.keypad = KeypadLink(self.config.keypad.port, self.loop.post)
            self.keypad.start()
        cfg = self.config.local_api
        tls = server_context(self.config.state_dir) if cfg.serves_tls else None
        page_routes = None
        if self.rate_pages is not None:
            display = self.config.display
            font = make_subset(Path(display.font), self.tags.labels(), self.config.state_dir)
            page_routes = RatePageRoutes(
                self.rate_pages,
                self.loop.post,
                self.clock,
                display.language,
                self.config.rate_page.return_urls,
                tls=tls is not None,
                font=font,
            ).routes()
        self.api = LocalApi(
            cfg.bind,
            cfg.port,
            cfg.token,
            self.inbox,
            self.mode,
            self.guard,
            tls=tls,
            rate_pages=self.rate_pages,
            page_routes=page_routes,
        )
        self.api.start()
        log.info("local API on %s:%d", cfg.bind, self.api.port)

    def _settled(self, project_nos: Iterable[str], assess_number: int) -> bool:
        """Asked by the case guard, under its lock, on the API's own ledger connection."""
        if self._api_ledger is None:
            self._api_ledger = Ledger(self.config.ledger_path)
        return self._api_ledger.events.settled(project_nos, assess_number)

    def _bad_press_unrated(self, project_nos: Iterable[str]) -> bool:
        """Asked by the case guard, under its lock, on the API's own ledger connection."""
        if self._api_ledger is None:
            self._api_ledger = Ledger(self.config.ledger_path)
        return self._api_ledger.events.bad_press_unrated(project_nos)

    def _rated(self, project_no: str) -> bool:
        """Asked by the case guard, under its lock, on the API's own ledger connection."""
        if self._api_ledger is None:
            self._api_ledger = Ledger(self.config.ledger_path)
        return self._api_ledger.rated(project_no)

    def _stop_inputs(self) -> None:
        if self.api:
            self.api.stop()
        if self._api_ledger is not None:
            self._api_ledger.close()
            self._api_ledger = None
        if self.keypad:
            self.keypad.stop()

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self.loop.stop()

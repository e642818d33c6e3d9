"""The evaluator's one main loop: messages, the glass's input, the flow's deadlines, the glass.

One thread owns the glass (the pygame window, or the rating page served to a browser) and the
state machine; the keypad and the local API (the business system, the browser's presses) put
messages in its queue and wake it at once. The window's own input is polled
(`device.flow.pace` says how often); redraws happen only on change. Decisions are the pure
policies' in `device.flow`. No pygame here: a web terminal never loads it.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from device.daemon.clock import Clock
from device.daemon.config import Config
from device.daemon.sdnotify import Watchdog, notify
from device.evaluator.control import EvaluatorInbox
from device.evaluator.glass import Closed, DesktopKey, Exposed, Glass, GlassInput, TapAt
from device.evaluator.health import Health
from device.evaluator.messages import (
    CancelCase,
    Message,
    PageOpened,
    PagePress,
    PushCase,
    SignIn,
    SignOut,
)
from device.evaluator.rate_later_codes import RateLaterCodes
from device.evaluator.storage import Storage
from device.flow import pace
from device.flow.keypad_keys import beeps_after, level_for_key, lights_for, lights_on_reasons
from device.flow.presenter import (
    ChooseAgainTouched,
    Facts,
    LevelTouched,
    PageTouched,
    SubmitTouched,
    TagTouched,
    Touch,
    offered_tags,
    screen_view,
    status_of,
)
from device.flow.rating_flow import Choice, NotRated, Phase, Problem, RatingFlow
from device.flow.reason_keys import ReasonAction, group_count, reason_key
from device.flow.service import Verdict, after_health_check
from device.flow.voice_prompts import Prompt, prompt_on_entering
from device.keypad.events import KeypadFound, KeypadLost, KeyPressed
from device.keypad.link import KeypadLink
from device.keys.signing import DeviceKey
from device.ledger.store import QUIET_CHECKPOINT_EVERY, LedgerError
from device.record import tag_catalog
from device.record.rate_later import rate_later_url
from device.record.rating import Case, Source
from device.screen.view import ScreenView

if TYPE_CHECKING:  # pygame's mixer: loaded only where the window runs
    from device.evaluator.voice import Voice

log = logging.getLogger(__name__)
THANKS_BEEP_MS = 80
T = TypeVar("T")


class MainLoop:
    """Owns the flow and everything the rater sees; `step()` is one turn."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        new_flow: Callable[[], RatingFlow],
        open_storage: Callable[[], Storage | Problem],
    ) -> None:
        self.config = config
        self.clock = clock
        self.mode = config.device.mode
        self._new_flow = new_flow
        self._open_storage = open_storage
        self.flow = new_flow()
        self.tags = tag_catalog.load(config.state_dir)
        codes = RateLaterCodes(
            config.rate_later.url_template, config.province.device_id, self._signing_key
        )
        self.inbox = EvaluatorInbox(self.post, self.mode, codes)
        self.storage = self._storage()
        self.glass: Glass | None = None
        self.voice: Voice | None = None
        self.keypad: KeypadLink | None = None
        self.watchdog: Watchdog | None = None
        self.running = False
        self._keypad_connected: bool | None = None
        self._last_health = Health(True, 0, False)
        self._next_health = 0.0
        self._failing: set[str] = set()  # upkeep jobs whose last run failed
        self._rated = 0
        self._last: tuple[int, str | None] = (
            self.storage.ledger.last_seq() if self.storage else 0,
            None,
        )
        self._unchecked_ratings = 0
        self._qr: tuple[str, str] | None = None  # project number, url
        self._awaiting_glass = False
        self._page_id: str | None = None  # the browser page of the case on the flow (web)
        self._held: tuple[str, int, int] | None = None  # the bad press last put on disk
        self._prompt: Prompt | None = None  # spoken once its page is on the glass
        self._ready = False
        self._dirty = True
        self._queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._wake = threading.Event()
        # told when a case is rated or ended unrated, after the ledger committed it
        self.on_settled: Callable[[Case], None] | None = None

    def _signing_key(self) -> DeviceKey | None:
        """The device key while the storage is open (read from the local API's threads)."""
        storage: Storage | None = getattr(self, "storage", None)
        return storage.key if storage is not None else None

    def _storage(self) -> Storage | None:
        """Key and ledger, or the flow out of service saying which is missing."""
        opened = self._open_storage()
        if isinstance(opened, Problem):
            self.flow.out_of_service(opened)
            return None
        return opened

    # -- wiring -----------------------------------------------------------------------

    def attach(
        self,
        glass: Glass,
        voice: Voice | None,
        keypad: KeypadLink | None,
        watchdog: Watchdog,
    ) -> None:
        """The outputs, once open; the loop runs from now on."""
        self.glass, self.voice, self.keypad, self.watchdog = glass, voice, keypad, watchdog
        if keypad is not None:
            self._keypad_connected = False
        self.running = True
        self._dirty = True

    def post(self, message: Message) -> None:
        """From any thread: queue `message` and wake the loop."""
        self._queue.put(message)
        self._wake.set()

    def stop(self) -> None:
        self.running = False
        self._wake.set()

    # -- one turn ---------------------------------------------------------------------

    def step(self, max_wait_ms: int | None = None) -> None:
        """Draw if anything changed, else upkeep; sleep until a message or a deadline, handle
        what came."""
        now = self.clock.monotonic()
        if self.watchdog is not None:
            self.watchdog.pet()
        if not self._dirty:  # a page waiting to be shown (the thanks) goes first; upkeep after
            self._dirty = self._quiet_upkeep(now)
        if self._dirty:
            self._draw()
            self._dirty = False
            if not self._ready:
                self._ready = notify("READY=1") or True
        wait = pace.sleep_s(self.flow, self.clock.monotonic(), self._next_health)
        if max_wait_ms is not None:
            wait = min(wait, max_wait_ms / 1000)
        self._wake.wait(wait)
        self._wake.clear()
        dirty = False
        while not self._queue.empty():
            dirty = self._message(self._queue.get_nowait()) or dirty
        assert self.glass is not None
        for found in self.glass.inputs():
            dirty = self._glass_input(found) or dirty
        phase = self.flow.phase
        self._ended(self.flow.tick(self.clock.monotonic()))
        if phase is not self.flow.phase:
            self._light_keys()
            self._speak()
        self._dirty = (
            dirty or phase is not self.flow.phase or self.flow.seconds_left(now) is not None
        )

    def _draw(self) -> None:
        assert self.glass is not None
        self.glass.show(self._view())
        if self._awaiting_glass and self._page_id is None:  # a browser page says when instead
            self.flow.shown(self.clock.monotonic())
            self._awaiting_glass = False
        self.inbox.publish(status_of(self.flow, self._facts()))
        prompt, self._prompt = self._prompt, None
        if prompt is not None and prompt is prompt_on_entering(self.flow.phase) and self.voice:
            self.voice.say(prompt)  # after the flip: never between a key and the glass

    # -- upkeep, while no rater is mid-rating -----------------------------------------

    def _quiet_upkeep(self, now: float) -> bool:
        if not pace.quiet(self.flow.phase):
            return False
        if self.storage is None:
            return self._retry_storage(now)
        if self._unchecked_ratings >= QUIET_CHECKPOINT_EVERY:
            self._unchecked_ratings = 0
            try:
                self.storage.ledger.checkpoint()
            except LedgerError as exc:
                log.warning("%s", exc)
        if now < self._next_health:
            return False
        self._next_health = now + pace.HEALTH_EVERY_S
        self._in_background("reloading the tag list", self._reload_tags)
        before = (self._last_health, self.flow.phase)
        health = self._in_background("the health check", self.storage.health.run)
        if health is None:
            return False
        self._last_health = health
        self._apply_health(self.storage)
        return before != (self._last_health, self.flow.phase)

    def _in_background(self, what: str, job: Callable[[], T]) -> T | None:
        """Run an upkeep job; a failure (out of file descriptors, say) is logged once, until
        the job works again, and the job retried at the next health check: never fatal."""
        try:
            result = job()
        except Exception as exc:  # whatever it is, the rater keeps the screen
            if what not in self._failing:
                self._failing.add(what)
                log.warning("%s failed (%s); trying again later", what, exc)
            return None
        if what in self._failing:
            self._failing.discard(what)
            log.warning("%s works again", what)
        return result

    def _retry_storage(self, now: float) -> bool:
        """A key or ledger that could not be opened at start is tried again now and then
        (a technician restoring the key, a first boot racing the sync)."""
        if now < self._next_health:
            return False
        self._next_health = now + pace.HEALTH_EVERY_S
        self.flow = self._new_flow()
        self.storage = self._storage()
        if self.storage is None:
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
            if self.glass is not None:
                self.glass.check_glyphs(" ".join(catalog.labels()))

    def _apply_health(self, storage: Storage) -> None:
        flow = self.flow
        verdict = after_health_check(
            self._last_health.disk_ok, flow.phase, flow.problem, storage.ledger.writable
        )
        match verdict:
            case Verdict.DISK_FULL:
                minimum = self.config.device.min_free_mb
                log.error("free disk below %d MB: out of service", minimum)
                self._ended(flow.out_of_service(Problem.DISK))
            case Verdict.BACK_IN_SERVICE:
                log.warning("storage usable again: back in service")
                flow.back_in_service()
            case Verdict.KEEP:
                pass

    # -- what came in -----------------------------------------------------------------

    def _message(self, message: Message) -> bool:
        """Handle one queued message; True if the page may have changed."""
        match message:
            case PushCase(case, page_id):
                self._push(case, page_id)
            case PageOpened(page_id, at):
                if page_id == self._page_id and self.flow.case is not None:
                    self.flow.shown(at)  # the device's reaction time counts from here
                return False
            case PagePress(page_id, touch, at, page_ms):
                if page_id != self._page_id or self.flow.case is None:
                    return False  # a page of a case no longer on the flow: nothing happens
                return self._apply_touch(touch, Source.WEB, at, page_ms)
            case CancelCase(project_no):
                self._ended(self.flow.cancel(project_no))
            case SignIn(staff):
                self.flow.sign_in(staff)
            case SignOut():
                self._ended(self.flow.sign_out())
            case KeyPressed(key, at):
                return self._key(key, at)
            case KeypadLost() | KeypadFound():
                self._keypad_connected = isinstance(message, KeypadFound)
                log.warning("keypad %s", "found" if self._keypad_connected else "lost")
            case _:
                return False
        return True

    def _push(self, case: Case, page_id: str | None = None) -> None:
        self._ended(self.flow.push(case, self.clock.monotonic()))
        if self.flow.phase is Phase.RATING and self.flow.case is case:
            self._page_id = page_id
            self._awaiting_glass = True
            self._qr = None
            self._light_keys()
            self._speak()

    def _glass_input(self, found: GlassInput) -> bool:
        match found:
            case Closed():
                self.running = False
                return False
            case DesktopKey(key):
                return self._key(key, self.clock.monotonic())
            case TapAt(x, y):
                return self._touch(x, y)
            case Exposed():
                return True
        return False

    def _key(self, key: int, at: float) -> bool:
        level = level_for_key(key, self.config.keypad.key_levels, self.mode)
        if level is None:
            return False  # touch only
        if self.flow.phase is Phase.REASONS:
            return self._reason_key(key, at)
        before = self.flow.phase
        return self._level(self.flow.press(level, Source.KEYPAD, at), before)

    def _reason_key(self, key: int, at: float) -> bool:
        """A key on the reasons page: 重新选择, a reason of the group shown, 换一组, 提交."""
        offered = offered_tags(self.flow, self.tags.for_level)
        meaning = reason_key(key, len(offered), self.flow.tag_page)
        if meaning is None:
            return False
        match meaning.action:
            case ReasonAction.CHOOSE_AGAIN:
                self._choose_again(at)
            case ReasonAction.TOGGLE:
                assert meaning.tag is not None
                self.flow.toggle_tag(offered[meaning.tag].code)
            case ReasonAction.NEXT_GROUP:
                self.flow.next_tag_group(group_count(len(offered)))
            case ReasonAction.SUBMIT:
                return self._level(self.flow.submit(at), Phase.REASONS)
        self._light_keys()
        return True

    def _choose_again(self, now: float) -> None:
        """重新选择: the bad level ends as `changed`; the rating page again."""
        self._ended(self.flow.choose_again(now))
        self._held = None  # its changed event took the held press off disk
        self._speak()  # the rating page's prompt again, cutting the reasons prompt off
        self._light_keys()

    def _touch(self, x: int, y: int) -> bool:
        assert self.glass is not None
        offered = offered_tags(self.flow, self.tags.for_level)
        touch = self.glass.touch_meaning(self.flow, offered, x, y)
        return self._apply_touch(touch, Source.TOUCH, self.clock.monotonic())

    def _apply_touch(
        self, touch: Touch | None, source: Source, now: float, page_ms: int | None = None
    ) -> bool:
        """A tap on the window, or a press on the browser page (*page_ms*: the reaction time
        the browser measured), through the one flow."""
        before = self.flow.phase
        match touch:
            case LevelTouched(level, row):
                choice = self.flow.press(level, source, now, row=row, page_reaction_ms=page_ms)
                return self._level(choice, before)
            case TagTouched(tag):
                if tag not in {t.code for t in offered_tags(self.flow, self.tags.for_level)}:
                    return False  # only a reason the page offers
                self.flow.toggle_tag(tag)
                self._light_keys()
                return True
            case SubmitTouched():
                return self._level(self.flow.submit(now), before)
            case PageTouched(page):
                if self.flow.phase is Phase.RATING:
                    self.flow.show_row(page)
                else:
                    self.flow.show_tag_page(page)
                    self._light_keys()
                return True
            case ChooseAgainTouched():
                self._choose_again(now)
                return True
            case None:
                return False

    # -- what goes out ----------------------------------------------------------------

    def _level(self, choice: Choice | None, before: Phase) -> bool:
        """After a press or submit in phase `before`: store a finished rating; when the page
        changed, the voice, the lights and the buzzer follow it (the same for every level
        when the press is private)."""
        if choice is not None:
            self._store(choice)
        else:
            self._hold_bad_press()
        if self.flow.phase is not before:
            self._speak()
            self._light_keys()
            private = self.config.display.private_press
            if self.keypad and beeps_after(before, self.flow.phase, private=private):
                self.keypad.beep(THANKS_BEEP_MS)
        return True

    def _hold_bad_press(self) -> None:
        """A bad overall level pressed on the case on screen goes to disk at once (the
        case's end replaces it), so a restart cannot make it vanish."""
        page = self.flow.page
        if self.storage is None or page is None or page.first_bad is None:
            return
        held = (page.case.project_no, int(page.first_bad), id(page))
        if held == self._held:
            return
        self._held = held
        self.storage.recorder.hold_bad_press(page.case, int(page.first_bad), page.shown_at)

    def _store(self, choice: Choice) -> None:
        assert self.storage is not None
        try:
            stored = self.storage.recorder.rating(choice)
        except LedgerError as exc:
            log.error("rating could not be stored: %s", exc)
            self.flow.store_failed(Problem.LEDGER)
            return
        self.flow.stored(self.clock.monotonic())
        self.storage.recorder.changed(choice)  # a bad level first pressed stays on record
        self._settled(choice.case)
        self._unchecked_ratings += 1
        self._rated += 1
        self._last = (stored.seq, stored.evaluation_id)
        log.info("rating stored: seq %d", stored.seq)

    def _speak(self) -> None:
        """The prompt of the page the flow has just entered, if it has one, once drawn."""
        prompt = prompt_on_entering(self.flow.phase)
        if prompt is not None:
            self._prompt = prompt

    def _ended(self, ended: list[NotRated]) -> None:
        """Each case that left the screen unrated becomes a signed case event; only once it
        is committed may the same case be pushed again (the API asks the ledger then)."""
        if ended:
            self._held = None
        for item in ended:
            if self.storage is not None:
                handed_out = self.inbox.rate_later_handed_out(item.case.project_no)
                self.storage.recorder.not_rated(item, code_handed_out=handed_out)
            self._settled(item.case)
        if ended:
            self._light_keys()

    def _settled(self, case: Case) -> None:
        if self.on_settled is not None:
            self.on_settled(case)

    def _light_keys(self) -> bool:
        """Light the keys the page on screen takes; True, so a handler can end with it."""
        if self.keypad is None:
            return True
        flow = self.flow
        lights = lights_for(
            flow.phase,
            self.mode,
            flow.chosen,
            self.config.keypad.key_levels,
            private=self.config.display.private_press,
        )
        if flow.phase is Phase.REASONS and not self.config.display.private_press:
            # private: the keys stay dark here too, so that nothing across the counter tells a
            # bad level from a good one; the page's key badges say what each key does
            count = len(offered_tags(flow, self.tags.for_level))
            lights = lights_on_reasons(self.mode, count, flow.tag_page, bool(flow.tags))
        if lights.every:
            self.keypad.light_all()
        elif lights.keys:
            self.keypad.light_keys(lights.keys)
        else:
            self.keypad.light(lights.key)
        return True

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
            missing_glyphs=self.glass.missing_glyphs if self.glass else 0,
        )

    def qr_url(self) -> str | None:
        """The signed rate-later link of the case on the rate-later page, made once per case."""
        case = self.flow.case
        if self.flow.phase is not Phase.RATE_LATER or case is None or self.storage is None:
            return None
        if self._qr is None or self._qr[0] != case.project_no:
            url = rate_later_url(
                self.config.rate_later.url_template,
                case.project_no,
                self.config.province.device_id,
                int(time.time()),
                self.storage.key,
            )
            self._qr = (case.project_no, url)
        return self._qr[1]

    def _view(self) -> ScreenView:
        offered = offered_tags(self.flow, self.tags.for_level)
        view = screen_view(self.flow, self._facts(), self.clock.monotonic(), offered, self.qr_url())
        if self.flow.page is not None and self._page_id is not None:
            view = dataclasses.replace(view, page_id=self._page_id)
        if view.phase in (Phase.REASONS, Phase.THANKS) and self.config.display.private_press:
            view = dataclasses.replace(view, chosen=None)  # neither page names the level
        return view

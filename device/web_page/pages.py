"""The rating pages handed out, and what each shows now: one page per pushed case, a one-time
token per opening of it, and the view the main loop last published.

Thread-safe: the local API's threads open pages, check tokens and wait for changes; the main
loop publishes views. A page's case is on the flow until another view takes its place; it
then ended rated (its thanks page was shown) or unrated.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from device.flow.rating_flow import Phase
from device.screen.view import ScreenView
from device.web_page.page_view import ON_FLOW, PageState

KEPT_PAGES = 64  # the newest pages remembered; an older one reads as ended
WAITING_S = 5.0  # a page whose case the main loop has not taken by then never will


@dataclass
class _Page:
    project_no: str
    opened_at: float  # monotonic: when the case was pushed
    token: str | None = None  # of the newest opening; an older opening cannot press
    language: str | None = None
    seen: bool = False  # a view of its case was published
    rated: bool = False  # its thanks page was published
    over: bool = False  # its case left the flow


@dataclass(frozen=True)
class Snapshot:
    state: PageState
    version: int
    view: ScreenView | None  # the view, while the page's case is on the flow


class RatePages:
    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic  # the device clock, as the main loop reads it
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self._changed = threading.Condition()
        self._version = 0
        self._view: ScreenView | None = None

    # -- the local API: a case pushed, a page opened ------------------------------------

    def new_page(self, project_no: str) -> str:
        """A page for a case being pushed now; its id is all a browser needs to open it."""
        page_id = secrets.token_urlsafe(18)
        with self._changed:
            self._pages[page_id] = _Page(project_no, self._monotonic())
            while len(self._pages) > KEPT_PAGES:
                self._pages.popitem(last=False)
        return page_id

    def forget(self, page_id: str) -> None:
        """The push was refused: the page never existed."""
        with self._changed:
            self._pages.pop(page_id, None)

    def open(self, page_id: str, language: str | None) -> str | None:
        """A browser opens the page: a fresh token for it (any earlier opening's token stops
        working, so only the newest tab can press); None for an unknown page."""
        with self._changed:
            page = self._pages.get(page_id)
            if page is None:
                return None
            page.token = secrets.token_urlsafe(24)
            page.language = language
            self._version += 1
            self._changed.notify_all()
            return page.token

    def token_ok(self, page_id: str, token: object) -> bool:
        with self._changed:
            page = self._pages.get(page_id)
            expected = page.token if page is not None else None
        if expected is None or not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode("utf-8"))

    def language(self, page_id: str) -> str | None:
        with self._changed:
            page = self._pages.get(page_id)
            return page.language if page else None

    def snapshot(self, page_id: str) -> Snapshot:
        with self._changed:
            return self._snapshot(page_id, self._monotonic())

    def wait(self, page_id: str, after: int, timeout: float) -> Snapshot:
        """The page's snapshot once anything changed after version *after* (or at timeout)."""
        with self._changed:
            if self._version <= after:
                self._changed.wait(timeout)
            return self._snapshot(page_id, self._monotonic())

    # -- the main loop ------------------------------------------------------------------

    def publish(self, view: ScreenView) -> None:
        """The flow's view now; the page it names (if any) is the one on the flow. The same
        view again (the loop redraws a countdown page often) changes nothing."""
        with self._changed:
            if view == self._view:
                return
            current = view.page_id if view.case is not None else None
            for page_id, page in self._pages.items():
                if page_id == current:
                    page.seen = True
                    page.rated = page.rated or view.phase is Phase.THANKS
                elif page.seen:
                    page.over = True
            self._view = view
            self._version += 1
            self._changed.notify_all()

    # -- inside the lock ----------------------------------------------------------------

    def _snapshot(self, page_id: str, now: float) -> Snapshot:
        page = self._pages.get(page_id)
        view = self._view
        if page is None:
            return Snapshot(PageState.ENDED, self._version, None)
        if page.over or (view is not None and view.page_id != page_id and page.seen):
            return Snapshot(PageState.RATED if page.rated else PageState.ENDED, self._version, None)
        if view is not None and view.page_id == page_id and view.phase in ON_FLOW:
            return Snapshot(ON_FLOW[view.phase], self._version, view)
        if view is not None and view.phase is Phase.OUT_OF_SERVICE:
            return Snapshot(PageState.OUT_OF_SERVICE, self._version, view)
        if not page.seen and now - page.opened_at < WAITING_S:
            return Snapshot(PageState.WAITING, self._version, None)
        return Snapshot(PageState.ENDED, self._version, None)

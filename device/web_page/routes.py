"""The rating page's routes on the local API: the page, its state, its presses, its rate-later
code and its own script, style and font.

No bearer token here (the browser has none): a page is reached only by its unguessable id,
which only the terminal's application got when it pushed the case; a press needs the page's
one-time token, the device's own origin and a JSON body (so another origin's page cannot send
one: no CORS headers are ever sent). Presses go to the main loop as messages, like keys.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import segno

from device.daemon.clock import Clock
from device.daemon.http import HTML_TYPE
from device.evaluator.messages import Message, PageOpened, PagePress
from device.flow.presenter import (
    ChooseAgainTouched,
    LevelTouched,
    SubmitTouched,
    TagTouched,
    Touch,
)
from device.flow.rating_flow import OVERALL
from device.local_api.http import ApiError, Body, Reply, Request, Route
from device.record.rating import Level
from device.screen.texts import LANGUAGES, Texts
from device.web_page.html import (
    CONTENT_SECURITY_POLICY,
    level_colours_css,
    rating_page,
    refusal_page,
)
from device.web_page.page_view import PageState, state_json
from device.web_page.pages import RatePages
from device.web_page.return_url import MAX_RETURN_URL, return_allowed

log = logging.getLogger(__name__)

PAGE = "/rate/{pageId}"
LONG_POLL_S = 8.0  # a state request waits this long for a change before answering as it is
MAX_PRESS_BODY = 1024
MAX_VISIBLE_MS = 24 * 3600 * 1000
ASSETS = {"rate.js": "text/javascript; charset=utf-8", "rate.css": "text/css; charset=utf-8"}
FONT_TYPE = "font/ttf"
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ACTIONS = ("level", "tag", "submit", "choose_again")


class RatePageRoutes:
    def __init__(
        self,
        pages: RatePages,
        post: Callable[[Message], None],
        clock: Clock,
        language: str,
        return_urls: list[str],
        *,
        tls: bool,
        font: Path | None = None,
    ) -> None:
        self.pages = pages
        self.post = post
        self.clock = clock
        self.language = language
        self.return_urls = list(return_urls)
        self.scheme = "https" if tls else "http"
        self.font = font
        self.version = font.stem if font is not None else "0"
        package = resources.files("device.web_page").joinpath("assets")
        self.assets = {name: package.joinpath(name).read_bytes() for name in ASSETS}
        self.assets["rate.css"] += level_colours_css().encode()

    def routes(self) -> list[Route]:
        return [
            Route("GET", PAGE, self.page, public=True, query=True),
            Route("GET", f"{PAGE}/state/{{version}}", self.state, public=True),
            Route("POST", f"{PAGE}/press", self.press, Body.JSON, MAX_PRESS_BODY, public=True),
            Route("GET", f"{PAGE}/rate-later.svg", self.rate_later, public=True, query=True),
            Route("GET", "/rate/assets/{name}", self.asset, public=True, query=True),
        ]

    # -- the page ---------------------------------------------------------------------

    def page(self, request: Request) -> Reply:
        page_id = request.params["pageId"]
        query = _query(request.query, ("returnUrl", "lang"))
        language = query.get("lang", self.language)
        if language not in LANGUAGES:
            language = self.language
        texts = Texts(language)
        return_url = query.get("returnUrl")
        if return_url is not None and not return_allowed(return_url, self.return_urls):
            log.warning("rating page: a return address not allowed was refused")
            body = refusal_page(texts.ui("web_bad_return"), texts)
            return _html(HTTPStatus.BAD_REQUEST, body)
        token = self.pages.open(page_id, language)
        if token is None:
            return _html(HTTPStatus.NOT_FOUND, refusal_page(texts.ui("web_ended"), texts))
        self.post(PageOpened(page_id, self.clock.monotonic()))
        return _html(HTTPStatus.OK, rating_page(page_id, token, return_url, texts, self.version))

    def state(self, request: Request) -> Reply:
        page_id = request.params["pageId"]
        self._check_token(page_id, request.headers.get("X-Page-Token"))
        after = request.params["version"]
        if not (after.isascii() and after.isdigit() and len(after) <= 12):
            raise ApiError(HTTPStatus.BAD_REQUEST, "E_FIELD", "version must be a number", "version")
        snapshot = self.pages.wait(page_id, int(after), LONG_POLL_S)
        texts = Texts(self.pages.language(page_id) or self.language)
        return Reply(
            HTTPStatus.OK, state_json(snapshot.state, snapshot.version, snapshot.view, texts)
        )

    def press(self, request: Request) -> Reply:
        page_id = request.params["pageId"]
        self._check_origin(request)
        self._check_token(page_id, request.headers.get("X-Page-Token"))
        touch, visible_ms = _press(request.body)
        if self.pages.snapshot(page_id).state in (PageState.RATED, PageState.ENDED):
            raise ApiError(HTTPStatus.CONFLICT, "E_PAGE_OVER", "this rating page has ended")
        self.post(PagePress(page_id, touch, self.clock.monotonic(), visible_ms))
        return Reply(HTTPStatus.ACCEPTED, {"status": "queued"})

    def rate_later(self, request: Request) -> Reply:
        page_id = request.params["pageId"]
        self._check_token(page_id, _query(request.query, ("t",)).get("t"))
        snapshot = self.pages.snapshot(page_id)
        url = snapshot.view.qr_url if snapshot.view is not None else None
        if snapshot.state is not PageState.RATE_LATER or url is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", "no rate-later code on this page")
        image = io.BytesIO()
        segno.make(url, error="m").save(image, kind="svg", scale=8, border=4)
        return Reply(HTTPStatus.OK, image.getvalue(), content_type="image/svg+xml")

    def asset(self, request: Request) -> Reply:
        name = request.params["name"]
        _query(request.query, ("v",))
        cache = {"Cache-Control": "max-age=86400"}
        if name in self.assets:
            return Reply(HTTPStatus.OK, self.assets[name], cache, content_type=ASSETS[name])
        if name == "font.ttf" and self.font is not None:
            return Reply(HTTPStatus.OK, self.font.read_bytes(), cache, content_type=FONT_TYPE)
        raise ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", "no such resource")

    # -- checks -----------------------------------------------------------------------

    def _check_token(self, page_id: str, token: object) -> None:
        if not self.pages.token_ok(page_id, token):
            raise ApiError(
                HTTPStatus.FORBIDDEN,
                "E_PAGE_TOKEN",
                "not this page's current token: the page was opened again, or never",
            )

    def _check_origin(self, request: Request) -> None:
        """A press comes from the device's own page: its Origin is the device's, and the
        browser (where it says) calls it same-origin."""
        host = request.headers.get("Host")
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        expected = f"{self.scheme}://{host}" if host else None
        if (
            expected is None
            or origin is None
            or origin.lower() != expected.lower()
            or fetch_site not in (None, "same-origin")
        ):
            log.warning("rating page: a press from another origin was refused")
            raise ApiError(HTTPStatus.FORBIDDEN, "E_ORIGIN", "presses come from the page itself")


def _html(status: int, body: str) -> Reply:
    return Reply(status, body, dict(PAGE_HEADERS), content_type=HTML_TYPE)


def _query(query: str, names: tuple[str, ...]) -> dict[str, str]:
    """The query's values by name; a name not in *names*, or given twice, is refused."""
    if len(query) > 3 * MAX_RETURN_URL:
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_QUERY", "query too long")
    found: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_QUERY", "not UTF-8") from exc
    for name, value in pairs:
        if name not in names or name in found:
            raise ApiError(HTTPStatus.BAD_REQUEST, "E_QUERY", "unknown or repeated", name[:40])
        found[name] = value
    return found


def _press(body: Any) -> tuple[Touch, int | None]:
    """The press's meaning, and the reaction time the browser measured, or E_FIELD."""
    if not isinstance(body, dict):
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "must be an object", "$")
    allowed = {"action", "level", "row", "tag", "visibleMs"}
    for key in body:
        if key not in allowed:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "unknown field", key[:40])
    action = body.get("action")
    if action not in ACTIONS:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "unknown action", "action")
    visible = body.get("visibleMs")
    if visible is not None and not (
        isinstance(visible, int)
        and not isinstance(visible, bool)
        and 0 <= visible <= MAX_VISIBLE_MS
    ):
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "whole ms", "visibleMs")
    if action == "level":
        level = body.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "1 to 5", "level")
        row = body.get("row", OVERALL)
        if not isinstance(row, str) or len(row) > 16:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "a row of the page", "row")
        return LevelTouched(Level(level), row=row), visible
    if action == "tag":
        tag = body.get("tag")
        if not isinstance(tag, str) or not 0 < len(tag) <= 64:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", "a tag code", "tag")
        return TagTouched(tag), None
    if action == "submit":
        return SubmitTouched(), None
    return ChooseAgainTouched(), None

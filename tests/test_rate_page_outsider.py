"""The rating page checked from outside, with a second browser driver (Playwright on Debian's
Chromium, touch emulation): a terminal application pushes cases over the local API with
plain HTTP, opens the page, a rater taps; the province must receive every rating with the
web source and a reaction time close to how long the rater really waited, and a hostile
page, a replay, a reload, a double tap, a stale page, a foreign return address and a guessed
page id must add nothing to the ledger or the province.

It uses no helper of the product's own browser tests: pushes are raw HTTP with the device
token, the ledger is judged by `python -m device verify-ledger`, the province by its store.
Why a second driver beside Selenium: terminals run many browsers, and a page that works only
under the driver it was written with is not tested. Playwright taps through the browser's own
touch input (no chromedriver), with its own timing, which is how the lost quick reason taps
were found.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest

from device.screen.contrast import MINIMUM, ratio
from simulator.terminal import SelfServiceTerminal

pytestmark = pytest.mark.web_terminal_timing(rating_s=5, rate_later_s=5)

SIZES = ((1080, 1920), (1920, 1080), (1280, 800))
LANGUAGES = ("zh-Hans", "zh-Hant", "en")
TASK = {"taskCode": "11640100MB1234567X3000111888000", "taskName": "社保缴费证明打印"}
MIN_TARGET_PX = 57  # 15 mm at 96 CSS px to the inch
_serial = iter(range(1, 10_000))


# --- the terminal application's side: plain HTTP with the device token ---------------------


def new_case() -> dict[str, Any]:
    return {"projectNo": f"ZZ20261201{next(_serial):06d}", **TASK, "terminalNo": "ZZ-0031"}


def push(terminal: SelfServiceTerminal, case: dict[str, Any]) -> str:
    """POST /api/v1/cases as an integrator would; the rating page's path from the answer."""
    assert terminal.config is not None
    request = urllib.request.Request(
        f"{terminal.device_origin}/api/v1/cases",
        data=json.dumps(case).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {terminal.config.local_api.token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 202
        return str(json.load(reply)["ratePage"])


def cancel(terminal: SelfServiceTerminal, project_no: str) -> int:
    assert terminal.config is not None
    request = urllib.request.Request(
        f"{terminal.device_origin}/api/v1/cases/{project_no}",
        method="DELETE",
        headers={"Authorization": f"Bearer {terminal.config.local_api.token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return int(reply.status)


def return_url(terminal: SelfServiceTerminal) -> str:
    return terminal.app.origin + "/done"


def page_url(terminal: SelfServiceTerminal, path: str, lang: str = "zh-Hans") -> str:
    back = quote(return_url(terminal), safe="")
    return f"{terminal.device_origin}{path}?returnUrl={back}&lang={lang}"


def raw(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# --- the judges: the ledger file and the province -----------------------------------------


def ledger_ratings(terminal: SelfServiceTerminal) -> int:
    """Ratings in the ledger file, as `verify-ledger` (anchored on the enrolled key) counts."""
    assert terminal.config is not None
    province = terminal.config.province
    done = subprocess.run(
        [sys.executable, "-m", "device", "verify-ledger",
         "--expect-key-id", str(province.enrolled_key_id),
         "--province-key", str(province.province_key),
         str(terminal.workdir / "state" / "ledger.db")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    said = done.stdout + done.stderr
    if done.returncode != 0 and "0 of 0 ratings bad" in said:
        # the device's key enters the ledger with its first rating: nothing to anchor yet
        assert "is not in the ledger" in said and "1 findings" in said
        return 0
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"(\d+) ratings?", done.stdout)
    assert found, done.stdout
    return int(found.group(1))


def at_province(terminal: SelfServiceTerminal) -> dict[str, dict[str, Any]]:
    """Every rating the province stored, by case number."""
    store = terminal.province.store
    records = (store.evaluation(i) for i in store.evaluation_ids())
    return {r["projectNo"]: r for r in records if r is not None}


def wait_at_province(
    terminal: SelfServiceTerminal, project_nos: set[str], timeout_s: float = 30.0
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        stored = at_province(terminal)
        if project_nos <= stored.keys() or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def events_at_province(terminal: SelfServiceTerminal) -> list[dict[str, Any]]:
    assert terminal.config is not None
    device_id = str(terminal.config.province.device_id)
    return [json.loads(e) for e in terminal.province.server.events.events(device_id)]


# --- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def terminal(web_terminal: SelfServiceTerminal) -> SelfServiceTerminal:
    return web_terminal


@pytest.fixture
def tablet(playwright_chromium: Any) -> Iterator[Any]:
    """A portrait terminal's screen with touch."""
    context = playwright_chromium.new_context(
        viewport={"width": 1080, "height": 1920}, has_touch=True
    )
    yield context.new_page()
    context.close()


def state(page: Any) -> str:
    return str(page.get_attribute("#page", "data-state"))


def assert_fits(page: Any, where: str) -> None:
    """Nothing wider than the screen; every visible button at least 15 mm both ways."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where}: {overflow} px wider than the screen"
    small = page.evaluate(
        """min => Array.from(document.querySelectorAll('button'))
            .filter(b => b.offsetParent !== null)
            .map(b => b.getBoundingClientRect())
            .filter(r => r.width < min || r.height < min)
            .map(r => [Math.round(r.width), Math.round(r.height)])""",
        MIN_TARGET_PX,
    )
    assert not small, f"{where}: buttons under 15 mm: {small}"


def assert_level_ink_readable(page: Any, where: str) -> None:
    """Every level button's label at least 4.5:1 against the button, chosen or not."""
    pairs = page.evaluate(
        """() => Array.from(document.querySelectorAll('.level'))
            .filter(b => b.offsetParent !== null)
            .map(b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor,
                       b.className])"""
    )
    assert pairs

    def rgb(css: str) -> tuple[int, int, int]:
        r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
        return r, g, b

    poor = [
        (c, round(ratio(rgb(i), rgb(b)), 2)) for i, b, c in pairs if ratio(rgb(i), rgb(b)) < MINIMUM
    ]
    assert not poor, f"{where}: labels under {MINIMUM}:1: {poor}"


def test_every_level_and_every_tag_at_three_sizes_reach_the_province_as_web(
    terminal: SelfServiceTerminal, playwright_chromium: Any
) -> None:
    tags = json.loads((terminal.workdir / "state" / "tags.json").read_text())["levels"]
    expected: dict[str, tuple[int, list[str], float, float]] = {}
    for s, (width, height) in enumerate(SIZES):
        context = playwright_chromium.new_context(
            viewport={"width": width, "height": height}, has_touch=True
        )
        for level in (5, 4, 3, 2, 1):
            page = context.new_page()  # the terminal's app opens each case's page afresh
            lang = LANGUAGES[(level + s) % 3]
            where = f"{width}x{height} level {level} {lang}"
            case = new_case()
            path = push(terminal, case)
            late = (width, height, level) == (1280, 800, 3)
            if late:  # the terminal's app opens this page 3 s after the push (of 5 s)
                time.sleep(3.0)
            opened = time.monotonic()
            page.goto(page_url(terminal, path, lang))
            page.locator(f"#single .level[data-level='{level}']").wait_for(state="visible")
            seen = time.monotonic()
            assert_fits(page, where)
            if late:  # the rater still has the full time, and uses more than was left
                assert page.inner_text("#seconds").split()[0] in ("5", "4")
                time.sleep(2.5)
            time.sleep(0.25 + 0.1 * level)  # the rater reads, then taps
            before = time.monotonic()
            page.tap(f"#single .level[data-level='{level}']")
            after = time.monotonic()
            chosen: list[str] = []
            if level <= 2:
                page.locator("#reasons").wait_for(state="visible")
                assert_fits(page, where + " reasons")
                offered = page.locator("#tags button")
                codes = [t["code"] for t in tags[str(level)]]
                assert offered.count() == len(codes), f"{where}: every tag on the page"
                for i in range(offered.count()):  # as fast as a finger can go
                    offered.nth(i).tap()
                    chosen.append(str(offered.nth(i).get_attribute("data-tag")))
                assert sorted(chosen) == sorted(codes)
                page.wait_for_function(
                    "n => document.querySelectorAll('#tags [aria-pressed=true]').length === n",
                    arg=len(codes),
                    timeout=5000,
                )
                page.tap("#submit")
            page.locator("#page[data-state=thanks]").wait_for(state="attached")
            assert_fits(page, where + " thanks")
            if level == 1 and width == SIZES[-1][0]:  # the screen is handed back after thanks
                page.wait_for_url(return_url(terminal) + "*", timeout=10_000)
            expected[case["projectNo"]] = (level, chosen, before - seen, after - opened)
            page.close()
        context.close()

    stored = wait_at_province(terminal, set(expected))
    # the rater waited at least from the buttons being visible to the tap, at most from the
    # page being asked for to the tap done
    for project_no, (level, chosen, waited_s, tapped_s) in expected.items():
        record = stored.get(project_no)
        assert record is not None, f"{project_no} never reached the province"
        assert record["source"] == "web"
        assert record["satisfaction"] == level
        assert sorted(record["evalDetail"] or []) == sorted(chosen), project_no
        assert waited_s * 1000 - 50 <= record["reactionMs"] <= tapped_s * 1000 + 150, (
            f"{project_no}: reactionMs {record['reactionMs']} but the rater waited "
            f"{waited_s * 1000:.0f}-{tapped_s * 1000:.0f} ms"
        )


def test_in_landscape_submit_of_an_indicators_page_is_on_screen_without_scrolling(
    terminal: SelfServiceTerminal, playwright_chromium: Any
) -> None:
    sent = []
    for width, height in SIZES[1:]:
        context = playwright_chromium.new_context(
            viewport={"width": width, "height": height}, has_touch=True
        )
        page = context.new_page()
        case = {**new_case(), "indicators": True}
        page.goto(page_url(terminal, push(terminal, case), "en"))
        rows = page.locator("#rows .levels")
        rows.first.locator(".level[data-level='4']").wait_for(state="visible")
        assert rows.count() == 3
        submit = page.locator("#submit-rows")
        box = submit.bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, f"{width}x{height}"
        assert submit.is_disabled()  # nothing rated yet
        rows.first.locator(".level[data-level='4']").tap()
        page.wait_for_function("() => !document.getElementById('submit-rows').disabled")
        assert_level_ink_readable(page, f"{width}x{height} one level chosen")
        assert submit.bounding_box() == box  # the same place: no scrolling needed
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.locator("#page[data-state=thanks]").wait_for(state="attached")
        sent.append(case["projectNo"])
        context.close()
    stored = wait_at_province(terminal, set(sent))
    for project_no in sent:
        assert stored[project_no]["satisfaction"] == 4
        assert stored[project_no]["source"] == "web"


class HostilePage:
    """Another origin on loopback serving a page that tries to press for the rater."""

    def __init__(self, target: str, token: str, level: int) -> None:
        body = f"""<!doctype html><meta charset="utf-8"><body>
<form id="f" method="POST" action="{target}" enctype="text/plain">
<input name='{{"action":"level","level":{level},"row":"overall","x":"' value='"}}'></form>
<script>
fetch({json.dumps(target)}, {{method: "POST", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{action: "level", level: {level}, row: "overall"}})}})
.finally(() => fetch({json.dumps(target)}, {{method: "POST",
  headers: {{"Content-Type": "application/json", "X-Page-Token": {json.dumps(token)}}},
  body: JSON.stringify({{action: "level", level: {level}, row: "overall"}})}})
  .then(r => {{ document.title = "cors-ok " + r.status; }},
        () => {{ document.title = "cors-blocked"; }})
  .finally(() => document.getElementById("f").submit()));
</script></body>""".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_attacks_through_the_browser_and_by_hand_store_nothing(
    terminal: SelfServiceTerminal, playwright_chromium: Any, tablet: Any
) -> None:
    ratings_before = ledger_ratings(terminal)
    case = new_case()
    path = push(terminal, case)
    target = f"{terminal.device_origin}{path}/press"

    # a guessed page id: no page, no press
    guessed = f"/rate/{secrets.token_urlsafe(18)}"
    assert raw("GET", page_url(terminal, guessed), None, {}) == 404
    same_origin = {"Origin": terminal.device_origin, "Content-Type": "application/json"}
    level_1 = json.dumps({"action": "level", "level": 1, "row": "overall"}).encode()
    guess = raw("POST", f"{terminal.device_origin}{guessed}/press", level_1, same_origin)
    assert guess in (403, 404)

    # a return address outside the list: refused, no page handed out
    for foreign in (
        "http://127.0.0.1:1/",
        terminal.app.origin + "/elsewhere",
        terminal.app.origin + "/done/../admin",
        terminal.app.origin + "/done/%2e%2e/admin",
        "javascript:alert(1)",
        "//example.org/done",
    ):
        url = f"{terminal.device_origin}{path}?returnUrl={quote(foreign, safe='')}"
        assert raw("GET", url, None, {}) == 400, foreign

    # the rater's page is open; a hostile page of another origin holding even its token
    tablet.goto(page_url(terminal, path))
    tablet.locator("#single .level[data-level='5']").wait_for(state="visible")
    token = json.loads(tablet.get_attribute("meta[name=rate-page]", "content"))["token"]
    hostile = HostilePage(target, token, level=1)
    try:
        other = tablet.context.new_page()
        other.goto(hostile.url)
        other.wait_for_url(re.compile(r".*/press$"), timeout=5000)  # the form went, refused
        other.close()
    finally:
        hostile.close()
    # a press by hand with the device's Origin but the token of an older opening
    tablet.reload()
    tablet.locator("#single .level[data-level='5']").wait_for(state="visible")
    stale = {**same_origin, "X-Page-Token": token}
    assert raw("POST", target, level_1, stale) == 403
    assert state(tablet) == "rating", "the hostile page changed the rater's page"

    # the rater double-taps 满意; the press is captured for a replay
    presses: list[Any] = []
    tablet.on("request", lambda r: presses.append(r) if r.url.endswith("/press") else None)
    box = tablet.locator("#single .level[data-level='4']").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tablet.touchscreen.tap(x, y)
    tablet.touchscreen.tap(x, y)
    tablet.wait_for_url(return_url(terminal) + "*", timeout=10_000)
    assert len(presses) == 1, "the page sent the second tap of a double tap"
    captured = presses[0]
    replay = {k: v for k, v in captured.all_headers().items() if not k.startswith(":")}
    body = (captured.post_data or "").encode()
    assert raw("POST", target, body, replay) == 409  # the page has ended
    # and a reload of the rated page says so and offers no level
    tablet.goto(page_url(terminal, path))
    tablet.locator("#message").wait_for(state="visible")
    assert tablet.locator("#single .level").first.is_hidden()

    # a page whose case was cancelled while it was open: says so, a tap rates nothing
    gone = new_case()
    gone_path = push(terminal, gone)
    tablet.goto(page_url(terminal, gone_path, "en"))
    button = tablet.locator("#single .level[data-level='1']")
    button.wait_for(state="visible")
    box = button.bounding_box()
    assert cancel(terminal, gone["projectNo"]) == 200
    tablet.locator("#message").wait_for(state="visible")
    tablet.touchscreen.tap(box["x"] + 5, box["y"] + 5)
    tablet.wait_for_url(return_url(terminal) + "*", timeout=10_000)

    stored = wait_at_province(terminal, {case["projectNo"]})
    assert stored[case["projectNo"]]["satisfaction"] == 4
    assert stored[case["projectNo"]]["source"] == "web"
    assert gone["projectNo"] not in stored
    assert ledger_ratings(terminal) == ratings_before + 1, "one press, one rating: no more"


def test_a_page_left_unrated_shows_the_rate_later_code_returns_and_reports_an_event(
    terminal: SelfServiceTerminal, tablet: Any
) -> None:
    ratings_before = ledger_ratings(terminal)
    case = new_case()
    tablet.goto(page_url(terminal, push(terminal, case), "zh-Hant"))
    tablet.locator("#rate-later").wait_for(state="visible", timeout=15_000)
    tablet.wait_for_function("() => document.getElementById('code').naturalWidth > 0", timeout=5000)
    assert_fits(tablet, "rate later")
    tablet.wait_for_url(return_url(terminal) + "*", timeout=15_000)
    deadline = time.monotonic() + 30
    while not any(e["projectNo"] == case["projectNo"] for e in events_at_province(terminal)):
        assert time.monotonic() < deadline, "no case event for the unrated page"
        time.sleep(0.2)
    assert case["projectNo"] not in at_province(terminal), "a rating was invented"
    assert ledger_ratings(terminal) == ratings_before

"""The rating page served to a self-service terminal's browser, attacked over HTTP: a real
web terminal (evaluator and sync as child processes, the stand-in province), requests as a
browser or another origin's page would send them, and the real ledger file read after each.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from simulator.terminal import SelfServiceTerminal, renumbered
from tests.support.kiosk import ledger_events, ledger_ratings, web_reactions
from tests.support.polling import wait_until

CASE = {
    "projectNo": "ZZ20261201000100",
    "taskCode": "11640100MB1234567X3000111888000",
    "taskName": "社保缴费证明打印",
}


class Browser:
    """What a browser on the terminal sends: the page, its state, its presses."""

    def __init__(self, terminal: SelfServiceTerminal) -> None:
        self.origin = terminal.device_origin
        self.session = requests.Session()

    def open(self, page: str, return_url: str | None = None) -> requests.Response:
        query = f"?returnUrl={quote(return_url, safe='')}" if return_url is not None else ""
        return self.session.get(f"{self.origin}{page}{query}", timeout=10)

    def token(self, page: str, return_url: str | None = None) -> str:
        reply = self.open(page, return_url)
        assert reply.status_code == 200, reply.text
        found = re.search(r'<meta name="rate-page" content="([^"]+)">', reply.text)
        assert found is not None
        return json.loads(html.unescape(found.group(1)))["token"]

    def press(
        self, page: str, token: str | None, body: dict[str, Any], origin: str | None = "own"
    ) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Page-Token"] = token
        if origin is not None:
            headers["Origin"] = self.origin if origin == "own" else origin
        return self.session.post(
            f"{self.origin}{page}/press", data=json.dumps(body), headers=headers, timeout=10
        )

    def state(self, page: str, token: str, after: int = 0) -> dict[str, Any]:
        reply = self.session.get(
            f"{self.origin}{page}/state/{after}", headers={"X-Page-Token": token}, timeout=15
        )
        assert reply.status_code == 200, reply.text
        return reply.json()


_serial = iter(range(1, 1000))


def push(terminal: SelfServiceTerminal) -> tuple[str, str]:
    """A fresh case pushed as the terminal's application would: (projectNo, its page)."""
    case = renumbered(CASE, next(_serial))
    answer = terminal.client.push_case(case)
    assert re.fullmatch(r"/rate/[A-Za-z0-9_-]{20,}", answer["ratePage"])
    terminal.client.wait_for(
        lambda s: s["projectNo"] == case["projectNo"] and s["phase"] == "rating",
        5,
        "the case on the state machine",
    )
    return case["projectNo"], answer["ratePage"]


def rated(terminal: SelfServiceTerminal, project_no: str) -> list[dict[str, Any]]:
    assert terminal.config is not None
    return [r for r in ledger_ratings(terminal.config.ledger_path) if r["projectNo"] == project_no]


def return_url(terminal: SelfServiceTerminal) -> str:
    return f"{terminal.app.origin}/done?case=x"


def test_the_page_is_the_devices_own_and_keeps_outsiders_out(web_terminal):
    browser = Browser(web_terminal)
    _, page = push(web_terminal)
    reply = browser.open(page, return_url(web_terminal))
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in reply.headers
    # nothing from outside the device: every src/href is a path on it
    for link in re.findall(r'(?:src|href)="([^"]+)"', reply.text):
        assert link.startswith("/rate/assets/"), link
    for name, kind in (("rate.js", "javascript"), ("rate.css", "css"), ("font.ttf", "font")):
        asset = browser.session.get(f"{browser.origin}/rate/assets/{name}", timeout=10)
        assert asset.status_code == 200 and kind in asset.headers["Content-Type"]
        assert b"http://" not in asset.content[:200_000] or name == "font.ttf"
    font = browser.session.get(f"{browser.origin}/rate/assets/font.ttf", timeout=10).content
    assert font[:4] == b"\x00\x01\x00\x00" and 200_000 < len(font) < 4_000_000
    preflight = browser.session.options(
        f"{browser.origin}{page}/press",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.mark.parametrize(
    "hostile",
    [
        "http://evil.example/done",
        "javascript:alert(1)",
        "//evil.example/done",
        "{app}.evil.example/done",
        "{app}@evil.example/done",
        "{app}/done/../../steal",
        "{app}/done/%2e%2e/steal",
        "{app}/elsewhere",
        "{app}\\@evil.example/done",
        "data:text/html,<script>alert(1)</script>",
        "https://{host}/done",
    ],
)
def test_a_return_address_not_allowed_opens_no_page(web_terminal, hostile):
    browser = Browser(web_terminal)
    project_no, page = push(web_terminal)
    app = web_terminal.app.origin
    target = hostile.format(app=app, host=app.split("//")[1])
    reply = browser.open(page, target)
    assert reply.status_code == 400
    assert "rate-page" not in reply.text  # no token handed out, no script
    assert "evil" not in reply.text and "<script" not in reply.text
    assert "返回地址不在允许范围内" in reply.text
    assert "Location" not in reply.headers
    web_terminal.client.cancel(project_no)


@pytest.mark.parametrize(
    ("origin", "token_kind", "headers"),
    [
        ("http://evil.example", "real", {}),  # another origin's page, even with the token
        (None, "real", {}),  # no Origin at all
        ("own", "real", {"Sec-Fetch-Site": "cross-site"}),  # the browser says cross-site
        ("own", "wrong", {}),
        ("own", None, {}),
        ("own", "older", {}),  # the token of an earlier opening (a reload took its place)
    ],
)
def test_a_press_that_is_not_the_pages_own_rates_nothing(web_terminal, origin, token_kind, headers):
    browser = Browser(web_terminal)
    project_no, page = push(web_terminal)
    older = browser.token(page)
    token = browser.token(page)
    sent = {"real": token, "wrong": "x" * 32, None: None, "older": older}[token_kind]
    body = {"action": "level", "level": 5, "row": "overall", "visibleMs": 900}
    browser.session.headers.update(headers)
    reply = browser.press(page, sent, body, origin=origin)
    assert reply.status_code == 403
    assert reply.json()["code"] in ("E_ORIGIN", "E_PAGE_TOKEN")
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert web_terminal.client.cancel(project_no)  # still waiting for its rater: unrated
    assert rated(web_terminal, project_no) == []


def test_one_press_counts_however_often_it_is_sent(web_terminal):
    browser = Browser(web_terminal)
    project_no, page = push(web_terminal)
    token = browser.token(page)
    body = {"action": "level", "level": 4, "row": "overall", "visibleMs": 700}
    replies = [browser.press(page, token, body).status_code for _ in range(3)]
    assert replies == [202, 202, 202]  # queued: the state machine takes the first only
    wait_until(lambda: rated(web_terminal, project_no), "the rating on the ledger")
    other = {"action": "level", "level": 1, "row": "overall", "visibleMs": 800}
    browser.press(page, token, other)
    reloaded = browser.token(page)  # a reload after the rating
    assert browser.press(page, token, other).status_code == 403  # the old tab's token is gone
    browser.press(page, reloaded, other)
    wait_until(lambda: browser.state(page, reloaded)["over"], "the page over", 10)
    (record,) = rated(web_terminal, project_no)
    assert record["satisfaction"] == 4 and record["source"] == "web"
    assert record["terminalNo"] == "ZZ-0031" and record["pf"] == 5


def test_the_signed_reaction_time_is_the_browsers_and_the_devices_is_kept(web_terminal):
    browser = Browser(web_terminal)
    project_no, page = push(web_terminal)
    token = browser.token(page)
    time.sleep(0.05)  # the rater looks before pressing: the device sees at least that long
    browser.press(page, token, {"action": "level", "level": 5, "visibleMs": 3})
    wait_until(lambda: rated(web_terminal, project_no), "the rating on the ledger")
    (record,) = rated(web_terminal, project_no)
    assert web_terminal.config is not None
    seq, page_ms, device_ms, signed = web_reactions(web_terminal.config.ledger_path)[-1]
    assert seq == record["seq"] and page_ms == 3 == signed == record["reactionMs"]
    assert device_ms >= 50
    # a browser claiming longer than the device saw: impossible, so the device's is signed
    project_no, page = push(web_terminal)
    token = browser.token(page)
    browser.press(page, token, {"action": "level", "level": 5, "visibleMs": 3_600_000})
    wait_until(lambda: rated(web_terminal, project_no), "the rating on the ledger")
    (record,) = rated(web_terminal, project_no)
    _, page_ms, device_ms, signed = web_reactions(web_terminal.config.ledger_path)[-1]
    assert page_ms == 3_600_000 and signed == device_ms == record["reactionMs"] < 60_000


def test_a_page_opened_after_its_case_ended_says_so_and_rates_nothing(web_terminal):
    browser = Browser(web_terminal)
    first, first_page = push(web_terminal)
    second, _ = push(web_terminal)  # takes the first one's place: it ends unrated
    assert web_terminal.config is not None
    ledger = web_terminal.config.ledger_path
    wait_until(
        lambda: any(e["projectNo"] == first for e in ledger_events(ledger)), "first case ended"
    )
    token = browser.token(first_page)
    state = browser.state(first_page, token)
    assert state["state"] == "ended" and state["over"] is True
    assert state["texts"]["title"] == "本次评价页面已结束"
    assert "case" not in state  # nothing of the case it no longer rates
    # a press on the ended page is refused by name
    assert browser.press(first_page, token, {"action": "level", "level": 5}).status_code == 409
    assert web_terminal.client.cancel(second)
    wait_until(
        lambda: any(e["projectNo"] == second for e in ledger_events(ledger)), "second case ended"
    )
    assert rated(web_terminal, first) == [] and rated(web_terminal, second) == []
    kinds = {e["projectNo"]: e["kind"] for e in ledger_events(ledger)}
    assert (kinds[first], kinds[second]) == ("replaced", "cancelled")
    assert browser.open("/rate/" + "A" * 24).status_code == 404


def test_bad_presses_are_refused_by_name(web_terminal):
    browser = Browser(web_terminal)
    project_no, page = push(web_terminal)
    token = browser.token(page)
    for body, field in (
        ({"action": "level", "level": 6}, "level"),
        ({"action": "level", "level": True}, "level"),
        ({"action": "rate", "level": 5}, "action"),
        ({"action": "level", "level": 5, "visibleMs": -1}, "visibleMs"),
        ({"action": "level", "level": 5, "satisfaction": 5}, "satisfaction"),
    ):
        reply = browser.press(page, token, body)
        assert (reply.status_code, reply.json()["field"]) == (422, field)
    assert web_terminal.client.cancel(project_no)
    assert rated(web_terminal, project_no) == []


def test_a_web_terminal_never_loads_pygame_or_sdl(web_terminal):
    assert web_terminal.evaluator is not None
    maps = Path(f"/proc/{web_terminal.evaluator.pid}/maps").read_text()
    assert "device" in (web_terminal.workdir / "evaluator.log").read_text()
    assert "pygame" not in maps and "SDL" not in maps
    assert "python" in maps  # the maps are the evaluator's: its interpreter is in them


@pytest.mark.parametrize(
    ("lang", "html_lang", "invite", "level"),
    [
        ("zh-Hans", "zh-Hans", "请您对本次服务进行评价", "非常满意"),
        ("zh-Hant", "zh-Hant", "請您對本次服務進行評價", "非常滿意"),
        ("en", "en", "Please rate the service you received", "Very satisfied"),
    ],
)
def test_the_page_speaks_the_language_asked_for(web_terminal, lang, html_lang, invite, level):
    browser = Browser(web_terminal)
    project_no, page = push(web_terminal)
    reply = browser.session.get(f"{browser.origin}{page}?lang={lang}", timeout=10)
    shown = reply.text.replace("\u200b", "").replace("\u00ad", "")  # break points in labels
    assert f'<html lang="{html_lang}">' in reply.text and f">{level}<" in shown
    token = re.search(r'<meta name="rate-page" content="([^"]+)">', reply.text)
    assert token is not None
    settings = json.loads(html.unescape(token.group(1)))
    wait_until(
        lambda: browser.state(page, settings["token"])["state"] == "rating", "the rating page"
    )
    state = browser.state(page, settings["token"])
    assert state["case"]["title"] == invite
    assert web_terminal.client.cancel(project_no)


def test_the_web_terminals_modules_import_no_pygame():
    script = (
        "import sys\n"
        "import device.cli, device.evaluator.app, device.evaluator.loop\n"
        "import device.evaluator.web_glass, device.web_page.routes\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'pygame')\n"
        "print(loaded)\n"
        "import device.evaluator.window\n"
        "print('pygame' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split("\n")[:2] == ["[]", "True"]  # the window's module does load it

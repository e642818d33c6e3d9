"""The rating page on a self-service terminal, in a real browser: Debian's headless Chromium
driven through chromedriver, at the three panel sizes of terminals, with touch. The terminal's
application pushes the case and opens the page; a finger rates; the browser lands back on the
application. A double tap, a reload, another origin's post and a stale page rate nothing; the
province receives what was rated, from the web source.

`HAOCHAPING_WEB_SCREENS=docs/screens` keeps the pictures for docs/screens.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By

from device.screen.contrast import MINIMUM, ratio
from device.screen.layout import Layout
from device.screen.palette import LEVEL_COLOURS
from simulator.terminal import SelfServiceTerminal
from tests.support.kiosk import (
    AUDIT,
    CHROMEDRIVER,
    CHROMIUM,
    MM,
    SIZES,
    Kiosk,
    ledger_events,
    ledger_ratings,
    web_reactions,
)
from tests.support.polling import wait_until

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="no chromium/chromedriver (Debian: apt-get install chromium chromium-driver)",
    ),
    pytest.mark.web_terminal_timing(rating_s=10, rate_later_s=5),
]
KEEP = os.environ.get("HAOCHAPING_WEB_SCREENS")


def keep(kiosk: Kiosk, tmp_path: Path, name: str) -> None:
    """A picture of the page; copied to the docs folder when asked for."""
    shot = tmp_path / f"{name}.png"
    kiosk.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if KEEP:
        shutil.copy(shot, Path(KEEP) / f"{name}.png")


def ratings_of(terminal: SelfServiceTerminal, project_no: str) -> list[dict[str, Any]]:
    assert terminal.config is not None
    found = ledger_ratings(terminal.config.ledger_path)
    return [r for r in found if r["projectNo"] == project_no]


def start_service(kiosk: Kiosk, terminal: SelfServiceTerminal, service: str) -> str:
    """On the terminal's application: finish *service*; the rating page opens. Its case."""
    kiosk.open(terminal.app.origin + "/")
    kiosk.tap(kiosk.find(f"#finish-{service}"))
    wait_until(lambda: "/rate/" in kiosk.url and kiosk.state() == "rating", "the rating page")
    assert terminal.app.last_push is not None
    return str(terminal.app.last_push["case"]["projectNo"])


def audit(kiosk: Kiosk, width: int, height: int) -> None:
    """Text no smaller than the window's at this size, 4.5:1 contrast, 15 mm targets."""
    found = kiosk.run(AUDIT)
    body = Layout(width, height).body
    assert found["texts"], "no text on the page"
    for text in found["texts"]:
        assert text["px"] >= body - 0.5, text
        assert ratio(tuple(text["fg"]), tuple(text["bg"])) >= MINIMUM, text
    for target in found["targets"]:
        assert min(target["w"], target["h"]) >= 15 * MM - 0.5, target


def back_on_the_application(kiosk: Kiosk, terminal: SelfServiceTerminal) -> None:
    wait_until(lambda: kiosk.url.startswith(terminal.app.origin + "/done"), "back on the app", 15)
    assert "已返回终端应用" in kiosk.text()


@pytest.mark.parametrize(
    ("size", "service"),
    [(SIZES[0], "self_service"), (SIZES[1], "indicators"), (SIZES[2], "batch")],
    ids=["1080x1920", "1920x1080", "1280x800"],
)
def test_a_rater_rates_by_touch_and_the_terminal_gets_its_screen_back(
    web_terminal, chromium_kiosk, tmp_path, size, service
):
    kiosk, (width, height) = chromium_kiosk, size
    kiosk.resize(width, height)
    project_no = start_service(kiosk, web_terminal, service)
    page = kiosk.text()
    assert project_no in page or "批量办件 共 4 件" in page
    if service == "self_service":
        assert "社保缴费证明打印" in page and "终端机编号：ZZ-0031" in page
    audit(kiosk, width, height)
    if service != "indicators":  # the window's colour for each level, label and face on it
        for level, colour in LEVEL_COLOURS.items():
            button = kiosk.find(f'#single .level[data-level="{int(level)}"]')
            assert button.value_of_css_property("background-color") == "rgba({}, {}, {}, 1)".format(
                *colour
            )
            assert button.find_element(By.CSS_SELECTOR, "svg.face").is_displayed()
    keep(kiosk, tmp_path, f"web-rating-{service}-{width}x{height}")
    if service == "self_service":  # a bad level: the reasons page, every tag reachable
        kiosk.tap(kiosk.find('#single .level[data-level="2"]'))
        wait_until(lambda: kiosk.state() == "reasons", "the reasons page")
        tags = kiosk.find_all(".tag")
        assert len(tags) >= 5 and all(t.is_displayed() for t in tags)
        kiosk.tap(kiosk.find("#submit"))  # no reason yet: the page asks for one
        wait_until(lambda: "请先选择至少一个原因" in kiosk.text(), "asked for a reason")
        audit(kiosk, width, height)
        keep(kiosk, tmp_path, f"web-reasons-{width}x{height}")
        chosen = [tags[0].get_attribute("data-tag"), tags[-1].get_attribute("data-tag")]
        for code in chosen:
            kiosk.tap(kiosk.find(f'.tag[data-tag="{code}"]'))
            wait_until(
                lambda c=code: (
                    kiosk.find(f'.tag[data-tag="{c}"]').get_attribute("aria-pressed") == "true"
                ),
                "the tag ticked",
            )
        kiosk.tap(kiosk.find("#submit"))
    elif service == "indicators":  # overall, business and service: each row, then 提交
        rows = kiosk.find_all("#rows .row")
        assert len(rows) == 3
        for row, level in (("overall", 5), ("business", 4), ("service", 5)):
            kiosk.tap(kiosk.find(f'#rows .level[data-row="{row}"][data-level="{level}"]'))
            wait_until(
                lambda r=row, lv=level: (
                    kiosk.find(f'#rows .level[data-row="{r}"][data-level="{lv}"]').get_attribute(
                        "aria-pressed"
                    )
                    == "true"
                ),
                f"{row} rated",
            )
        keep(kiosk, tmp_path, f"web-rows-{width}x{height}")
        kiosk.tap(kiosk.find("#submit-rows"))
    else:
        kiosk.tap(kiosk.find('#single .level[data-level="5"]'))
    wait_until(lambda: kiosk.state() in ("thanks", "rated"), "the thanks page")
    if kiosk.state() == "thanks":
        audit(kiosk, width, height)
        keep(kiosk, tmp_path, f"web-thanks-{width}x{height}")
    back_on_the_application(kiosk, web_terminal)
    (record,) = ratings_of(web_terminal, project_no)
    assert record["source"] == "web" and record["pf"] == 5
    assert 0 < record["reactionMs"] < 10_000
    assert web_terminal.config is not None
    reaction = next(
        r for r in web_reactions(web_terminal.config.ledger_path) if r[0] == record["seq"]
    )
    assert reaction[1] is not None and reaction[1] <= reaction[2]  # browser ≤ device
    if service == "self_service":
        assert record["satisfaction"] == 2 and set(record["evalDetail"]) == set(chosen)
    if service == "indicators":
        assert record["indicators"] == {"business": 4, "service": 5}
    if service == "batch":
        assert len(record["batchProjectNos"]) == 4


def test_a_double_tap_and_a_reload_rate_once(web_terminal, chromium_kiosk, tmp_path):
    kiosk = chromium_kiosk
    kiosk.resize(1280, 800)
    project_no = start_service(kiosk, web_terminal, "self_service")
    rating_page = kiosk.url
    kiosk.tap(kiosk.find('#single .level[data-level="4"]'), times=2)
    back_on_the_application(kiosk, web_terminal)
    kiosk.open(rating_page)  # the page again, after its rating: it says so and goes back
    wait_until(lambda: kiosk.state() == "rated", "the page saying it was rated")
    assert "该办件已评价" in kiosk.text()
    assert not kiosk.find("#single").is_displayed()  # no button left to press
    keep(kiosk, tmp_path, "web-rated-1280x800")
    back_on_the_application(kiosk, web_terminal)
    (record,) = ratings_of(web_terminal, project_no)
    assert record["satisfaction"] == 4


def test_another_origins_page_cannot_press_even_with_the_token(web_terminal, chromium_kiosk):
    kiosk = chromium_kiosk
    kiosk.resize(1920, 1080)
    project_no = start_service(kiosk, web_terminal, "intake")
    assert "请您对收件窗口的服务进行评价" in kiosk.text()
    settings = kiosk.run(
        "return JSON.parse(document.querySelector('meta[name=rate-page]').content)"
    )
    press_url = f"{web_terminal.device_origin}/rate/{settings['page']}/press"
    kiosk.open(web_terminal.app.origin + "/")  # a page of another origin, in the same browser
    outcome = kiosk.run_async(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', headers: {'Content-Type': 'application/json',"
        " 'X-Page-Token': arguments[1]}, body: JSON.stringify({action: 'level', level: 1})})"
        ".then(r => done('answered ' + r.status), e => done('blocked ' + e.name));"
        "",
        press_url,
        settings["token"],
    )
    assert outcome.startswith("blocked")  # no CORS: the browser does not even send it
    simple = kiosk.run_async(  # a "simple" post needs no preflight: the device refuses it
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', mode: 'no-cors', headers: {'Content-Type':"
        " 'text/plain'}, body: JSON.stringify({action: 'level', level: 1})})"
        ".then(r => done('sent ' + r.type), e => done('blocked ' + e.name));",
        press_url,
    )
    assert simple in ("sent opaque", "blocked TypeError")
    assert web_terminal.client.cancel(project_no)  # still waiting for its own rater
    assert ratings_of(web_terminal, project_no) == []


def test_a_stale_page_says_its_case_ended_and_goes_back(web_terminal, chromium_kiosk, tmp_path):
    kiosk = chromium_kiosk
    kiosk.resize(1080, 1920)
    first = start_service(kiosk, web_terminal, "self_service")
    stale = kiosk.url
    second = start_service(kiosk, web_terminal, "self_service")  # takes the first one's place
    current = kiosk.url
    kiosk.open(stale)
    wait_until(lambda: kiosk.state() == "ended", "the page saying it ended")
    assert "本次评价页面已结束" in kiosk.text()
    audit(kiosk, 1080, 1920)
    keep(kiosk, tmp_path, "web-ended-1080x1920")
    back_on_the_application(kiosk, web_terminal)
    assert web_terminal.config is not None
    ledger = web_terminal.config.ledger_path
    wait_until(lambda: any(e["projectNo"] == first for e in ledger_events(ledger)), "ended")
    assert ratings_of(web_terminal, first) == []
    # the second, left alone: timeout, the rate-later code, then back to the application
    kiosk.open(current)
    wait_until(lambda: kiosk.state() == "rate_later", "the rate-later page", 20)
    wait_until(lambda: kiosk.run("return document.getElementById('code').naturalWidth") > 0, "QR")
    audit(kiosk, 1080, 1920)
    keep(kiosk, tmp_path, "web-rate-later-1080x1920")
    back_on_the_application(kiosk, web_terminal)
    events = {e["projectNo"]: e for e in ledger_events(ledger)}
    assert events[first]["kind"] == "replaced" and events[second]["kind"] == "not_rated"
    assert ratings_of(web_terminal, second) == []


def test_the_province_receives_the_web_ratings(web_terminal):
    assert web_terminal.config is not None
    ours = [r for r in ledger_ratings(web_terminal.config.ledger_path)]
    assert len(ours) >= 4
    store = web_terminal.province.store
    wait_until(lambda: all(store.evaluation(r["evaluationId"]) for r in ours), "delivered", 30)
    for record in ours:
        stored = store.evaluation(record["evaluationId"])
        assert stored is not None
        assert (stored["source"], stored["reactionMs"]) == ("web", record["reactionMs"])


def test_a_page_opened_again_elsewhere_and_a_refused_return_say_so(
    web_terminal, chromium_kiosk, tmp_path
):
    kiosk = chromium_kiosk
    kiosk.resize(1280, 800)
    project_no = start_service(kiosk, web_terminal, "self_service")
    page = kiosk.url.split("?")[0]
    again = requests.get(page, timeout=10)  # a second opening: the kiosk's token is retired
    assert again.status_code == 200
    wait_until(lambda: "评价页面已在另一处打开" in kiosk.text(), "the old tab told", 15)
    keep(kiosk, tmp_path, "web-elsewhere-1280x800")
    kiosk.open(f"{page}?returnUrl=http%3A%2F%2Fevil.example%2F")
    assert kiosk.state() == "refused" and "返回地址不在允许范围内" in kiosk.text()
    audit(kiosk, 1280, 800)
    keep(kiosk, tmp_path, "web-refused-return-1280x800")
    assert web_terminal.client.cancel(project_no)
    assert ratings_of(web_terminal, project_no) == []

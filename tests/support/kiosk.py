"""A kiosk browser nobody scripted the page for: Debian's headless Chromium through its
chromedriver (Selenium), sized like a terminal's panel with touch emulation, tapping with a
finger (WebDriver touch actions), reading what the page shows.

One browser for a whole module: `resize` turns it into the next terminal.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
SIZES = ((1080, 1920), (1920, 1080), (1280, 800))
MM = 96 / 25.4  # CSS pixels in a millimetre


class Kiosk:
    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None and CHROMEDRIVER is not None
        options = Options()
        options.binary_location = CHROMIUM
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"):
            options.add_argument(arg)
        options.add_argument("--disable-background-networking")
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument("--window-size=1920,1920")
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(20)

    def close(self) -> None:
        self.driver.quit()

    def resize(self, width: int, height: int) -> None:
        """The panel of a terminal: its size in CSS pixels, touch on."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        touch = {"enabled": True, "maxTouchPoints": 5}
        self.driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", touch)

    def open(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    def find(self, selector: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def tap(self, element: WebElement, times: int = 1) -> None:
        """A finger on the element's middle, *times* times in quick succession at the same
        place (whatever the page shows there by the second)."""
        self.run("arguments[0].scrollIntoView({block: 'center'})", element)
        x, y = self.run(
            "const r = arguments[0].getBoundingClientRect();"
            "return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];",
            element,
        )
        finger = PointerInput(interaction.POINTER_TOUCH, "finger")
        actions = ActionBuilder(self.driver, mouse=finger)
        for n in range(times):
            actions.pointer_action.move_to_location(x, y).pointer_down().pointer_up()
            if n < times - 1:
                actions.pointer_action.pause(0.03)
        actions.perform()

    def state(self) -> str:
        """The rating page's state; "" while no rating page is (yet) loaded."""
        try:
            return str(self.find("#page").get_attribute("data-state"))
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def text(self) -> str:
        return str(self.find("body").text)

    def run(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def run_async(self, script: str, *args: Any) -> Any:
        return self.driver.execute_async_script(script, *args)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))


# Every visible text on the page: its size, colour, the colour behind it; every control's box.
AUDIT = """
const out = {texts: [], targets: []};
function parseColour(c) { const m = c.match(/[\\d.]+/g).map(Number);
  return {rgb: m.slice(0, 3), alpha: m.length > 3 ? m[3] : 1}; }
function behind(e) { for (let n = e; n; n = n.parentElement) {
  const c = parseColour(getComputedStyle(n).backgroundColor);
  if (c.alpha > 0.5) return c.rgb; } return [255, 255, 255]; }
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let t = walker.nextNode(); t; t = walker.nextNode()) {
  const e = t.parentElement; if (!t.textContent.trim() || !e.getClientRects().length) continue;
  const s = getComputedStyle(e); if (s.visibility === 'hidden') continue;
  out.texts.push({text: t.textContent.trim().slice(0, 40), px: parseFloat(s.fontSize),
    fg: parseColour(s.color).rgb, bg: behind(e)}); }
for (const b of document.querySelectorAll('button')) { const r = b.getBoundingClientRect();
  if (r.width && r.height) out.targets.push({text: b.textContent.trim().slice(0, 20),
    w: r.width, h: r.height}); }
return out;
"""


def ledger_ratings(ledger: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(ledger)
    try:
        rows = conn.execute("SELECT record FROM ratings ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def ledger_events(ledger: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(ledger)
    try:
        rows = conn.execute("SELECT event FROM case_events ORDER BY event_seq").fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def web_reactions(ledger: Path) -> list[tuple[int, int | None, int, int]]:
    conn = sqlite3.connect(ledger)
    try:
        return conn.execute(
            "SELECT seq, page_ms, device_ms, signed_ms FROM web_reactions ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()

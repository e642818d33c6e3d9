"""A real headless Chromium driven over the DevTools protocol on a pipe (no extra package):
open a page at a phone's size, tap what a finger would tap, type, read the page, take a picture.

Taps are mouse presses at the element's place on screen, so a hidden element cannot be tapped.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
PHONE = (390, 844)


class BrowserError(AssertionError):
    """Chromium answered with an error or not at all."""


class Phone:
    """One tab of a headless Chromium the size of a phone; `close()` ends the browser."""

    def __init__(self, profile: Path, size: tuple[int, int] = PHONE) -> None:
        if CHROMIUM is None:
            raise BrowserError("no chromium on PATH")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # the child's ends move above 3 and 4 first, so the redirections cannot clash
        to_chrome_r, from_chrome_w = (_above_four(fd) for fd in (to_chrome_r, from_chrome_w))
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe"]
        args += ["--disable-background-networking", "--disable-component-update"]
        args += ["--disable-sync", "--no-first-run", f"--user-data-dir={profile}"]
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self._process = subprocess.Popen(
            ["bash", "-c", script, CHROMIUM, *args],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.call("Page.enable")
        width, height = size
        metrics = {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True}
        self.call("Emulation.setDeviceMetricsOverride", metrics)

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self._send("Browser.close", timeout=5)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        os.close(self._to_chrome)
        os.close(self._from_chrome)

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what a person does -------------------------------------------------------------

    def open(self, url: str) -> None:
        self._events.clear()
        self.call("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired")

    def tap(self, selector: str, *, navigates: bool = False) -> None:
        """Press and release at the middle of the first element matching *selector*."""
        found = f"const e = document.querySelector({json.dumps(selector)});"
        place = self.evaluate(
            "(() => { " + found + " if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return r.width && r.height ? [r.left + r.width / 2, r.top + r.height / 2] : null;"
            " })()"
        )
        if place is None:
            raise BrowserError(f"nothing visible to tap at {selector}")
        x, y = place
        if navigates:
            self._events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            event = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            self.call("Input.dispatchMouseEvent", event)
        if navigates:
            self._wait_event("Page.loadEventFired")

    def type_text(self, selector: str, text: str) -> None:
        self.tap(selector)
        self.call("Input.insertText", {"text": text})

    def text(self) -> str:
        """What the page says, as a reader sees it (hidden parts left out)."""
        return str(self.evaluate("document.body.innerText"))

    def visible(self, selector: str) -> bool:
        found = f"const e = document.querySelector({json.dumps(selector)});"
        return bool(
            self.evaluate(
                "(() => { " + found + " return !!e && e.getClientRects().length > 0; })()"
            )
        )

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in answer:
            raise BrowserError(f"script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(data)
        return data

    # -- the protocol -------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send(method, params, session=self._session)

    def _send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline, f"{method} answered")
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self._events.append(answer)

    def _wait_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self._events:
                if event["method"] == name:
                    self._events.remove(event)
                    return event
            answer = self._read(deadline, name)
            if "method" in answer:
                self._events.append(answer)

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, left))
            if not ready:
                raise BrowserError(f"chromium: no {waiting_for} in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise BrowserError("chromium went away")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def _above_four(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high

"""The counter console of a simulated hall: a small local web page to act as the window's
business system (push a case of every kind, cancel, sign staff in and out), as a rater on
the keypad (keys 1-5, pull and put back the cable) and as the province's operator (faults).

Plain HTML forms, no script; every action is a POST that redirects back to the page.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from simulator.hall import Hall, SimulatedWindow

log = logging.getLogger(__name__)
FAULTS = ("down", "slow", "error500", "rate", "unavailable", "drop_after_commit", "reject")
STAFF = (("0421", "王敏"), ("0533", "李娜"), ("0612", "赵强"), ("0708", "陈静"))


def sample_cases() -> dict[str, dict[str, Any]]:
    text = resources.files("simulator").joinpath("sample_cases.json").read_text("utf-8")
    return json.loads(text)


class Console:
    def __init__(self, hall: Hall, port: int = 0) -> None:
        self.hall = hall
        self.cases = sample_cases()
        self._serial = itertools.count(1)
        self.messages: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            daemon=True,
            kwargs={"poll_interval": 0.5},
            name="console",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- actions ----------------------------------------------------------------------

    def act(self, form: dict[str, str]) -> str:
        """Carry out one form; returns what happened, for the page's message line."""
        action = form.get("action", "")
        if action == "fault":
            return self._fault(form)
        index = int(form.get("window", "1")) - 1
        if not 0 <= index < len(self.hall.windows):
            raise ValueError("no such window")
        window = self.hall.windows[index]
        if action == "push":
            return self._push(window, form.get("kind", "window"))
        if action == "key":
            key = int(form["key"])
            if not 1 <= key <= 5:
                raise ValueError("keys are 1-5")
            window.keypad.press(key)
            return f"window {window.window_no}: key {key} pressed"
        if action == "sign_in":
            number, name = STAFF[index % len(STAFF)]
            window.client.sign_in(number, name)
            return f"window {window.window_no}: {name} ({number}) signed in"
        if action == "sign_out":
            window.client.sign_out()
            return f"window {window.window_no}: staff signed out"
        if action == "cancel":
            no = window.client.status().get("projectNo") or ""
            done = bool(no) and window.client.cancel(no)
            return f"window {window.window_no}: " + (
                f"{no} cancelled" if done else "nothing to cancel"
            )
        if action in ("unplug", "replug"):
            getattr(window.keypad, action)()
            return f"window {window.window_no}: keypad {action}ged"
        raise ValueError(f"unknown action {action!r}")

    def _push(self, window: SimulatedWindow, kind: str) -> str:
        if kind not in self.cases:
            raise ValueError(f"no sample case {kind!r}")
        case = dict(self.cases[kind])
        serial = next(self._serial)
        case["projectNo"] = f"SIM{window.window_no}{serial:05d}"
        if case.get("batchProjectNos"):
            case["batchProjectNos"] = [case["projectNo"]] + [
                f"{case['projectNo']}-{n}" for n in range(1, len(case["batchProjectNos"]))
            ]
        if window.config and window.config.device.mode == "window":
            case.pop("terminalNo", None)
        response = window.client.session.post(
            f"{window.client.base_url}/cases", json=case, timeout=5
        )
        if response.status_code != 202:
            return f"window {window.window_no}: refused — {response.json().get('message')}"
        return f"window {window.window_no}: {kind} case {case['projectNo']} pushed"

    def _fault(self, form: dict[str, str]) -> str:
        kind = form.get("kind", "")
        if kind == "clear":
            self.hall.province.faults.clear()
            return "province: all faults cleared"
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        self.hall.province.faults.set(kind, float(form.get("probability", "1")))
        return f"province: {kind} on"

    # -- the page ---------------------------------------------------------------------

    def page(self) -> str:
        rows = "".join(self._window_panel(w, n) for n, w in enumerate(self.hall.windows, 1))
        faults = "".join(
            f'<button name="kind" value="{k}">{k}</button>' for k in (*FAULTS, "clear")
        )
        active = ", ".join(sorted(self.hall.province.faults.active())) or "none"
        message = html.escape(self.messages[-1]) if self.messages else ""
        return PAGE.format(
            windows=rows,
            faults=faults,
            active=html.escape(active),
            province=html.escape(self.hall.province.root_url),
            message=message,
        )

    def _window_panel(self, window: SimulatedWindow, n: int) -> str:
        status = window.client.status() if window.client else {}
        kinds = "".join(
            f'<button name="kind" value="{k}">{html.escape(k)}</button>' for k in self.cases
        )
        keys = "".join(f'<button name="key" value="{k}">{k}</button>' for k in range(1, 6))
        staff = status.get("staff") or {}
        facts = (
            f"phase <b>{html.escape(str(status.get('phase')))}</b> · case "
            f"{html.escape(str(status.get('projectNo') or '-'))} · staff "
            f"{html.escape(str(staff.get('proManager') or '-'))} · keypad "
            f"{'connected' if status.get('keypadConnected') else 'lost'} · rated "
            f"{status.get('ratedSinceStart', 0)}"
        )
        form = f'<form method="post" action="/act"><input type="hidden" name="window" value="{n}">'
        return (
            f"<section><h2>窗口 {html.escape(window.window_no)}</h2><p>{facts}</p>"
            f'{form}<input type="hidden" name="action" value="push">push: {kinds}</form>'
            f'{form}<input type="hidden" name="action" value="key">keypad: {keys}</form>'
            f"{form}"
            + "".join(
                f'<button name="action" value="{a}">{a.replace("_", " ")}</button>'
                for a in ("sign_in", "sign_out", "cancel", "unplug", "replug")
            )
            + "</form></section>"
        )


PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="3"><title>好差评 hall console</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}}section{{border:1px solid #ccd;
padding:.5em 1em;margin:.8em 0;border-radius:8px}}button{{margin:.15em}}.msg{{color:#145}}</style>
</head><body><h1>好差评 hall console</h1><p class="msg">{message}</p>{windows}
<section><h2>Province</h2><p>faults on: {active} · <a href="{province}/">officer's page</a></p>
<form method="post" action="/act"><input type="hidden" name="action" value="fault">{faults}
</form></section></body></html>"""


def _handler(console: Console) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("console: " + format, *args)

        def do_GET(self) -> None:
            if self.path != "/":
                self._reply(HTTPStatus.NOT_FOUND, "not found")
                return
            self._reply(HTTPStatus.OK, console.page(), "text/html; charset=utf-8")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/act" or length > 4096:
                self._reply(HTTPStatus.BAD_REQUEST, "bad request")
                return
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            try:
                console.messages.append(console.act(form))
            except (ValueError, KeyError, OSError) as exc:
                console.messages.append(f"not done: {exc}")
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _reply(self, status: HTTPStatus, text: str, kind: str = "text/plain") -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler

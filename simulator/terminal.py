"""A simulated self-service terminal: a provisioned evaluator with no window of its own
(`[display] kind = "web"`), its sync, and the terminal's own application, a small web page on
another port that finishes a transaction, pushes the case and opens the rating page; the
rating page sends the browser back to it when the rating is done.

The evaluator and the sync are the real programs, as child processes on loopback.
"""

from __future__ import annotations

import html
import itertools
import logging
import subprocess
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from device.daemon.config import (
    Config,
    DisplayKind,
    DisplaySection,
    RateLaterSection,
    RatePageSection,
)
from device.flow.mode import Mode
from provisioning.setup_device import SiteAnswers, provision
from simulator import processes
from simulator.console import sample_cases
from simulator.hall import DEMO_AREA, DEMO_DEPT, PHONE_QUERY, StandInProvince, free_port
from simulator.local_client import EvaluatorClient

log = logging.getLogger(__name__)
TERMINAL_NO = "ZZ-0031"
SERVICES = ("self_service", "intake", "batch", "indicators", "theme")


class TerminalApp:
    """The terminal's application: pick a service, finish it, rate it, come back."""

    def __init__(self, terminal: SelfServiceTerminal) -> None:
        self.terminal = terminal
        self.cases = {k: v for k, v in sample_cases().items() if k in SERVICES}
        self._serial = itertools.count(1)
        self.last_push: dict[str, Any] | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="terminal-app"
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def finish(self, service: str) -> str:
        """The transaction is done: push its case; the rating page's address to open."""
        case = renumbered(self.cases[service], next(self._serial))
        answer = self.terminal.client.push_case(case)
        self.last_push = {"case": case, "answer": answer}
        back = quote(f"{self.origin}/done?case={case['projectNo']}", safe="")
        return f"{self.terminal.device_origin}{answer['ratePage']}?returnUrl={back}"


def renumbered(case: dict[str, Any], serial: int) -> dict[str, Any]:
    """A sample case with fresh case numbers (the *serial*-th transaction of this terminal)."""

    def number(old: str, item: int) -> str:
        return f"{old[:-5]}{serial % 1000:03d}{item:02d}"

    fresh = {**case, "projectNo": number(case["projectNo"], 0)}
    if case.get("batchProjectNos"):
        fresh["batchProjectNos"] = [number(n, i) for i, n in enumerate(case["batchProjectNos"])]
    if case.get("theme"):
        items = case["theme"]["items"]
        fresh["theme"] = {
            **case["theme"],
            "items": [
                {**it, "projectNo": number(it["projectNo"], i + 1)} for i, it in enumerate(items)
            ],
        }
    return fresh


def _handler(app: TerminalApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/":
                self._page(_home(app))
            elif path == "/done":
                case = parse_qs(query).get("case", [""])[0]
                self._page(_done(case))
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode("utf-8"))
            service = form.get("service", [""])[0]
            if self.path != "/finish" or service not in app.cases:
                self.send_error(HTTPStatus.BAD_REQUEST)
                return
            try:
                target = app.finish(service)
            except Exception as exc:  # the evaluator refused: say so on the terminal
                log.warning("terminal app: push refused: %s", exc)
                self._page(_home(app, f"评价器未接收：{exc}"))
                return
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _page(self, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("terminal app: " + format, *args)

    return Handler


STYLE = (
    "body{font-family:sans-serif;margin:0;background:#0d3b66;color:#fff;font-size:24px}"
    "main{padding:24px;display:flex;flex-direction:column;gap:16px}"
    "button{font-size:26px;min-height:80px;width:100%;border:0;border-radius:12px;"
    "background:#fff;color:#0d3b66;font-weight:700}"
    "p.error{background:#fff;color:#b03418;padding:12px;border-radius:8px}"
)


def _home(app: TerminalApp, error: str | None = None) -> str:
    buttons = "".join(
        f'<form method="post" action="/finish"><input type="hidden" name="service"'
        f' value="{html.escape(key)}"><button type="submit" id="finish-{html.escape(key)}">'
        f"办结：{html.escape(case['taskName'])}</button></form>"
        for key, case in app.cases.items()
    )
    note = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return (
        '<!DOCTYPE html><html lang="zh-Hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>自助服务终端</title><style>{STYLE}</style></head><body><main>"
        f"<h1>自助服务终端（模拟） {TERMINAL_NO}</h1>{note}"
        f"<p>选择一项业务并办结，随后打开评价页面。</p>{buttons}</main></body></html>"
    )


def _done(project_no: str) -> str:
    return (
        '<!DOCTYPE html><html lang="zh-Hans"><head><meta charset="utf-8">'
        f"<title>自助服务终端</title><style>{STYLE}</style></head><body><main>"
        '<h1 id="back-home">已返回终端应用</h1>'
        f"<p>办件 {html.escape(project_no)} 的评价页面已结束。</p>"
        '<p><a href="/" style="color:#fff">继续办理</a></p></main></body></html>'
    )


class SelfServiceTerminal:
    """Provision, start and stop one web terminal against *province*."""

    def __init__(
        self,
        workdir: Path,
        province: StandInProvince,
        *,
        language: str = "zh-Hans",
        rating_s: int = 30,
        rate_later_s: int = 20,
    ) -> None:
        self.workdir = workdir
        self.province = province
        self.language = language
        self.rating_s, self.rate_later_s = rating_s, rate_later_s
        self.app = TerminalApp(self)
        self.config: Config | None = None
        self._client: EvaluatorClient | None = None
        self.evaluator: subprocess.Popen[bytes] | None = None
        self.sync: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "device.toml"

    @property
    def client(self) -> EvaluatorClient:
        if self._client is None:
            raise RuntimeError("the terminal has not been started")
        return self._client

    @property
    def device_origin(self) -> str:
        assert self.config is not None
        return f"http://127.0.0.1:{self.config.local_api.port}"

    def provision(self) -> Config:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = provision(
            config_path=self.config_path,
            state_dir=self.workdir / "state",
            province_url=self.province.url,
            token=self.province.issue_token(),
            site=SiteAnswers(
                area_code=DEMO_AREA,
                dept_code=DEMO_DEPT,
                hall_code="H01",
                mode=Mode.SELF_SERVICE,
                terminal_no=TERMINAL_NO,
            ),
            local_api_port=free_port(),
            display=DisplaySection(
                kind=DisplayKind.WEB,
                language=self.language,
                rating_timeout_s=self.rating_s,
                rate_later_s=self.rate_later_s,
            ),
            rate_page=RatePageSection(return_urls=[self.app.origin + "/done"]),
            serial="SIM-TERMINAL",
            rate_later=RateLaterSection(url_template=self.province.url + PHONE_QUERY),
        )
        return self.config

    def start(self, ready_timeout_s: float = 30.0) -> None:
        self.app.start()
        if self.config is None:
            self.provision()
        assert self.config is not None
        env = processes.device_env(headless=True)
        args = ["run", "--config", str(self.config_path)]
        self.evaluator = processes.start_module("device", args, self.workdir / "evaluator.log", env)
        self.sync = processes.start_module("sync", args, self.workdir / "sync.log", env)
        self._client = EvaluatorClient(f"{self.device_origin}/api/v1", self.config.local_api.token)
        self._client.wait_for(
            lambda s: s["phase"] == "idle", ready_timeout_s, "terminal ready", self.evaluator_gone
        )

    def evaluator_gone(self) -> str | None:
        if self.evaluator is None or self.evaluator.poll() is None:
            return None
        log = (self.workdir / "evaluator.log").read_text(errors="replace").strip().splitlines()
        return f"evaluator exited with {self.evaluator.returncode}: {' | '.join(log[-3:])}"

    def stop(self) -> dict[str, int]:
        codes = {}
        for name in ("evaluator", "sync"):
            process = getattr(self, name)
            if process is not None:
                codes[name] = processes.stop(process)
        if self._client is not None:
            self._client.close()
        self.app.stop()
        return codes

"""The evaluator's local HTTP API: the counter's business system pushes cases here.

Bearer-token authenticated, bounded bodies, strict validation; every error is JSON that
names the problem, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from device.case_intake import CaseError, parse_case
from device.rating import Case

log = logging.getLogger(__name__)
BASE = "/api/v1"
MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(
        self, status: HTTPStatus, code: str, message: str, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class LocalApi:
    """Serves the local API on a thread; hands cases to `on_case` (the main loop's inbox)."""

    def __init__(
        self,
        bind: str,
        port: int,
        token: str,
        on_case: Callable[[Case], None],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.token = token
        self.on_case = on_case
        self.status = status
        self._server = ThreadingHTTPServer((bind, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-api"
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def authorised(self, header: str | None) -> bool:
        expected = f"Bearer {self.token}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)


def _handler_for(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "haochaping-evaluator"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("local api: " + format, *args)

        def do_GET(self) -> None:
            self._dispatch(self._get)

        def do_POST(self) -> None:
            self._dispatch(self._post)

        def _dispatch(self, route: Callable[[], tuple[HTTPStatus, dict[str, Any]]]) -> None:
            try:
                if not api.authorised(self.headers.get("Authorization")):
                    raise ApiError(HTTPStatus.UNAUTHORIZED, "E_AUTH", "missing or wrong token")
                status, body = route()
            except ApiError as exc:
                self.close_connection = True  # the body may be unread: do not reuse the stream
                status = exc.status
                body = {"code": exc.code, "message": exc.message}
                if exc.field:
                    body["field"] = exc.field
            except Exception:
                log.exception("local api: unexpected error")
                status, body = (
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    {"code": "E_INTERNAL", "message": "internal error; see the device log"},
                )
            self._send(status, body)

        def _get(self) -> tuple[HTTPStatus, dict[str, Any]]:
            if self.path != f"{BASE}/status":
                raise ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", f"no resource {self.path}")
            return HTTPStatus.OK, api.status()

        def _post(self) -> tuple[HTTPStatus, dict[str, Any]]:
            if self.path != f"{BASE}/cases":
                raise ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", f"no resource {self.path}")
            body = self._json_body()
            try:
                case = parse_case(body)
            except CaseError as exc:
                raise ApiError(
                    HTTPStatus.UNPROCESSABLE_ENTITY, "E_FIELD", exc.message, exc.field
                ) from exc
            api.on_case(case)
            return HTTPStatus.ACCEPTED, {"projectNo": case.project_no, "status": "queued"}

        def _content_length(self) -> int:
            raw = self.headers.get("Content-Length")
            if raw is None or not raw.isdigit():
                raise ApiError(HTTPStatus.LENGTH_REQUIRED, "E_LENGTH", "Content-Length required")
            return int(raw)

        def _json_body(self) -> Any:
            length = self._content_length()
            if length > MAX_BODY:
                raise ApiError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    "E_TOO_LARGE",
                    f"body over {MAX_BODY} bytes",
                )
            raw = self.rfile.read(length)
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "body is not UTF-8 JSON") from exc

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler

"""HTTP plumbing of the stand-in province: replies, errors, routes, the threading server.
It hands each request to `app.dispatch()` and writes the Reply: JSON, HTML, or nothing at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from simulator.province import fast_json

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_DISCARD_BYTES = 16 * MAX_BODY_BYTES  # read and drop a refused body up to this size
DISCARD_SECONDS = 5
CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass
class Reply:
    status: int
    body: Any  # a JSON value; text when content_type is not JSON
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # close the connection after replying (body left unread, …)
    content_type: str = JSON_TYPE
    drop: bool = False  # close the connection without answering at all (a fault)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(0, None, drop=True)

    def encoded(self) -> bytes:
        if self.content_type == JSON_TYPE:
            return fast_json.dumps(self.body)
        return str(self.body).encode("utf-8")


class ApiError(Exception):
    """A whole-request error, answered as `{"code": "E_…", "message": "…", …}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        self.close = close

    def reply(self) -> Reply:
        body = {"code": self.code, "message": self.message, **self.extra}
        return Reply(self.status, body, self.headers, self.close)


def auth_error(message: str) -> ApiError:
    return ApiError(401, "E_AUTH", message)


def retry_later(status: int, code: str, message: str, seconds: int) -> ApiError:
    """429/503 with `Retry-After` as whole seconds, as the spec requires."""
    return ApiError(status, code, message, headers={"Retry-After": str(max(0, int(seconds)))})


@dataclass
class Request:
    method: str
    path: str  # as signed: the base path included, the query string left out
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str]
    device_id: str | None = None  # the authenticated device, on signed routes
    context: dict[str, Any] = field(default_factory=dict)  # per-request extras (fault plan)


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    signed: bool


class Router:
    """Maps METHOD and a path below the base path (`/devices/{deviceId}/audit`) to a handler."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, signed: bool = True) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self._routes.append(Route(method, re.compile(regex), handler, signed))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                "E_METHOD",
                f"{method} is not allowed here",
                headers={"Allow": ", ".join(allowed)},
            )
        raise ApiError(404, "E_NOT_FOUND", f"no such resource: {path}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(body: bytes) -> Any:
    """The parsed body; 400 E_JSON for anything that is not strict UTF-8 JSON."""
    parsed = fast_json.loads(body)
    if parsed is not fast_json.NOT_PARSED:
        return parsed
    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, parse_constant=_reject_constant)
        if SURROGATE_ESCAPE.search(text):  # rare: make sure no lone surrogate got through
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "E_JSON", f"the body is not valid UTF-8 JSON: {exc}") from None
    return parsed


class App(Protocol):
    def dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply: ...


class ProvinceHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so stop() can drop them."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    """HTTP framing only: read the body within limits, dispatch, write the reply with a length."""

    protocol_version = "HTTP/1.1"
    server_version = "province-standin/1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are two writes: don't wait for an ACK
    server: ProvinceHTTPServer
    _unread = 0  # bytes of a refused body still on the wire

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self._unread = 0
        try:
            body = self._read_body()
            reply = self.server.app.dispatch(self.command, self.path, self.headers, body)
        except ApiError as error:
            reply = error.reply()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        except Exception:  # a bug, never bad input: answer without a traceback
            log.exception("province: internal error on %s %s", self.command, self.path)
            reply = Reply(500, {"code": "E_INTERNAL", "message": "internal error"}, close=True)
        if reply.drop:
            self.close_connection = True  # the socket is closed with no status line sent
            return
        self._send(reply)
        if self._unread:
            self._discard_body(self._unread)

    def _read_body(self) -> bytes:
        """The body, refused before reading when it is chunked, unframed or over 1 MiB."""
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or (
            length_text is None and self.command in ("POST", "PUT", "PATCH")
        ):
            raise ApiError(400, "E_JSON", "a body needs a Content-Length header", close=True)
        if length_text is None:
            return b""
        if not CONTENT_LENGTH.fullmatch(length_text.strip()):
            raise ApiError(400, "E_JSON", "Content-Length is not a number", close=True)
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self._unread = length
            raise ApiError(
                413, "E_TOO_LARGE", f"bodies are limited to {MAX_BODY_BYTES} bytes", close=True
            )
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("the client closed the connection mid-body")
        return body

    def _discard_body(self, length: int) -> None:
        """Drop a refused body before closing, so the client reads the reply, not a reset."""
        if length > MAX_DISCARD_BYTES:
            return
        self.connection.settimeout(DISCARD_SECONDS)
        with contextlib.suppress(OSError):
            while length > 0:
                chunk = self.rfile.read(min(length, 64 * 1024))
                if not chunk:
                    break
                length -= len(chunk)

    def _send(self, reply: Reply) -> None:
        data = reply.encoded()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, unknown method) as JSON too, then close."""
        phrase = message or HTTPStatus(code).phrase
        self._send(Reply(code, {"code": "E_HTTP", "message": phrase}, close=True))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

"""Strict JSON over HTTP for the local API: routes, bearer token, bounded bodies, JSON errors.

Knows nothing of cases or staff; `device.local_api` supplies the routes.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("device.local_api.server")

MAX_BODY = 64 * 1024
IDLE_TIMEOUT_S = 10.0
_PROTOCOL_ERRORS = {
    HTTPStatus.REQUEST_URI_TOO_LONG: "E_URI_TOO_LONG",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "E_HEADERS",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "E_VERSION",
}


class ApiError(Exception):
    """An answer other than success: status, `E_…` code, message and the field at fault."""

    def __init__(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class _HangupError(Exception):
    """The client went quiet or away mid-request: close without an answer."""


class Body(Enum):
    NONE = "none"  # a body is refused
    JSON = "json"  # a JSON body is required
    OPTIONAL_JSON = "optional_json"  # no body, or a JSON body


@dataclass(frozen=True)
class Request:
    params: dict[str, str]  # path parameters, percent-decoded
    body: Any  # the decoded JSON (None for a JSON null or no body)
    has_body: bool = True  # False: no body was sent


@dataclass(frozen=True)
class Reply:
    status: HTTPStatus
    body: dict[str, Any] | bytes  # bytes are sent as they are (already JSON)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # e.g. "/api/v1/cases/{projectNo}"
    handle: Callable[[Request], Reply]
    body: Body = Body.NONE
    max_body: int = MAX_BODY
    public: bool = False  # served without the token

    def match(self, segments: list[str]) -> dict[str, str] | None:
        pattern = self.path.split("/")
        if len(pattern) != len(segments):
            return None
        params = {}
        for want, got in zip(pattern, segments, strict=True):
            if want.startswith("{") and want.endswith("}") and got:
                params[want[1:-1]] = unquote(got, errors="surrogateescape")
            elif want != got:
                return None
        return params


def find_route(routes: list[Route], method: str, target: str) -> tuple[Route, dict[str, str]]:
    """The route for `method` and the request target, or 404 / 405 (with Allow)."""
    segments = target.partition("?")[0].split("/")
    found = [(route, params) for route in routes if (params := route.match(segments)) is not None]
    for route, params in found:
        if route.method == method:
            return route, params
    if not found:
        raise ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", "no such resource")
    allow = ", ".join(sorted({route.method for route, _ in found}))
    raise ApiError(
        HTTPStatus.METHOD_NOT_ALLOWED,
        "E_METHOD",
        f"method not allowed here; use {allow}",
        headers={"Allow": allow},
    )


def refuse_query(target: str) -> None:
    query = target.partition("?")[2]
    if query:
        name = unquote(query.split("&")[0].split("=")[0], errors="replace")
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_QUERY", "this API takes no query", name)


def bearer_matches(header: str | None, token: bytes) -> bool:
    """Constant-time check of `Authorization: Bearer <token>`."""
    scheme, _, credentials = (header or "").partition(" ")
    presented = credentials.strip().encode("latin-1", "replace")
    return hmac.compare_digest(presented, token) and scheme.lower() == "bearer"


def decode_json(data: bytes, content_type: str | None) -> Any:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "E_MEDIA_TYPE", "send Content-Type: application/json"
        )
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_not_json)
    except _DuplicateKeyError as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "a key appears twice", exc.key) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "body is not UTF-8 JSON") from exc


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise _DuplicateKeyError(key)
        body[key] = value
    return body


class JsonServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # socketserver's 5 drops a burst of connects for a second

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("local api: connection from %s failed", client_address[0], exc_info=True)


def handler_for(routes: list[Route], token: str) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_JsonHandler,), {"routes": routes, "token": token.encode("utf-8")})


class _JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "haochaping-evaluator"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    routes: list[Route]
    token: bytes
    _unread = False  # the request announced a body that was not read: close after answering

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the router, so an unknown one gets 405 or 404, never 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local api: " + format, *args)

    def _serve(self) -> None:
        self._unread = "Transfer-Encoding" in self.headers or self._length() != 0
        headers: dict[str, str] = {}
        try:
            reply = self._answer()
            status, data = reply.status, _encode(reply.body)
        except _HangupError:
            self.close_connection = True
            return
        except ApiError as exc:
            log.info("local api: %s %s -> %s %.64r", self.command, _path(self), exc.code, exc.field)
            status, data, headers = exc.status, _encode(exc.body()), exc.headers
        except Exception:
            log.exception("local api: %s %s failed", self.command, _path(self))
            message = "internal error; see the device log"
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            data = _encode({"code": "E_INTERNAL", "message": message})
        self._send(status, data, headers)

    def _answer(self) -> Reply:
        route, params = find_route(self.routes, self.command, self.path)
        if not route.public and not bearer_matches(self.headers.get("Authorization"), self.token):
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "E_AUTH",
                "missing or wrong token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        data = self._read_body(route.max_body)
        refuse_query(self.path)
        return route.handle(Request(params, self._decode(route.body, data), bool(data)))

    def _length(self) -> int:
        """The announced body length; -1 when it cannot be read as one."""
        raw = self.headers.get_all("Content-Length") or ["0"]
        if len(set(raw)) != 1 or not (raw[0].isascii() and raw[0].isdigit()) or len(raw[0]) > 12:
            return -1
        return int(raw[0])

    def _read_body(self, limit: int) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise ApiError(
                HTTPStatus.LENGTH_REQUIRED, "E_LENGTH", "send the body with a Content-Length"
            )
        length = self._length()
        if length < 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "E_LENGTH", "Content-Length is not a number")
        if length > limit:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "E_TOO_LARGE", f"body over {limit} bytes"
            )
        try:
            data = self.rfile.read(length)
        except OSError as exc:  # timed out or reset
            raise _HangupError from exc
        if len(data) < length:
            raise _HangupError
        self._unread = False
        return data

    def _decode(self, kind: Body, data: bytes) -> Any:
        if not data:
            if kind is Body.JSON:
                raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "a JSON body is required")
            return None
        if kind is Body.NONE:
            raise ApiError(HTTPStatus.BAD_REQUEST, "E_BODY", "this operation takes no body")
        return decode_json(data, self.headers.get("Content-Type"))

    def _send(self, status: HTTPStatus, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self._unread or self.close_connection:
            self.send_header("Connection", "close")  # the stream is not at a request boundary
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (garbage, oversized request line or headers) as JSON, then close."""
        status = HTTPStatus(code)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # unparsable request line: answer in HTTP/1.0
            self.request_version = "HTTP/1.0"
        body = {"code": _PROTOCOL_ERRORS.get(status, "E_REQUEST"), "message": status.phrase}
        log.info("local api: protocol error %d from %s", code, self.client_address[0])
        self._send(status, _encode(body))


def _encode(body: dict[str, Any] | bytes) -> bytes:
    """UTF-8 JSON; escaped instead when a field name from the request holds a lone surrogate."""
    if isinstance(body, bytes):
        return body
    try:
        return json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body).encode()


def _path(handler: BaseHTTPRequestHandler) -> str:
    return f"{handler.path.partition('?')[0]:.80}"

"""The stand-in province's HTTP policy on the shared shell (`device.daemon.http`): every body
read before dispatch (up to 1 MiB), `E_JSON` for framing errors, `E_HTTP` for protocol errors.
It hands each request to `app.dispatch()` and writes the Reply: JSON, HTML, or nothing at all.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, Protocol, cast

from device.daemon.connections import Limits
from device.daemon.http import (
    HTML_TYPE,
    JSON_TYPE,
    ApiError,
    Framing,
    HttpServer,
    JsonHandler,
    Reply,
    Router,
    not_json,
)
from device.daemon.http import Request as HttpRequest
from device.daemon.http import Route as HttpRoute
from simulator.province.speed import fast_json

__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "MAX_BODY_BYTES",
    "ApiError",
    "DeviceRouter",
    "ProvinceHTTPServer",
    "Reply",
    "Request",
    "Route",
    "auth_error",
    "json_body",
    "retry_later",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_DISCARD_BYTES = 16 * MAX_BODY_BYTES  # read and drop a refused body up to this size
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
BODY_METHODS = ("POST", "PUT", "PATCH")
# A fleet benchmark's thousand devices each keep a connection alive: room for all of them.
LIMITS = Limits(connections=2048, header_s=30.0, idle_s=30.0, body_s=60.0, wait_s=1.0)


def auth_error(message: str) -> ApiError:
    return ApiError(401, "E_AUTH", message)


def retry_later(status: int, code: str, message: str, seconds: int) -> ApiError:
    """429/503 with `Retry-After` as whole seconds, as the spec requires."""
    return ApiError(status, code, message, headers={"Retry-After": str(max(0, int(seconds)))})


@dataclass
class Request(HttpRequest):
    device_id: str | None = None  # the authenticated device, on signed routes
    context: dict[str, Any] = field(default_factory=dict)  # per-request extras (fault plan)


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Route(HttpRoute):
    signed: bool = True  # the request must carry the device's signature headers


class DeviceRouter(Router):
    """Maps METHOD and a path below the base path (`/devices/{deviceId}/audit`) to a handler."""

    decode_params = False

    def add(self, method: str, template: str, handler: Handler, *, signed: bool = True) -> None:
        self.routes.append(Route(method, template, handler, signed))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        route, params = super().match(method, path)
        return cast(Route, route), params

    def not_found(self, path: str) -> ApiError:
        return ApiError(404, "E_NOT_FOUND", f"no such resource: {path}")

    def not_allowed(self, method: str, allowed: list[str]) -> ApiError:
        headers = {"Allow": ", ".join(allowed)}
        return ApiError(405, "E_METHOD", f"{method} is not allowed here", headers=headers)


def json_body(body: bytes) -> Any:
    """The parsed body; 400 E_JSON for anything that is not strict UTF-8 JSON."""
    parsed = fast_json.loads(body)
    if parsed is not fast_json.NOT_PARSED:
        return parsed
    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, parse_constant=not_json)
        if SURROGATE_ESCAPE.search(text):  # rare: make sure no lone surrogate got through
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "E_JSON", f"the body is not valid UTF-8 JSON: {exc}") from None
    return parsed


class App(Protocol):
    def dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply: ...


class ProvinceHTTPServer(HttpServer):
    """The shared threading server, handing requests to the province's `dispatch()`."""

    def __init__(
        self, address: tuple[str, int], app: App, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        super().__init__(address, RequestHandler, limits=LIMITS, tls=tls, label="province")


class RequestHandler(JsonHandler):
    """Read the body within limits, dispatch, write the reply with a length."""

    server_version = "province-standin/1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are two writes: don't wait for an ACK
    logger = log
    label = "province"
    methods: ClassVar[frozenset[str] | None] = frozenset(
        {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
    )
    discard_limit = MAX_DISCARD_BYTES
    server: ProvinceHTTPServer

    def answer(self) -> Reply:
        body = self.read_body(MAX_BODY_BYTES, length_required=self.command in BODY_METHODS)
        # HTTPMessage reads like a Mapping (get, [], in, keys; case-blind) without declaring it
        headers = cast("Mapping[str, str]", self.headers)
        return self.server.app.dispatch(self.command, self.path, headers, body)

    def encode_json(self, body: Any) -> bytes:
        return fast_json.dumps(body)

    def framing_error(self, problem: Framing, limit: int) -> ApiError:
        if problem is Framing.TOO_LARGE:
            message = f"bodies are limited to {limit} bytes"
            return ApiError(413, "E_TOO_LARGE", message, close=True)
        if problem is Framing.BAD_LENGTH:
            return ApiError(400, "E_JSON", "Content-Length is not a number", close=True)
        return ApiError(400, "E_JSON", "a body needs a Content-Length header", close=True)

    def protocol_error(self, status: HTTPStatus, message: str | None) -> Reply:
        return Reply(status, {"code": "E_HTTP", "message": message or status.phrase}, close=True)

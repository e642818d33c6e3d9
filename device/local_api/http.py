"""The local API's HTTP policy on the shared shell (`device.daemon.http`): bearer token, bodies
by route, strict JSON with its media type, no query strings.

Knows nothing of cases or staff; `device.local_api` supplies the routes.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from typing import Any, ClassVar, cast
from urllib.parse import unquote

from device.daemon.connections import Limits
from device.daemon.http import (
    ApiError,
    HttpServer,
    JsonHandler,
    Reply,
    Request,
    Router,
    decode_json,
)
from device.daemon.http import Route as BaseRoute

__all__ = [
    "LIMITS",
    "ApiError",
    "Body",
    "JsonServer",
    "Reply",
    "Request",
    "Route",
    "handler_for",
]

log = logging.getLogger("device.local_api.server")

MAX_BODY = 64 * 1024
IDLE_TIMEOUT_S = 10.0
# One business system (or a few) per window: 32 connections are plenty. Headers within 5 s of
# connecting, the next request within 10 s on a kept-alive connection, a body within 30 s.
LIMITS = Limits(connections=32, header_s=5.0, idle_s=IDLE_TIMEOUT_S, body_s=30.0)
_PROTOCOL_ERRORS = {
    HTTPStatus.REQUEST_URI_TOO_LONG: "E_URI_TOO_LONG",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "E_HEADERS",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "E_VERSION",
}


class Body(Enum):
    NONE = "none"  # a body is refused
    JSON = "json"  # a JSON body is required
    OPTIONAL_JSON = "optional_json"  # no body, or a JSON body


@dataclass(frozen=True)
class Route(BaseRoute):
    body: Body = Body.NONE
    max_body: int = MAX_BODY
    public: bool = False  # served without the token
    query: bool = False  # takes a query string (the rating page's returnUrl); others refuse one


class JsonServer(HttpServer):
    """The local API's server: `LIMITS` on its connections, HTTPS when given `tls`."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[JsonHandler],
        *,
        tls: ssl.SSLContext | None = None,
        limits: Limits = LIMITS,
    ) -> None:
        super().__init__(address, handler, limits=limits, tls=tls, label="local api")


def handler_for(routes: list[Route], token: str) -> type[JsonHandler]:
    attributes = {"router": Router(list(routes)), "token": token.encode("utf-8")}
    return type("Handler", (_LocalApiHandler,), attributes)


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


def require_json_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "E_MEDIA_TYPE", "send Content-Type: application/json"
        )


class _LocalApiHandler(JsonHandler):
    server_version = "haochaping-evaluator"
    sys_version = ""
    # headers and body go out as two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (40 ms a reply, which a rating page's long poll would feel)
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_S
    logger = log
    label = "local api"
    standard_headers: ClassVar[dict[str, str]] = {"Cache-Control": "no-store"}
    error_log_level = logging.INFO
    router: Router
    token: bytes

    def answer(self) -> Reply:
        found, params = self.router.match(self.command, self.path)
        route = cast(Route, found)
        if not route.public and not bearer_matches(self.headers.get("Authorization"), self.token):
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "E_AUTH",
                "missing or wrong token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        data = self.read_body(route.max_body)
        if not route.query:
            refuse_query(self.path)
        body = self._decode(route.body, data)
        path, _, query = self.path.partition("?")
        # HTTPMessage reads like a Mapping (get, [], in, keys; case-blind) without declaring it
        headers = cast("Mapping[str, str]", self.headers)
        request = Request(self.command, path, headers, params, data, body, bool(data), query)
        return route.handle(request)

    def _decode(self, kind: Body, data: bytes) -> Any:
        if not data:
            if kind is Body.JSON:
                raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "a JSON body is required")
            return None
        if kind is Body.NONE:
            raise ApiError(HTTPStatus.BAD_REQUEST, "E_BODY", "this operation takes no body")
        require_json_type(self.headers.get("Content-Type"))
        return decode_json(data)

    def internal_error(self) -> Reply:
        message = "internal error; see the device log"
        return Reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"code": "E_INTERNAL", "message": message})

    def protocol_error(self, status: HTTPStatus, message: str | None) -> Reply:
        body = {"code": _PROTOCOL_ERRORS.get(status, "E_REQUEST"), "message": status.phrase}
        return Reply(status, body, close=True)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if self.request_version == "HTTP/0.9":  # unparsable request line: answer in HTTP/1.0
            self.request_version = "HTTP/1.0"
        super().send_error(code, message, explain)

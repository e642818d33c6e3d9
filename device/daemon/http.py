"""The small HTTP shell shared by the programs: Request, Reply, routes, strict JSON, bounded
bodies, JSON error replies and the threading server. Each program brings its routes and wording.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar
from urllib.parse import unquote

from device.daemon.connections import Drop, DropTally, Limits, Phase, Slot, Slots
from device.errors import HaochapingError

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
DISCARD_SECONDS = 5


class ApiError(HaochapingError):
    """An answer other than success: status, `E_…` code, message, the field at fault, and
    what the reply needs besides (`extra` body members, headers, closing the connection)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.status, self.field = status, field
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        self.close = close

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {**body, **self.extra}

    def reply(self) -> Reply:
        return Reply(self.status, self.body(), self.headers, self.close)


class HangupError(Exception):
    """The client went quiet or away mid-request: close without an answer."""


@dataclass
class Reply:
    status: int
    body: Any  # a JSON value; bytes go out as they are; text when content_type is not JSON
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # close the connection after replying
    content_type: str = JSON_TYPE
    drop: bool = False  # close the connection without answering at all (a fault)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(0, None, drop=True)

    def encoded(self, encode_json: Callable[[Any], bytes]) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if self.content_type == JSON_TYPE:
            return encode_json(self.body)
        return str(self.body).encode("utf-8")


@dataclass
class Request:
    method: str
    path: str  # the request target without its query string
    headers: Mapping[str, str]
    params: dict[str, str]  # path parameters
    raw: bytes = b""  # the body as received
    body: Any = None  # the decoded JSON, where the route asks for it
    has_body: bool = False  # False: no body was sent
    query: str = ""  # the query string, where the route takes one


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # e.g. "/api/v1/cases/{projectNo}"
    handle: Callable[..., Reply]

    def match(self, segments: list[str], decode: bool = True) -> dict[str, str] | None:
        pattern = self.path.split("/")
        if len(pattern) != len(segments):
            return None
        params = {}
        for want, got in zip(pattern, segments, strict=True):
            if want.startswith("{") and want.endswith("}") and got:
                params[want[1:-1]] = unquote(got, errors="surrogateescape") if decode else got
            elif want != got:
                return None
        return params


class Router:
    """Finds the route for a method and path, or answers 404 / 405 (with `Allow`)."""

    decode_params = True  # percent-decode path parameters

    def __init__(self, routes: list[Route] | None = None) -> None:
        self.routes: list[Route] = list(routes or [])

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        segments = path.partition("?")[0].split("/")
        found = [
            (route, params)
            for route in self.routes
            if (params := route.match(segments, self.decode_params)) is not None
        ]
        for route, params in found:
            if route.method == method:
                return route, params
        if not found:
            raise self.not_found(path)
        raise self.not_allowed(method, [route.method for route, _ in found])

    def not_found(self, path: str) -> ApiError:
        return ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", "no such resource")

    def not_allowed(self, method: str, allowed: list[str]) -> ApiError:
        allow = ", ".join(sorted(set(allowed)))
        message = f"method not allowed here; use {allow}"
        return ApiError(
            HTTPStatus.METHOD_NOT_ALLOWED, "E_METHOD", message, headers={"Allow": allow}
        )


def decode_json(data: bytes) -> Any:
    """Strict UTF-8 JSON: no NaN or Infinity, and a key twice in one object is refused."""
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=not_json
        )
    except _DuplicateKeyError as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "a key appears twice", exc.key) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, "E_JSON", "body is not UTF-8 JSON") from exc


def encode_json(body: Any) -> bytes:
    """UTF-8 JSON; escaped instead when a field name from the request holds a lone surrogate."""
    try:
        return json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body).encode()


def not_json(constant: str) -> Any:
    """`parse_constant` that refuses NaN, Infinity and -Infinity."""
    raise ValueError(f"{constant} is not JSON")


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise _DuplicateKeyError(key)
        body[key] = value
    return body


class Framing(Enum):
    """Why a body was refused before it was read."""

    CHUNKED = "chunked"  # Transfer-Encoding: only Content-Length bodies are taken
    NO_LENGTH = "no_length"  # a body-carrying method without Content-Length
    BAD_LENGTH = "bad_length"  # Content-Length is not one number
    TOO_LARGE = "too_large"  # over the route's limit


class HttpServer(HTTPServer):
    """A thread per open connection, at most `limits.connections` of them: when all are
    taken the connection waiting longest for a request gives way, or the new one is closed.
    A connection slow with its headers, its body or idle too long is closed (`Limits`);
    dropped connections are counted into one log line a minute, never a traceback each.
    `tls` serves HTTPS, the handshake on the connection's own thread within `header_s`."""

    request_queue_size = 64  # socketserver's 5 drops a burst of connects for a second

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        limits: Limits,
        tls: ssl.SSLContext | None = None,
        label: str = "http",
    ) -> None:
        self.limits = limits
        self.tls = tls
        self.drops = DropTally(label)
        self._drops_lock = threading.Lock()
        self.slots = Slots(limits, self.dropped)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        slot = self.slots.admit(request, Phase.HANDSHAKE if self.tls else Phase.HEADERS)
        if slot is None:
            self.dropped(Drop.FULL)
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve_connection, args=(slot, client_address), daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: the connection is refused, not the server
            self.slots.release(slot)
            self.dropped(Drop.FULL)
            self.shutdown_request(request)

    def _serve_connection(self, slot: Slot, client_address: Any) -> None:
        try:
            if self.tls is not None and not self._handshake(slot):
                return
            self.finish_request(slot.sock, client_address)
        except Exception:  # reset, timed out or cut mid-request: counted, no traceback
            logging.getLogger(__name__).debug("connection failed", exc_info=True)
            if not slot.dropped:
                self.dropped(Drop.BROKEN)
        finally:
            self.slots.release(slot)
            self.shutdown_request(slot.sock)

    def _handshake(self, slot: Slot) -> bool:
        assert self.tls is not None
        slot.sock.settimeout(self.limits.header_s)
        wrapped = self.tls.wrap_socket(slot.sock, server_side=True, do_handshake_on_connect=False)
        self.slots.rebind(slot, wrapped)
        try:
            wrapped.do_handshake()
        except (OSError, ValueError):  # plain HTTP, a wrong client, too slow, or cut
            if not slot.dropped:
                self.dropped(Drop.HANDSHAKE)
            return False
        self.slots.enter(wrapped, Phase.HEADERS)
        return True

    def service_actions(self) -> None:
        """Between accepts (every poll interval at least): close overdue connections, and
        log the dropped ones when a line is due."""
        self.slots.sweep()
        self._log_drops(None)

    def dropped(self, drop: Drop | None) -> None:
        self._log_drops(drop)

    def _log_drops(self, drop: Drop | None) -> None:
        now = time.monotonic()
        with self._drops_lock:
            line = self.drops.due(now) if drop is None else self.drops.note(drop, now)
        if line is not None:
            logging.getLogger(__name__).warning("%s", line)

    def close_connections(self) -> None:
        self.slots.cut_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.dropped(Drop.BROKEN)


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP framing only: every request goes to `answer()`, its Reply (or ApiError) goes out
    with a length; protocol errors are JSON too. Subclasses give the routes and the wording."""

    protocol_version = "HTTP/1.1"
    logger: ClassVar[logging.Logger] = logging.getLogger(__name__)
    label = "http"  # names the program in its log lines
    methods: ClassVar[frozenset[str] | None] = None  # None: every method reaches `answer()`
    standard_headers: ClassVar[dict[str, str]] = {}  # sent before each reply's own
    discard_limit = 0  # a refused body up to this size is read and dropped before closing
    error_log_level = logging.DEBUG
    _unread = False  # the request announced a body that was not read: close after answering
    _requests = 0  # requests begun on this connection
    server: HttpServer

    def __getattr__(self, name: str) -> Any:
        """`do_<METHOD>` for the methods served; others get 501 from the base class."""
        if name.startswith("do_") and (self.methods is None or name[3:] in self.methods):
            return self.serve
        raise AttributeError(name)

    def answer(self) -> Reply:
        """The reply to the request read; each server's handler class says how (the local
        API routes with its bearer token, the stand-in with request signatures)."""
        raise NotImplementedError  # abstract: both handler subclasses override it

    def encode_json(self, body: Any) -> bytes:
        return encode_json(body)

    def framing_error(self, problem: Framing, limit: int) -> ApiError:
        if problem is Framing.CHUNKED:
            message = "send the body with a Content-Length"
            return ApiError(HTTPStatus.LENGTH_REQUIRED, "E_LENGTH", message)
        if problem is Framing.TOO_LARGE:
            message = f"body over {limit} bytes"
            return ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "E_TOO_LARGE", message)
        return ApiError(HTTPStatus.BAD_REQUEST, "E_LENGTH", "Content-Length is not a number")

    def internal_error(self) -> Reply:
        return Reply(500, {"code": "E_INTERNAL", "message": "internal error"}, close=True)

    def protocol_error(self, status: HTTPStatus, message: str | None) -> Reply:
        return Reply(status, {"code": "E_HTTP", "message": message or status.phrase}, close=True)

    def handle_one_request(self) -> None:
        """Each request under its deadline: the first's headers within `header_s` of the
        accept, a kept-alive connection's next within `idle_s`."""
        if self._requests:
            self.server.slots.enter(self.request, Phase.IDLE)
        self._requests += 1
        super().handle_one_request()

    def serve(self) -> None:
        if not self.server.slots.enter(self.request, Phase.ANSWERING):
            self.close_connection = True  # cut mid-headers: what came is no request
            return
        self._unread = "Transfer-Encoding" in self.headers or bool(self.content_length())
        try:
            reply = self.answer()
            data = b"" if reply.drop else reply.encoded(self.encode_json)
        except HangupError:
            self.close_connection = True
            return
        except ApiError as exc:
            self.logger.log(
                self.error_log_level,
                "%s: %s %s -> %s %.64r",
                self.label,
                self.command,
                self._short_path(),
                exc.code,
                exc.field,
            )
            reply = exc.reply()
            data = reply.encoded(self.encode_json)
        except Exception:  # a bug, never bad input: answer without a traceback
            self.logger.exception("%s: %s %s failed", self.label, self.command, self._short_path())
            reply = self.internal_error()
            data = reply.encoded(self.encode_json)
        if reply.drop:
            self.close_connection = True  # the socket is closed with no status line sent
            return
        unread = self.content_length() if self._unread else 0
        self.send_reply(reply, data)
        if unread is not None and 0 < unread <= self.discard_limit:
            self._discard(unread)

    def _short_path(self) -> str:
        return f"{self.path.partition('?')[0]:.80}"

    def content_length(self) -> int | None:
        """The announced body length; None when there is none, -1 when it is not one number."""
        raw = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not raw:
            return None
        (text,) = raw if len(raw) == 1 else ("",)
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            return -1
        return int(text)

    def read_body(self, limit: int, *, length_required: bool = False) -> bytes:
        """The body, refused before reading when chunked, unframed or over *limit* bytes."""
        if "Transfer-Encoding" in self.headers:
            raise self.framing_error(Framing.CHUNKED, limit)
        length = self.content_length()
        if length is None:
            if length_required:
                raise self.framing_error(Framing.NO_LENGTH, limit)
            length = 0
        if length < 0:
            raise self.framing_error(Framing.BAD_LENGTH, limit)
        if length > limit:
            raise self.framing_error(Framing.TOO_LARGE, limit)
        self.server.slots.enter(self.request, Phase.BODY)
        try:
            data = self.rfile.read(length)
        except OSError as exc:  # timed out or reset
            raise HangupError from exc
        finally:
            self.server.slots.enter(self.request, Phase.ANSWERING)
        if len(data) < length:
            raise HangupError
        self._unread = False
        return data

    def _discard(self, length: int) -> None:
        """Drop a refused body before closing, so the client reads the reply, not a reset."""
        self.connection.settimeout(DISCARD_SECONDS)
        with contextlib.suppress(OSError):
            while length > 0:
                chunk = self.rfile.read(min(length, 64 * 1024))
                if not chunk:
                    break
                length -= len(chunk)

    def send_reply(self, reply: Reply, data: bytes | None = None) -> None:
        """Status line, headers and body (*data*: the body already encoded)."""
        if data is None:
            data = reply.encoded(self.encode_json)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in {**self.standard_headers, **reply.headers}.items():
                self.send_header(name, value)
            if reply.close or self._unread or self.close_connection:
                self.send_header("Connection", "close")  # not at a request boundary
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (garbage, oversized request line or headers) as JSON, then close."""
        self.close_connection = True
        if not self.server.slots.enter(self.request, Phase.ANSWERING):
            return  # cut mid-request by the server: the fragment gets no answer
        self.logger.debug("%s: protocol error %d from %s", self.label, code, self.client_address[0])
        if code != HTTPStatus.REQUEST_TIMEOUT:
            self.server.dropped(Drop.MALFORMED)
        self.send_reply(self.protocol_error(HTTPStatus(code), message))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        self.logger.debug("%s: %s %s", self.label, self.address_string(), format % args)

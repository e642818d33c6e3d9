"""HTTP front of the stand-in province: route table, request signatures, enrolment, batches.

Built on ThreadingHTTPServer speaking HTTP/1.1 keep-alive. Handlers are methods registered in
a Router, so heartbeat, tags and fault injection slot in beside enrolment and batches.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.canonical import canonical_json, sha256_hex
from device.signing import key_id_of, public_key_from_b64, request_signing_bytes, verify
from simulator.province.store import (
    CheckedRecord,
    Enrolment,
    EnrolOutcome,
    ProvinceStore,
    StoreResult,
)
from simulator.province.validation import Rejection, validate_enrolment, validate_record

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH_RECORDS = 500
MAX_DISCARD_BYTES = 16 * MAX_BODY_BYTES  # read and drop a refused body up to this size
DISCARD_SECONDS = 5
CLOCK_WINDOW_SECONDS = 300
HEARTBEAT_SECONDS = 60
TAGS_VERSION = "standin-1"
RETRY_AFTER_SECONDS = 5
PARALLEL_VERIFY_FROM = 32  # fewer signatures are verified on the request thread alone
NONCE = re.compile(r"[0-9a-fA-F]{16,128}")
TIMESTAMP = re.compile(r"-?[0-9]{1,12}")
CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
BEIJING = timezone(timedelta(hours=8))


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # close the connection after replying (body left unread, …)


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


@dataclass
class Request:
    method: str
    path: str  # as signed: the base path included, the query string left out
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str]
    device_id: str | None = None  # the authenticated device, on signed routes


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


@functools.lru_cache(maxsize=4096)
def _public_key(public_b64: str) -> Ed25519PublicKey:
    return public_key_from_b64(public_b64)


SignatureJob = tuple[Ed25519PublicKey, str, bytes]  # key, signature (base64), signed bytes


def _verify_jobs(jobs: list[SignatureJob]) -> list[bool]:
    return [verify(public, signature, data) for public, signature, data in jobs]


class SignatureChecker:
    """Verifies a batch's record signatures on all cores at once.

    Ed25519 verification in `cryptography` releases the GIL. The request thread takes one
    share itself; callers do the pure-Python work first, because a verifying thread that has
    to win the GIL back from a busy Python thread waits up to the switch interval each time.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="province-verify")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def verify_all(self, jobs: list[SignatureJob]) -> list[bool]:
        pool = self._pool
        if pool is None or len(jobs) < PARALLEL_VERIFY_FROM:
            return _verify_jobs(jobs)
        size = -(-len(jobs) // self.workers)
        chunks = [jobs[start : start + size] for start in range(0, len(jobs), size)]
        futures = [pool.submit(_verify_jobs, chunk) for chunk in chunks[1:]]
        verdicts = _verify_jobs(chunks[0])
        for future in futures:
            verdicts.extend(future.result())
        return verdicts


class ProvinceServer:
    """The stand-in province on 127.0.0.1: `start()`, then talk to `url`, then `stop()`."""

    def __init__(
        self,
        store: ProvinceStore,
        host: str = "127.0.0.1",
        port: int = 0,
        base_path: str = "/api/v1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.base_path = base_path.rstrip("/")
        self.clock = clock
        self.tags_version = TAGS_VERSION
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self.router = Router()
        self._checker = SignatureChecker(os.cpu_count() or 1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.router.add("POST", "/devices/enroll", self._enroll, signed=False)
        self.router.add("POST", "/evaluations:batch", self._evaluations_batch)
        self.router.add("GET", "/devices/{deviceId}/audit", self._audit)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        return f"http://{host}:{self.port}{self.base_path}"

    def start(self) -> None:
        """Bind and serve on a daemon thread; `port` then holds the bound port."""
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._checker.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="province-http",
            daemon=True,
        )
        self._thread.start()
        log.info("province stand-in serving %s", self.url)

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._checker.close()
        self._httpd = self._thread = None

    # --- dispatch ----------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request whose body has been read; bad input never raises out of here."""
        path = target.split("?", 1)[0]
        try:
            if not path.startswith(self.base_path + "/"):
                raise ApiError(404, "E_NOT_FOUND", f"no such resource: {path}")
            route, params = self.router.match(method, path[len(self.base_path) :])
            request = Request(method, path, headers, body, params)
            if route.signed:
                request.device_id = self._authenticate(request)
            return route.handler(request)
        except ApiError as error:
            return error.reply()
        except sqlite3.Error:
            log.exception("province store failed on %s %s", method, path)
            return ApiError(
                503,
                "E_UNAVAILABLE",
                "the province store is unavailable; nothing was stored",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ).reply()

    def _authenticate(self, request: Request) -> str:
        """Check X-Device-Id/X-Timestamp/X-Nonce/X-Signature; return the device's id."""
        names = ("X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature")
        device_id, timestamp, nonce, signature = (request.headers.get(n) for n in names)
        if not (device_id and timestamp and nonce and signature):
            raise auth_error("a signed request needs the headers " + ", ".join(names))
        if not TIMESTAMP.fullmatch(timestamp):
            raise auth_error("X-Timestamp must be Unix seconds")
        if not NONCE.fullmatch(nonce):
            raise auth_error("X-Nonce must be 16 or more hex characters")
        keys = self.store.device_keys(device_id)
        if not keys:
            raise auth_error(f"unknown device {device_id}")
        signed = request_signing_bytes(request.method, request.path, timestamp, nonce, request.body)
        if not any(verify(_public_key(k), signature, signed) for k in keys.values()):
            raise auth_error("the request signature does not verify with this device's keys")
        now = self.clock()
        if abs(int(timestamp) - now) > CLOCK_WINDOW_SECONDS:
            raise ApiError(
                401,
                "E_CLOCK",
                f"X-Timestamp is more than {CLOCK_WINDOW_SECONDS} s from the server's clock",
                extra={"serverTime": int(now)},
            )
        if not self.store.remember_nonce(nonce, now):
            raise ApiError(401, "E_REPLAY", "this nonce was already used")
        if request.params.get("deviceId", device_id) != device_id:
            raise auth_error("a device may only act for itself")
        return device_id

    # --- POST /devices/enroll ----------------------------------------------------------

    def _enroll(self, request: Request) -> Reply:
        body = _json_body(request.body)
        rejection = validate_enrolment(body)
        if rejection is not None:
            raise ApiError(422, rejection.code, rejection.message, extra={"field": rejection.field})
        raw = base64.b64decode(body["publicKey"], validate=True)
        enrolment = Enrolment(
            token=body["enrollToken"],
            public_key=base64.b64encode(raw).decode("ascii"),
            key_id=key_id_of(raw),
            serial=body["serial"],
            model=body["model"],
            firmware=body["firmwareVersion"],
            site=body["site"],
        )
        outcome = self.store.enroll(enrolment, self.clock())
        return self._enrol_reply(outcome, enrolment)

    def _enrol_reply(self, outcome: EnrolOutcome, enrolment: Enrolment) -> Reply:
        if outcome.status == "enrolled":
            log.info(
                "enrolled device %s (serial %s, key %s)",
                outcome.device_id,
                enrolment.serial,
                enrolment.key_id,
            )
        if outcome.status in ("enrolled", "repeat"):
            body = {
                "deviceId": outcome.device_id,
                "keyId": enrolment.key_id,
                "heartbeatSeconds": self.heartbeat_seconds,
                "tagsVersion": self.tags_version,
            }
            return Reply(201, body)
        status, code, message = ENROL_REFUSALS[outcome.status]
        extra = {"field": "publicKey"} if code == "E_FIELD" else None
        raise ApiError(status, code, message, extra=extra)

    # --- POST /evaluations:batch -------------------------------------------------------

    def _evaluations_batch(self, request: Request) -> Reply:
        device_id = request.device_id or ""
        records = _batch_records(_json_body(request.body), device_id)
        verdicts = self._check_records(device_id, records)
        stored = iter(
            self.store.store_batch(
                device_id, [v for v in verdicts if isinstance(v, CheckedRecord)], self.clock()
            )
        )
        outcomes = [next(stored) if isinstance(v, CheckedRecord) else v for v in verdicts]
        results = [
            _result(record, outcome) for record, outcome in zip(records, outcomes, strict=True)
        ]
        log.debug(
            "batch from %s: %d records, %d accepted",
            device_id,
            len(results),
            sum(r["status"] == "accepted" for r in results),
        )
        return Reply(200, {"results": results})

    def _check_records(self, device_id: str, records: list[Any]) -> list[CheckedRecord | Rejection]:
        """Validate every record, then verify the signatures of those that passed.

        A record whose exact bytes are already stored skips verification: it is a duplicate.
        """
        keys = self.store.device_keys(device_id)
        stored = self.store.stored_canonical(_evaluation_ids(records))
        verdicts: list[CheckedRecord | Rejection] = []
        indexes: list[int] = []
        jobs: list[SignatureJob] = []
        for index, record in enumerate(records):
            rejection = validate_record(record) or _signer_rejection(record, device_id, keys)
            if rejection is not None:
                verdicts.append(rejection)
                continue
            canonical = canonical_json(record)
            checked = _checked(record, canonical)
            verdicts.append(checked)
            if stored.get(checked.evaluation_id) == checked.canonical:
                continue  # a resend of a stored record: its signature was verified on arrival
            signature = record["signature"]
            public = _public_key(keys[record["keyId"]])
            indexes.append(index)
            jobs.append((public, signature, _signed_part(canonical, signature)))
        for index, ok in zip(indexes, self._checker.verify_all(jobs), strict=True):
            if not ok:
                verdicts[index] = BAD_SIGNATURE
        return verdicts

    # --- GET /devices/{deviceId}/audit -------------------------------------------------

    def _audit(self, request: Request) -> Reply:
        device_id = request.device_id or ""
        flags = [
            {
                "kind": flag["kind"],
                "seq": flag["seq"],
                "evaluationId": flag["evaluation_id"],
                "detail": flag["detail"],
                "flaggedAt": beijing_time(flag["flagged_at"]),
            }
            for flag in self.store.audit_flags(device_id)
        ]
        body = {
            "deviceId": device_id,
            "lastSeq": self.store.max_seq(device_id),
            "evaluationCount": self.store.evaluation_count(device_id),
            "missingSeqs": [list(gap) for gap in self.store.missing_seqs(device_id)],
            "flags": flags,
        }
        return Reply(200, body)


ENROL_REFUSALS: dict[str, tuple[int, str, str]] = {
    "unknown_token": (401, "E_TOKEN", "unknown enrol token"),
    "expired_token": (401, "E_TOKEN", "this enrol token has expired"),
    "token_used": (409, "E_TOKEN_USED", "this enrol token already enrolled another device"),
    "key_taken": (422, "E_FIELD", "publicKey is already enrolled; generate a new key"),
}

BAD_SIGNATURE = Rejection("E_SIGNATURE", "the record signature does not verify")


def beijing_time(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_body(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, parse_constant=_reject_constant)
        if SURROGATE_ESCAPE.search(text):  # rare: make sure no lone surrogate got through
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "E_JSON", f"the body is not valid UTF-8 JSON: {exc}") from None
    return parsed


def _batch_records(body: Any, device_id: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "E_JSON", 'the body must be {"deviceId": …, "records": […]}')
    if body.get("deviceId") != device_id:
        raise auth_error("the body's deviceId is not the signing device")
    records = body["records"]
    if len(records) > MAX_BATCH_RECORDS:
        raise ApiError(413, "E_TOO_LARGE", f"at most {MAX_BATCH_RECORDS} records per batch")
    return records


def _signer_rejection(
    record: dict[str, Any], device_id: str, keys: Mapping[str, str]
) -> Rejection | None:
    if record["deviceId"] != device_id:
        return Rejection("E_SIGNATURE", "the record's deviceId is not the sending device")
    if record["keyId"] not in keys:
        return Rejection("E_SIGNATURE", "keyId is not a key of the sending device")
    return None


def _signed_part(canonical: bytes, signature: str) -> bytes:
    """signing_bytes(record), cut out of the record's canonical bytes instead of a 2nd pass.

    Exact for a validated record: "signature" is then a top-level key that is neither first
    nor last, nested objects have no such key, and `,"signature":` cannot occur inside a
    string (a quote there is escaped), so dropping that one member leaves exactly the
    canonical JSON of the record without its signature.
    """
    member = ',"signature":' + json.dumps(signature, ensure_ascii=False)
    return canonical.replace(member.encode("utf-8"), b"", 1)


def _checked(record: dict[str, Any], canonical: bytes) -> CheckedRecord:
    cases = record["batchProjectNos"] or [record["projectNo"]]
    return CheckedRecord(
        evaluation_id=record["evaluationId"],
        device_id=record["deviceId"],
        key_id=record["keyId"],
        seq=record["seq"],
        prev_hash=record["prevHash"],
        project_no=record["projectNo"],
        cases=tuple(cases),
        assess_number=record["assessNumber"],
        satisfaction=record["satisfaction"],
        canonical=canonical.decode("utf-8"),
        record_hash=sha256_hex(canonical),
    )


def _evaluation_ids(records: list[Any]) -> list[str]:
    ids = (record.get("evaluationId") if isinstance(record, dict) else None for record in records)
    return [i for i in ids if isinstance(i, str)]


def _result(record: Any, outcome: StoreResult) -> dict[str, Any]:
    evaluation_id = record.get("evaluationId") if isinstance(record, dict) else None
    if not isinstance(evaluation_id, str):
        evaluation_id = None
    if isinstance(outcome, Rejection):
        return {"evaluationId": evaluation_id, "status": "rejected", **outcome.as_json()}
    return {"evaluationId": evaluation_id, "status": outcome}


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so stop() can drop them."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: ProvinceServer) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

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


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP framing only: read the body within limits, dispatch, write JSON with a length."""

    protocol_version = "HTTP/1.1"
    server_version = "province-standin/1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are two writes: don't wait for an ACK
    server: _HTTPServer
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
        data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
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

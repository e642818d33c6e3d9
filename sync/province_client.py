"""The default provincial adapter: the spec's JSON over HTTPS, every call request-signed.

One keep-alive session, connect and read timeouts, the configured CA bundle, and the
server's clock learnt from E_CLOCK (shared by every client of the process) so a device whose
clock is off can still be heard. Nothing in an answer is trusted: redirects are never
followed, a body is read only up to a size and a deadline, and any shape other than the
documented one is a retryable error.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from device.errors import HaochapingError
from device.keys.signing import DeviceKey, request_signing_bytes
from sync import answers
from sync.adapter import OutgoingRecord
from sync.deadline import Deadline, DeadlineAdapter

MAX_RECORDS = 500
MAX_BYTES = 1024 * 1024
# The largest documented answer is a batch's results (500 × ~600 bytes); a body beyond this
# is not an answer, and reading it would only cost memory (the unit's MemoryMax is 100M).
MAX_ANSWER_BYTES = 2 * 1024 * 1024
TOO_SLOW = "the province's answer is too slow (request deadline)"
READ_CHUNK = 64 * 1024


class ProvinceClock:
    """The province's clock as learnt from `E_CLOCK`: one per process, shared by the batch,
    heartbeat, tag-list and key clients, so a correction learnt by one serves all."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self.offset_s = 0.0  # province clock minus ours

    def now(self) -> float:
        return self.wall() + self.offset_s

    def learn(self, server_time_s: float) -> None:
        self.offset_s = server_time_s - self.wall()


SHARED_CLOCK = ProvinceClock()


class ProvinceError(HaochapingError):
    """The province did not take the request."""

    code = "E_PROVINCE"

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status  # the HTTP status of the answer; None when there was none


class RetryableError(ProvinceError):
    """Try again later: outage, overload, timeout, clock corrected."""

    def __init__(
        self,
        message: str,
        code: str | None = None,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code, status)
        self.retry_after_s = retry_after_s


class OperatorNeededError(ProvinceError):
    """Retrying the same request cannot help (bad credentials, request refused as malformed)."""


class ProvinceClient:
    def __init__(
        self,
        base_url: str,
        device_id: str,
        key: DeviceKey,
        *,
        ca_bundle: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        wall: Callable[[], float] | None = None,
        clock: ProvinceClock | None = None,
        max_request_s: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path
        self.device_id = device_id
        self.key = key
        self.timeout = (connect_timeout_s, read_timeout_s)
        # a wall clock of its own (tests) learns apart; otherwise the process's shared clock
        self.clock = clock or (ProvinceClock(wall) if wall is not None else SHARED_CLOCK)
        # a whole request, body included: a slow drip cannot hold the sync longer than this
        self.max_request_s = max_request_s or connect_timeout_s + 2 * read_timeout_s
        self.session = requests.Session()
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, DeadlineAdapter())
        # passed with every request: a session-level verify would lose to REQUESTS_CA_BUNDLE
        self.verify: str | bool = ca_bundle or True
        self.session.headers["Content-Type"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self.clock.now()))
        nonce = secrets.token_hex(16)
        signature = self.key.sign(request_signing_bytes(method, path, timestamp, nonce, body))
        return {
            "X-Device-Id": self.device_id,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": signature,
        }

    def call(self, method: str, suffix: str, payload: Any = None) -> Any:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        return self.call_with_body(method, suffix, body)

    def call_with_body(self, method: str, suffix: str, body: bytes) -> Any:
        """One signed call whose JSON body is already encoded, within `max_request_s` in
        all: a server dripping its headers or its body is cut off at the deadline."""
        headers = self.signed_headers(method, self.base_path + suffix, body)
        with Deadline(self.max_request_s).running() as deadline:
            response = send(
                self.session, method, self.base_url + suffix, body, headers, self, deadline
            )
            try:
                if 300 <= response.status_code < 400:
                    location = response.headers.get("Location", "(none)")[:200]
                    raise OperatorNeededError(
                        f"HTTP {response.status_code}: the province redirects to {location}; "
                        "redirects are never followed (check [province] base_url)",
                        "E_REDIRECT",
                        response.status_code,
                    )
                raw = read_bounded(response, deadline)
            finally:
                response.close()
        return self._answer(response.status_code, raw, response.headers.get("Retry-After"))

    def _answer(self, status: int, raw: bytes, retry_after_header: str | None) -> Any:
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if 200 <= status < 300:
            if data is None:
                raise RetryableError(f"HTTP {status} without a JSON body", status=status)
            return data
        error = answers.error_answer(data)
        message = f"HTTP {status} {error.code or ''} {error.message}".strip()
        if error.code == "E_CLOCK" and error.server_time is not None:
            self.clock.learn(error.server_time)
            raise RetryableError(message, error.code, retry_after_s=0.0, status=status)
        if status in (429, 503) or status >= 500:
            retry = answers.retry_after(retry_after_header)
            raise RetryableError(message, error.code, retry, status)
        if error.code in ("E_REPLAY", "E_CLOCK"):  # E_CLOCK without a usable serverTime
            raise RetryableError(message, error.code, retry_after_s=0.0, status=status)
        raise OperatorNeededError(message, error.code, status)

    def post_batch(self, records: Sequence[OutgoingRecord]) -> list[dict[str, Any]]:
        """Send up to 500 records; return the province's result for each, in order.
        The body is joined from the records' canonical bytes; nothing is parsed or encoded
        again."""
        if not 0 < len(records) <= MAX_RECORDS:
            raise ValueError(f"a batch holds 1-{MAX_RECORDS} records")
        device_id = json.dumps(self.device_id, ensure_ascii=False).encode()
        body = b"".join(
            (
                b'{"deviceId":',
                device_id,
                b',"records":[',
                b",".join(record.canonical for record in records),
                b"]}",
            )
        )
        data = self.call_with_body("POST", "/evaluations:batch", body)
        return _results(data, [record.evaluation_id for record in records])


def _results(data: Any, evaluation_ids: list[str]) -> list[dict[str, Any]]:
    """The batch answer's results, checked to be one per record sent, in order."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != len(evaluation_ids):
        raise RetryableError("province answered without one result per record")
    for sent, result in zip(evaluation_ids, results, strict=True):
        if not isinstance(result, dict) or result.get("evaluationId") != sent:
            raise RetryableError("province results do not match the records sent")
    return results


class Transport(Protocol):
    """What a client sets for every request it sends."""

    timeout: Any
    verify: bool | str


def send(
    session: requests.Session,
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    transport: Transport,
    deadline: Deadline,
) -> requests.Response:
    """One request, never following a redirect, its body left unread (stream) for
    `read_bounded`; a connection that fails, or outlasts *deadline*, is retryable."""
    try:
        return session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=transport.timeout,
            verify=transport.verify,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        if deadline.expired:
            raise RetryableError(TOO_SLOW) from exc
        raise RetryableError(f"province unreachable: {type(exc).__name__}: {exc}") from exc


def read_bounded(response: requests.Response, deadline: Deadline) -> bytes:
    """The answer's body, up to MAX_ANSWER_BYTES and within the request's deadline."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
        raise RetryableError(f"the province's answer is too large ({length} bytes)")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(READ_CHUNK):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise RetryableError(f"the province's answer exceeds {MAX_ANSWER_BYTES} bytes")
            chunks.append(chunk)
    except (requests.RequestException, OSError, ValueError) as exc:
        if deadline.expired:
            raise RetryableError(TOO_SLOW) from exc
        raise RetryableError(f"answer cut off: {type(exc).__name__}: {exc}") from exc
    if deadline.expired:
        raise RetryableError(TOO_SLOW)
    return b"".join(chunks)

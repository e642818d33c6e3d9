"""The default provincial adapter: the spec's JSON over HTTPS, every call request-signed.

One keep-alive session, connect and read timeouts, the configured CA bundle, and the
server's clock learnt from E_CLOCK so a device whose clock is off can still be heard.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from device.errors import HaochapingError
from device.keys.signing import DeviceKey, request_signing_bytes
from sync.adapter import OutgoingRecord

MAX_RECORDS = 500
MAX_BYTES = 1024 * 1024


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
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path
        self.device_id = device_id
        self.key = key
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.wall = wall
        self.clock_offset_s = 0.0  # province clock minus ours, learnt from E_CLOCK
        self.session = requests.Session()
        # passed with every request: a session-level verify would lose to REQUESTS_CA_BUNDLE
        self.verify: str | bool = ca_bundle or True
        self.session.headers["Content-Type"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self.wall() + self.clock_offset_s))
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
        """One signed call whose JSON body is already encoded."""
        headers = self.signed_headers(method, self.base_path + suffix, body)
        try:
            response = self.session.request(
                method,
                self.base_url + suffix,
                data=body,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            raise RetryableError(f"province unreachable: {type(exc).__name__}: {exc}") from exc
        return self._answer(response)

    def _answer(self, response: requests.Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if 200 <= response.status_code < 300:
            return data
        code = data.get("code") if isinstance(data, dict) else None
        status = response.status_code
        message = f"HTTP {status} {code or ''} {data.get('message', '')}".strip()
        if code == "E_CLOCK" and isinstance(data.get("serverTime"), int | float):
            self.clock_offset_s = float(data["serverTime"]) - self.wall()
            raise RetryableError(message, code, retry_after_s=0.0, status=status)
        if status in (429, 503) or status >= 500:
            raise RetryableError(message, code, _retry_after(response), status)
        if code == "E_REPLAY":
            raise RetryableError(message, code, retry_after_s=0.0, status=status)
        raise OperatorNeededError(message, code, status)

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


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None

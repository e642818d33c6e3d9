"""The 国密 province's transport: a token from its gateway, then SOAP calls whose payload is
SM4-sealed and SM2-signed by the device, whose answers count only when the province's SM2
signature over them verifies.

As the default client: one keep-alive session, the whole call under a deadline, bodies read
only up to a size, no redirects, the province's clock learnt from its answers (the shared
ProvinceClock), every error sorted into retry-later or call-an-operator.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from device.keys import sm2, sm4
from sync import answers
from sync.deadline import Deadline, DeadlineAdapter
from sync.gm import envelope
from sync.gm.xmltext import XmlError
from sync.province_client import (
    SHARED_CLOCK,
    OperatorNeededError,
    ProvinceClock,
    ProvinceError,
    RetryableError,
    read_bounded,
    send,
)

MAX_REQUEST_BYTES = 1024 * 1024
CLOCK_WINDOW_S = 300.0
TOKEN_MARGIN_S = 60.0  # a token this close to its expiry is renewed before a call
SOAP_TYPE = "text/xml; charset=utf-8"


class LateRatingError(ProvinceError):
    """42202: saveEvaluation refused the call for a rating over 24 h old (nothing stored)."""

    code = "E_GM_LATE"


class RequestTooLargeError(ValueError):
    """The call would be over the province's 1 MiB: send fewer evaluations in it."""


class UnprovenAnswerError(ProvinceError):
    """Code 0, but the answer's SM2 signature does not verify under the province key held:
    nothing it says is believed."""

    code = "E_GM_SIGNATURE"


@dataclass(frozen=True)
class GmCredentials:
    """What the province issued at installation, and the device's own SM2 key."""

    gateway_url: str
    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    province_key: str  # the province's SM2 public key, hex
    device_no: str
    device_key: sm2.Sm2Key = field(repr=False)


class GmClient:
    def __init__(
        self,
        credentials: GmCredentials,
        *,
        ca_bundle: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        clock: ProvinceClock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.sm4_key = sm4.key_of(credentials.app_secret)
        self.clock = clock or SHARED_CLOCK
        self.monotonic = monotonic
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.max_request_s = connect_timeout_s + 2 * read_timeout_s
        self.verify: str | bool = ca_bundle or True
        self.session = requests.Session()
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, DeadlineAdapter())
        self._token: str | None = None
        self._token_until = 0.0
        self.tokens_obtained = 0

    def close(self) -> None:
        self.session.close()

    # --- token -----------------------------------------------------------------------

    def token(self) -> str:
        """The current token, a new one when there is none or it is about to expire."""
        if self._token is None or self.monotonic() >= self._token_until:
            self._token = None
            self._obtain_token()
        assert self._token is not None
        return self._token

    def forget_token(self) -> None:
        self._token = None

    def _obtain_token(self) -> None:
        c = self.credentials
        timestamp = int(self.clock.now() * 1000)
        sign = sm4.sm3_hex(f"{c.app_key}{timestamp}{c.app_secret}".encode())
        form = {"appKey": c.app_key, "timestamp": str(timestamp), "sign": sign}
        status, raw, retry = self._post(
            c.gateway_url.rstrip("/") + "/oauth/token",
            urlencode(form).encode("ascii"),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        data = _json(raw)
        if status == 200:
            token, expires = data.get("access_token"), data.get("expires_in")
            if not isinstance(token, str) or not 0 < len(token) <= 4096 or not _whole(expires):
                raise RetryableError("the token gateway answered without a usable token")
            assert isinstance(expires, int)
            self._token = token
            self._token_until = self.monotonic() + max(0.0, float(expires) - TOKEN_MARGIN_S)
            self.tokens_obtained += 1
            return
        server_ms = data.get("serverTime")
        if status == 401 and data.get("code") == 40101 and isinstance(server_ms, int):
            if abs(server_ms - timestamp) > CLOCK_WINDOW_S * 1000:
                self._learn_clock(server_ms)
                raise RetryableError(
                    "token refused: our clock is off; province clock learnt", "40101", 0.0
                )
            raise OperatorNeededError(
                "the token gateway refused appKey/appSecret (40101): check the credentials "
                "the province issued (haochaping-provision gm-enroll)",
                "40101",
                status,
            )
        raise _transport(status, retry, "token gateway")

    # --- calls -----------------------------------------------------------------------

    def call(self, operation: str, payload_of: Callable[[int, str], bytes]) -> bytes:
        """One call of *operation*: the payload made by *payload_of(ts_ms, nonce)*, sealed
        and signed; returns the answer payload once its SM2 signature verifies. On 40102 a
        new token and one repeat (a new payload, nonce and signature)."""
        return self.call_signed(operation, payload_of)[0]

    def call_signed(
        self, operation: str, payload_of: Callable[[int, str], bytes]
    ) -> tuple[bytes, bytes]:
        """As `call`, with the province's signature over the answer (verified): the proof."""
        try:
            return self._call_once(operation, payload_of)
        except _TokenRefusedError:
            self.forget_token()
        try:
            return self._call_once(operation, payload_of)
        except _TokenRefusedError as exc:
            raise RetryableError(
                f"{operation}: a fresh token was refused too (40102)", "40102"
            ) from exc

    def _call_once(
        self, operation: str, payload_of: Callable[[int, str], bytes]
    ) -> tuple[bytes, bytes]:
        c = self.credentials
        token = self.token()
        payload = payload_of(int(self.clock.now() * 1000), secrets.token_hex(16))
        body = envelope.request(
            operation,
            c.app_key,
            c.device_no,
            sm4.seal(self.sm4_key, payload),
            base64.b64encode(c.device_key.sign(payload)).decode("ascii"),
        )
        if len(body) > MAX_REQUEST_BYTES:
            raise RequestTooLargeError(f"{operation} request of {len(body)} bytes is over 1 MiB")
        headers = {
            "Content-Type": SOAP_TYPE,
            "Authorization": f"Bearer {token}",
            "SOAPAction": f'"{operation}"',
        }
        status, raw, retry = self._post(
            c.base_url.rstrip("/") + "/EvaluationService", body, headers
        )
        if status != 200:
            raise _transport(status, retry, operation)
        try:
            answer = envelope.response(raw, operation)
        except XmlError as exc:
            raise RetryableError(f"{operation}: {exc}") from exc
        return self._answer(operation, answer)

    def _answer(self, operation: str, answer: envelope.Response) -> tuple[bytes, bytes]:
        code, said = answer.code, f"{operation}: {answer.code} {answer.message}".strip()
        if code == "0":
            try:
                plain = sm4.unseal(self.sm4_key, answer.data)
                signature = base64.b64decode(answer.sign, validate=True)
            except (sm4.SealError, ValueError) as exc:
                raise UnprovenAnswerError(f"{operation}: answer unreadable ({exc})") from exc
            if not sm2.verify(self.credentials.province_key, plain, signature):
                raise UnprovenAnswerError(
                    f"{operation}: the answer's SM2 signature does not verify under the "
                    "province key held; nothing marked delivered"
                )
            return plain, signature
        if code == "40101" and answer.server_time.isdigit():
            self._learn_clock(int(answer.server_time))
            raise RetryableError(said + " (province clock learnt)", code, 0.0)
        if code == "40102":
            raise _TokenRefusedError(said, code)
        if code == "42202":
            raise LateRatingError(said, code)
        if code in ("42901", "50301"):
            seconds = answers.retry_after(answer.retry_after or None)
            raise RetryableError(said, code, seconds)
        if code in ("40104", "40101", "50001"):
            raise RetryableError(said, code, 0.0 if code != "50001" else None)
        where = f" (field {answer.field})" if answer.field else ""
        raise OperatorNeededError(said + where, code)

    def _learn_clock(self, server_ms: int) -> None:
        seconds = answers.server_time(server_ms / 1000)
        if seconds is not None:
            self.clock.learn(seconds)

    def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, str | None]:
        with Deadline(self.max_request_s).running() as deadline:
            response = send(self.session, "POST", url, body, headers, self, deadline)
            try:
                raw = read_bounded(response, deadline)
            finally:
                response.close()
        return response.status_code, raw, response.headers.get("Retry-After")


class _TokenRefusedError(ProvinceError):
    code = "40102"


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _transport(status: int, retry_after: str | None, what: str) -> ProvinceError:
    """A transport error: nothing was stored, so the call is repeated later."""
    if 300 <= status < 400:
        return OperatorNeededError(
            f"{what}: HTTP {status}, a redirect (never followed): check the configured URLs",
            "E_REDIRECT",
            status,
        )
    return RetryableError(
        f"{what}: HTTP {status}", f"HTTP_{status}", answers.retry_after(retry_after), status
    )

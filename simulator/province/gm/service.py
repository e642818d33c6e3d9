"""The stand-in's 国密 dialect: `POST {gateway}/oauth/token` and
`POST {base}/EvaluationService` as `province-gm.md` describes them, with the stand-in's fault
switches answered the way such a province answers (codes 42901/50301 with retryAfter, 40102
for an expired token, an answer signed wrongly for `bad_receipt`).

Checks run in the order the interface implies: transport (SOAPAction, Content-Type, the
envelope), token, appKey, decryption, the device's signature, then `ts` and the nonce (spent
once signature and `ts` pass), then the operation itself.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from xml.etree.ElementTree import Element

from device.keys import sm2, sm4
from device.record.rating import BEIJING
from simulator.province.faults import FaultPlan
from simulator.province.gm import evaluations, soap
from simulator.province.gm.tables import GmDevice
from simulator.province.http_server import Reply
from simulator.province.ratings import CheckedRecord
from simulator.province.receipts import WrongReceipt
from simulator.province.store import ProvinceStore
from simulator.province.validation import Rejection

log = logging.getLogger(__name__)

GATEWAY_PATH = "/gm-gateway"
TOKEN_TTL_S = 7200
CLOCK_WINDOW_S = 300
LATE_S = 24 * 3600
MAX_EVALUATIONS = 100
NONCE = re.compile(r"[0-9a-f]{16,64}")
XML_TYPE = "text/xml; charset=utf-8"
ROOTS = {
    "registerDevice": "register",
    "saveEvaluation": "evaluations",
    "supplementEvaluation": "evaluations",
    "heartbeat": "heartbeat",
}
SITE_FIELDS = ("areaCode", "hallCode", "windowNo", "deptCode", "terminalNo")
HEARTBEAT_FIELDS = (
    "deviceNo", "backlog", "quarantined", "lastSerialNo", "keypadConnected", "clockSynced",
)  # fmt: skip


class Refused(Exception):  # noqa: N818 (an answer, not a failure)
    """A non-zero code: never a delivery, no data, no signature."""

    def __init__(self, code: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


class GmService:
    def __init__(
        self,
        store: ProvinceStore,
        clock: Callable[[], float],
        base_path: str,
        token_ttl_s: float = TOKEN_TTL_S,
    ) -> None:
        self.store = store
        self.clock = clock
        self.service_path = base_path.rstrip("/") + "/EvaluationService"
        self.token_path = GATEWAY_PATH + "/oauth/token"
        self.token_ttl_s = token_ttl_s
        self.key = store.gm_province_key(clock())
        self.foreign_key = sm2.Sm2Key.generate()  # signs answers under the bad_receipt fault
        self.calls: Counter[str] = Counter()  # operations answered (code 0 or not), by name
        self._calls_lock = threading.Lock()

    @property
    def public_key(self) -> str:
        return self.key.public_hex

    def serves(self, path: str) -> bool:
        return path in (self.service_path, self.token_path)

    def issue_app(self) -> tuple[str, str]:
        """A new appKey and appSecret, as the province hands them out at installation."""
        return self.store.issue_app(self.clock())

    # --- one call --------------------------------------------------------------------

    def answer(self, path: str, headers: Mapping[str, str], body: bytes, plan: FaultPlan) -> Reply:
        action = (headers.get("SOAPAction") or "").strip()
        operation = action[1:-1] if len(action) > 2 and action[0] == action[-1] == '"' else ""
        if path == self.token_path:
            operation = ""
        transport = _transport_refusal(plan, operation if operation in soap.OPERATIONS else "")
        if transport is not None:
            return transport
        if path == self.token_path:
            return self._token(headers, body)
        content_type = (headers.get("Content-Type") or "").lower()
        if operation not in soap.OPERATIONS or not content_type.startswith("text/xml"):
            return Reply(400, soap.fault("SOAPAction or Content-Type"), content_type=XML_TYPE)
        with self._calls_lock:
            self.calls[operation] += 1
        try:
            call = soap.read_call(body, operation)
        except soap.Unreadable as exc:
            return Reply(500, soap.fault(str(exc)), content_type=XML_TYPE)
        try:
            payload = self._answer_payload(call, headers, plan)
        except Refused as refusal:
            return _xml(soap.answer(operation, refusal.code, str(refusal), **refusal.extra))
        return _xml(self._signed(operation, call.app_key, payload, plan))

    def _signed(self, operation: str, app_key: str, payload: bytes, plan: FaultPlan) -> bytes:
        secret = self.store.app_secret(app_key) or ""
        data = sm4.seal(sm4.key_of(secret), payload)
        wrong = plan.wrong_receipt
        if wrong is WrongReceipt.MISSING:
            signature = b""
        elif wrong is WrongReceipt.FOREIGN_KEY:
            signature = self.foreign_key.sign(payload)
        elif wrong is WrongReceipt.OTHER_BYTES:
            signature = self.key.sign(payload + b" ")
        else:
            signature = self.key.sign(payload)
        sign = base64.b64encode(signature).decode("ascii")
        return soap.answer(operation, 0, "ok", data=data, sign=sign)

    def _token(self, headers: Mapping[str, str], body: bytes) -> Reply:
        now = self.clock()
        server_time = int(now * 1000)
        refused = Reply(401, {"code": 40101, "message": "", "serverTime": server_time})
        if not (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            refused.body["message"] = "Content-Type must be application/x-www-form-urlencoded"
            return refused
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
        app_key, timestamp, sign = (
            form.get("appKey", ""),
            form.get("timestamp", ""),
            form.get("sign", ""),
        )
        secret = self.store.app_secret(app_key)
        if secret is None or not timestamp.isdigit():
            refused.body["message"] = "unknown appKey or no timestamp"
            return refused
        if abs(int(timestamp) - server_time) > CLOCK_WINDOW_S * 1000:
            refused.body["message"] = "timestamp more than 300 s from the province's clock"
            return refused
        if sign != sm4.sm3_hex(f"{app_key}{timestamp}{secret}".encode()):
            refused.body["message"] = "bad sign"
            return refused
        token = self.store.issue_gm_token(app_key, now, self.token_ttl_s)
        return Reply(200, {"access_token": token, "expires_in": int(self.token_ttl_s)})

    def _answer_payload(
        self, call: soap.Call, headers: Mapping[str, str], plan: FaultPlan
    ) -> bytes:
        now = self.clock()
        bearer = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        app_key = self.store.token_app(bearer, now) if bearer else None
        if app_key is None:
            raise Refused(40102, "token missing, unknown or expired")
        if plan.token_expired:
            self.store.expire_gm_token(bearer)
            raise Refused(40102, "token expired (injected fault)")
        if call.app_key != app_key:
            raise Refused(40103, "appKey is not the token's")
        secret = self.store.app_secret(app_key) or ""
        try:
            payload = sm4.unseal(sm4.key_of(secret), call.data)
        except sm4.SealError as exc:
            raise Refused(40001, str(exc), field="data") from exc
        root = self._payload_root(call.operation, payload)
        device = self._signer(call, app_key, root)
        try:
            signature = base64.b64decode(call.sign, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if not sm2.verify(device.sm2_public, payload, signature):
            raise Refused(40103, "request signature invalid")
        self._fresh(root, now)
        if call.operation == "registerDevice":
            return self._register(device, root, now)
        if call.operation == "heartbeat":
            return self._heartbeat(device, root, now)
        return self._evaluations(call.operation, device, root, now, plan)

    def _payload_root(self, operation: str, payload: bytes) -> Element:
        try:
            root = soap.parse_xml(payload)
        except ValueError as exc:
            raise Refused(40001, f"payload is not acceptable XML ({exc})", field="data") from exc
        if root.tag != ROOTS[operation]:
            raise Refused(40001, f"payload root must be <{ROOTS[operation]}>", field="data")
        return root

    def _signer(self, call: soap.Call, app_key: str, root: Element) -> GmDevice:
        """The device whose SM2 key must have signed the call: the registered one, or for
        registerDevice the key in its own payload."""
        if call.operation == "registerDevice":
            public = _child(root, "publicKey")
            if sm2.public_key_problem(public) is not None:
                raise Refused(42201, "publicKey is not an SM2 public key", field="publicKey")
            return GmDevice(call.device_no, app_key, public, _child(root, "evidenceKey"))
        device = self.store.gm_device(call.device_no)
        if device is None or device.app_key != app_key:
            raise Refused(40103, "device not registered for this appKey")
        return device

    def _fresh(self, root: Element, now: float) -> None:
        ts, nonce = root.get("ts"), root.get("nonce")
        if ts is None or nonce is None:
            raise Refused(40001, "ts and nonce are required", field="ts" if ts is None else "nonce")
        if not ts.isdigit() or not NONCE.fullmatch(nonce):
            raise Refused(
                40001, "ts or nonce malformed", field="ts" if not ts.isdigit() else "nonce"
            )
        if abs(int(ts) - now * 1000) > CLOCK_WINDOW_S * 1000:
            raise Refused(
                40101,
                "ts more than 300 s from the province's clock",
                serverTime=str(int(now * 1000)),
            )
        if not self.store.remember_nonce("gm:" + nonce, now):
            raise Refused(40104, "nonce seen in the last 600 s")

    # --- operations ------------------------------------------------------------------

    def _register(self, device: GmDevice, root: Element, now: float) -> bytes:
        if _child(root, "deviceNo") != device.device_no:
            raise Refused(42201, "deviceNo is not the calling device", field="deviceNo")
        try:
            raw = base64.b64decode(device.evidence_key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise Refused(42201, "evidenceKey is not an Ed25519 key", field="evidenceKey")
        site = {name: _child(root, name) or None for name in SITE_FIELDS}
        if not (site["areaCode"] or "").isdigit() or not site["deptCode"]:
            raise Refused(42201, "areaCode and deptCode are required", field="areaCode")
        outcome = self.store.register_gm_device(device, site, now)
        if outcome == "other_keys":
            raise Refused(40103, "deviceNo is registered with other keys")
        log.info("国密 device %s %s", device.device_no, outcome)
        return f"<registered><deviceNo>{_esc(device.device_no)}</deviceNo></registered>".encode()

    def _heartbeat(self, device: GmDevice, root: Element, now: float) -> bytes:
        body = {name: _child(root, name) for name in HEARTBEAT_FIELDS}
        if body["deviceNo"] != device.device_no:
            raise Refused(42201, "deviceNo is not the calling device", field="deviceNo")
        shown = {  # as the officer's page shows a JSON device's heartbeat
            "backlog": int(body["backlog"]) if body["backlog"].isdigit() else None,
            "quarantined": int(body["quarantined"]) if body["quarantined"].isdigit() else None,
            "keypadConnected": _flag(body["keypadConnected"]),
            "clockSynced": _flag(body["clockSynced"]),
            "lastSerialNo": body["lastSerialNo"],
            "dialect": "gm-soap",
        }
        self.store.record_heartbeat(device.device_no, shown, now)
        stamp = datetime.fromtimestamp(now, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        return f"<ok><serverTime>{stamp}</serverTime></ok>".encode()

    def _evaluations(
        self, operation: str, device: GmDevice, root: Element, now: float, plan: FaultPlan
    ) -> bytes:
        items = list(root)
        if not 0 < len(items) <= MAX_EVALUATIONS or any(i.tag != "evaluation" for i in items):
            raise Refused(40001, "1-100 <evaluation> elements", field="evaluations")
        values = [evaluations.children(item) for item in items]
        if operation == "saveEvaluation" and any(
            isinstance(v, dict) and _older_than_a_day(v["EVALUATETIME"], now) for v in values
        ):
            raise Refused(
                42202, "a rating over 24 h old: use supplementEvaluation", field="EVALUATETIME"
            )
        keys = self.store.device_keys(device.device_no)
        verdicts: list[CheckedRecord | Rejection] = []
        for value in values:
            verdict = (
                value
                if isinstance(value, Rejection)
                else evaluations.check(value, device.device_no, keys)
            )
            verdicts.append(verdict)
        ids = [v.evaluation_id for v in verdicts if isinstance(v, CheckedRecord)]
        stored = self.store.stored_canonical(ids)
        for index, verdict in enumerate(verdicts):
            if (
                isinstance(verdict, CheckedRecord)
                and stored.get(verdict.evaluation_id) != verdict.canonical
            ):
                injected = plan.rejection(verdict.evaluation_id)
                verdicts[index] = injected or verdict
        candidates = [v for v in verdicts if isinstance(v, CheckedRecord)]
        outcomes = iter(self.store.store_batch(device.device_no, candidates, now))
        results = [next(outcomes) if isinstance(v, CheckedRecord) else v for v in verdicts]
        taken = [
            v.evaluation_id
            for v, r in zip(verdicts, results, strict=True)
            if isinstance(v, CheckedRecord) and not isinstance(r, Rejection)
        ]
        unids = self.store.unids(taken)
        parts = []
        for value, result in zip(values, results, strict=True):
            evaluation_id = value.get("EVALUATEID", "") if isinstance(value, dict) else ""
            parts.append(_result(evaluation_id, result, unids))
        return ("<results>" + "".join(parts) + "</results>").encode()


def _result(evaluation_id: str, result: Any, unids: Mapping[str, str]) -> str:
    if isinstance(result, Rejection):
        status, unid, code, message = "rejected", "", result.code, result.message
    else:
        status, unid, code, message = str(result), unids.get(evaluation_id, ""), "", ""
    return (
        f"<result><EVALUATEID>{_esc(evaluation_id)}</EVALUATEID><status>{status}</status>"
        f"<evaluateUnid>{_esc(unid)}</evaluateUnid><errorCode>{_esc(code)}</errorCode>"
        f"<errorMessage>{_esc(message)}</errorMessage></result>"
    )


def _older_than_a_day(text: str, now: float) -> bool:
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return False  # refused per evaluation as E_FIELD
    return now - moment.timestamp() > LATE_S


def _flag(text: str) -> bool | None:
    return {"1": True, "0": False}.get(text)


def _child(root: Element, name: str) -> str:
    found = root.find(name)
    return "" if found is None else (found.text or "").strip()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(body: bytes) -> Reply:
    return Reply(200, body, content_type=XML_TYPE)


def _transport_refusal(plan: FaultPlan, operation: str) -> Reply | None:
    """down (503 flavour), unavailable, rate and 5xx as such a province gives them: a busy
    EvaluationService answers 42901/50301 with retryAfter, the gateway (or a call it cannot
    name) HTTP 429/503 with Retry-After."""
    for kind in ("down", "unavailable", "rate", "error500"):
        fault = plan.fired.get(kind)
        if fault is None:
            continue
        if kind == "down":
            return Reply(
                503,
                b"unavailable",
                {"Retry-After": str(fault.retry_after)},
                content_type="text/plain",
            )
        if kind == "error500":
            return Reply(500, b"internal error", content_type="text/plain")
        if not operation:
            status = 429 if kind == "rate" else 503
            headers = {"Retry-After": str(fault.retry_after)}
            return Reply(status, b"busy", headers, content_type="text/plain")
        code = 42901 if kind == "rate" else 50301
        message = f"{kind} (injected fault); nothing was stored"
        return _xml(soap.answer(operation, code, message, retryAfter=str(fault.retry_after)))
    return None

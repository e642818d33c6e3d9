"""A 国密 province written from the interface document (province-gm.md) alone, to check the
device against it: the token gateway and EvaluationService (registerDevice, heartbeat,
saveEvaluation, supplementEvaluation) on 127.0.0.1, strict on every field, signature and
encryption, signing its answers with its own SM2 key. It keeps what it stored, every refusal
with its reason, and injects faults: an answer lost or held after storing, expired tokens,
its clock ahead, 42901/50301 with retryAfter, HTTP 500, a 42202 for a call not late, answers
holding an entity bomb or results that do not match the call. The XML is read and written in
independent_gm_soap, an evaluation is checked in independent_gm_evaluation."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree.ElementTree import Element

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.support.independent_gm_crypto import (
    PUBLIC_KEY_HEX,
    CryptoRefusedError,
    Sm2Key,
    sm2_verify,
    sm3,
    sm4_key,
    sm4_open,
    sm4_seal,
    strict_b64,
)
from tests.support.independent_gm_evaluation import (
    TIME_FORMAT,
    RejectedError,
    check_against_canonical,
    evaluation_children,
    parse_time,
    result_xml,
)
from tests.support.independent_gm_soap import (
    BOMB,
    FAULT,
    RefusalError,
    TransportError,
    child_or_empty,
    child_text,
    esc,
    exact_children,
    read_envelope,
    read_payload,
    response,
)

OPERATIONS = ("registerDevice", "heartbeat", "saveEvaluation", "supplementEvaluation")
MAX_BODY = 1024 * 1024
BEIJING = timedelta(hours=8)
REGISTER_CHILDREN = [
    "deviceNo",
    "publicKey",
    "evidenceKey",
    "areaCode",
    "hallCode",
    "windowNo",
    "deptCode",
    "terminalNo",
]
HEARTBEAT_CHILDREN = [
    "deviceNo",
    "backlog",
    "quarantined",
    "lastSerialNo",
    "keypadConnected",
    "clockSynced",
]


@dataclass
class Registered:
    public_key: str
    evidence_key: Ed25519PublicKey
    evidence_b64: str
    site: dict[str, str]
    serials: list[int] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)


@dataclass
class Stored:
    """One stored evaluation: its children as sent, the province's id, the call it came by."""

    children: dict[str, str]
    unid: str
    operation: str


@dataclass
class Delivery:
    """One result the province answered (accepted or duplicate), in the order answered."""

    evaluate_id: str
    status: str
    operation: str


class IndependentGmProvince:
    """The province's state and rules; `serve()` puts it on 127.0.0.1."""

    def __init__(self, directory: Path, token_seconds: int = 7200) -> None:
        self.key = Sm2Key(directory)
        self.app_key = "APP-" + secrets.token_hex(6).upper()
        self.app_secret = secrets.token_hex(16)
        self.token_seconds = token_seconds
        self.clock_ahead_s = 0.0
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.nonces: dict[str, float] = {}
        self.devices: dict[str, Registered] = {}
        self.stored: dict[str, Stored] = {}
        self.rated: dict[tuple[str, str], str] = {}
        self.deliveries: list[Delivery] = []
        self.rejections: list[tuple[str, str, str]] = []
        self.refusals: list[tuple[str, int, str]] = []
        self.calls: list[str] = []
        self.heartbeats: list[dict[str, str]] = []
        self.drop_answers = 0
        self.expire_tokens_after_stores = 0
        self.busy: list[tuple[int, int]] = []  # (42901 or 50301, retryAfter) for the next calls
        self.call_late_once = False  # the next saveEvaluation refused with 42202, as if late
        self.faults_500 = 0  # the next calls answered with HTTP 500 and a SOAP Fault
        self.answered: list[tuple[str, float, int]] = []  # operation, time.monotonic(), code
        self.bomb_payloads = 0  # the next answers' payloads open with an entity bomb (signed)
        self.bomb_envelopes = 0  # the next answers' envelopes open with an entity bomb
        self.echo_first_result = 0  # the next answers repeat their first result for every one
        self.clock_jump_after_store = 0.0  # seconds the clock jumps after the next stored call
        self.hold_answer = threading.Event()
        self.answer_held = threading.Event()
        self._unids = 0
        self._server: ThreadingHTTPServer | None = None

    # --- the province's clock and faults --------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_ahead_s

    def beijing_now(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC).replace(tzinfo=None) + BEIJING

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self) -> None:
        province = self

        class Handler(_Handler):
            pass

        Handler.province = province
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the token gateway ----------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        server_ms = int(self.now() * 1000)
        refused = {"code": 40101, "serverTime": server_ms}
        if set(form) != {"appKey", "timestamp", "sign"}:
            return 401, {**refused, "message": "fields must be appKey, timestamp, sign"}
        if form["appKey"] != self.app_key:
            return 401, {**refused, "message": "unknown appKey"}
        if not re.fullmatch(r"[0-9]{1,16}", form["timestamp"]):
            return 401, {**refused, "message": "timestamp is not Unix milliseconds"}
        expected = sm3((form["appKey"] + form["timestamp"] + self.app_secret).encode()).hex()
        if form["sign"] != expected:
            return 401, {**refused, "message": "bad sign"}
        if abs(int(form["timestamp"]) - server_ms) > 300_000:
            return 401, {**refused, "message": "timestamp off by more than 300 s"}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.time() + self.token_seconds
        return 200, {"access_token": token, "expires_in": self.token_seconds}

    # --- EvaluationService ----------------------------------------------------------------

    def call(self, operation: str, token: str | None, body: bytes) -> tuple[bytes, bool]:
        """The response envelope for one call, and whether the province stored something."""
        self.calls.append(operation)
        try:
            if self.busy and operation in OPERATIONS[2:]:
                code, retry_after = self.busy.pop(0)
                raise RefusalError(code, "busy", retryAfter=str(retry_after))
            answer, stored = self._call(operation, token, body)
        except RefusalError as refusal:
            self.refusals.append((operation, refusal.code, refusal.why))
            self.answered.append((operation, time.monotonic(), refusal.code))
            return response(operation, refusal.code, refusal.why, "", "", refusal.extra), False
        self.answered.append((operation, time.monotonic(), 0))
        plain = answer.encode("utf-8")
        if self.bomb_payloads > 0 and operation in OPERATIONS[2:]:
            self.bomb_payloads -= 1
            plain = BOMB.replace(b"ROOT", plain.split(b">", 1)[0][1:]) + plain.replace(
                b"<EVALUATEID>", b"<EVALUATEID>&e9;", 1
            )
        data = sm4_seal(sm4_key(self.app_secret), plain, secrets.token_bytes(16))
        sign = base64.b64encode(self.key.sign(plain)).decode("ascii")
        return response(operation, 0, "ok", data, sign, {}), stored

    def _call(self, operation: str, token: str | None, body: bytes) -> tuple[str, bool]:
        if len(body) > MAX_BODY:
            raise RefusalError(41301, "body over 1 MiB")
        with self.lock:
            expiry = self.tokens.get(token or "")
        if expiry is None or expiry < time.time():
            raise RefusalError(40102, "token missing, unknown or expired")
        app_key, device_no, data, sign = read_envelope(operation, body)
        if app_key != self.app_key:
            raise RefusalError(40103, "appKey is not the token's")
        try:
            plain = sm4_open(sm4_key(self.app_secret), data)
        except CryptoRefusedError as exc:
            raise RefusalError(40001, f"data: {exc}", field="data") from exc
        payload = read_payload(plain)
        try:
            signature = strict_b64(sign)
        except CryptoRefusedError as exc:
            raise RefusalError(40001, f"sign: {exc}", field="sign") from exc
        if operation == "registerDevice":
            signer = child_or_empty(payload, "publicKey")
        else:
            with self.lock:
                device = self.devices.get(device_no)
            if device is None:
                raise RefusalError(40103, f"device {device_no!r} is not registered")
            signer = device.public_key
        if not sm2_verify(signer, plain, signature):
            raise RefusalError(40103, "request signature does not verify")
        ts, nonce = payload.get("ts"), payload.get("nonce")
        if ts is None or nonce is None:
            raise RefusalError(
                40001, "payload without ts or nonce", field="ts" if ts is None else "nonce"
            )
        if not re.fullmatch(r"[0-9]{1,16}", ts) or not re.fullmatch(r"[0-9a-f]{16,64}", nonce):
            raise RefusalError(40001, "ts or nonce malformed", field="ts")
        if abs(int(ts) - self.now() * 1000) > 300_000:
            raise RefusalError(
                40101, "ts off by more than 300 s", serverTime=str(int(self.now() * 1000))
            )
        with self.lock:
            now = self.now()
            self.nonces = {n: t for n, t in self.nonces.items() if t > now - 600}
            if nonce in self.nonces:
                raise RefusalError(40104, "nonce seen in the last 600 s")
            self.nonces[nonce] = now
        if operation == "registerDevice":
            return self._register(device_no, payload), False
        if operation == "heartbeat":
            return self._heartbeat(device_no, payload), False
        return self._evaluations(operation, device_no, payload)

    def _register(self, device_no: str, payload: Element) -> str:
        children = exact_children(payload, "register", REGISTER_CHILDREN, 42201)
        if children["deviceNo"] != device_no or not device_no:
            raise RefusalError(42201, "deviceNo differs from the envelope's", field="deviceNo")
        if not PUBLIC_KEY_HEX.fullmatch(children["publicKey"]):
            raise RefusalError(42201, "publicKey", field="publicKey")
        try:
            raw = strict_b64(children["evidenceKey"])
            evidence = Ed25519PublicKey.from_public_bytes(raw)
        except (CryptoRefusedError, ValueError) as exc:
            raise RefusalError(42201, "evidenceKey", field="evidenceKey") from exc
        if not re.fullmatch(r"[0-9]{6,12}", children["areaCode"]):
            raise RefusalError(42201, "areaCode", field="areaCode")
        if len(children["deptCode"]) != 18:
            raise RefusalError(42201, "deptCode", field="deptCode")
        if not children["windowNo"] and not children["terminalNo"]:
            raise RefusalError(42201, "neither windowNo nor terminalNo", field="windowNo")
        site = {k: children[k] for k in REGISTER_CHILDREN[3:]}
        with self.lock:
            known = self.devices.get(device_no)
            if known and (known.public_key, known.evidence_b64) != (
                children["publicKey"],
                children["evidenceKey"],
            ):
                raise RefusalError(40103, "other keys for a registered deviceNo")
            if known is None:
                self.devices[device_no] = Registered(
                    children["publicKey"], evidence, children["evidenceKey"], site
                )
        return f"<registered><deviceNo>{esc(device_no)}</deviceNo></registered>"

    def _heartbeat(self, device_no: str, payload: Element) -> str:
        children = exact_children(payload, "heartbeat", HEARTBEAT_CHILDREN, 42201)
        if children["deviceNo"] != device_no:
            raise RefusalError(42201, "deviceNo differs from the envelope's", field="deviceNo")
        for name in ("backlog", "quarantined", "lastSerialNo"):
            if not re.fullmatch(r"[0-9]+", children[name]):
                raise RefusalError(42201, f"{name}={children[name]!r}", field=name)
        for name, allowed in (("keypadConnected", ("0", "1", "")), ("clockSynced", ("0", "1"))):
            # keypadConnected may be null (docs/decisions.md: no keypad, or not known)
            if children[name] not in allowed:
                raise RefusalError(42201, f"{name}={children[name]!r}", field=name)
        self.heartbeats.append(children)
        return f"<ok><serverTime>{self.beijing_now().strftime(TIME_FORMAT)}</serverTime></ok>"

    def _evaluations(self, operation: str, device_no: str, payload: Element) -> tuple[str, bool]:
        if payload.tag != "evaluations" or (payload.text or "").strip():
            raise RefusalError(40001, "root is not <evaluations>", field="evaluations")
        items = list(payload)
        if not 1 <= len(items) <= 100 or any(e.tag != "evaluation" for e in items):
            raise RefusalError(40001, f"{len(items)} evaluations", field="evaluation")
        if operation == "saveEvaluation" and self.call_late_once:
            self.call_late_once = False  # after the nonce was spent, as the document says
            raise RefusalError(42202, "late (injected)", field="EVALUATETIME")
        if operation == "saveEvaluation":
            oldest = self.beijing_now() - timedelta(hours=24)
            for item in items:
                when = parse_time(child_text(item, "EVALUATETIME"))
                if when is not None and when < oldest:
                    raise RefusalError(42202, "a rating older than 24 h", field="EVALUATETIME")
        results = []
        stored_any = False
        with self.lock:
            device = self.devices[device_no]
            for item in items:
                result, stored = self._one(operation, device_no, device, item)
                stored_any = stored_any or stored
                results.append(result)
        if self.echo_first_result > 0:
            self.echo_first_result -= 1  # signed all the same: only the first was acknowledged
            results = [results[0]] * len(results)
        return "<results>" + "".join(results) + "</results>", stored_any

    def _one(
        self, operation: str, device_no: str, device: Registered, item: Element
    ) -> tuple[str, bool]:
        evaluate_id = child_text(item, "EVALUATEID") or ""
        try:
            children = evaluation_children(item)
            check_against_canonical(children, device.evidence_key, device_no)
        except RejectedError as rejected:
            self.rejections.append((evaluate_id, rejected.code, rejected.message))
            return result_xml(evaluate_id, "rejected", "", rejected.code, rejected.message), False
        known = self.stored.get(evaluate_id)
        if known is not None:
            if known.children != children:
                self.rejections.append((evaluate_id, "E_CONFLICT", "other values"))
                return result_xml(evaluate_id, "rejected", "", "E_CONFLICT", "other values"), False
            self.deliveries.append(Delivery(evaluate_id, "duplicate", operation))
            return result_xml(evaluate_id, "duplicate", known.unid, "", ""), False
        cases = children["BATCHPROJECTNOS"].split(",") if children["BATCHPROJECTNOS"] else []
        cases = cases or [children["PROJECTNO"]]
        for case in cases:
            if (case, children["ASSESSNUMBER"]) in self.rated:
                message = f"{case} already rated"
                self.rejections.append((evaluate_id, "E_ALREADY_RATED", message))
                return result_xml(evaluate_id, "rejected", "", "E_ALREADY_RATED", message), False
        serial = int(children["SERIALNO"])
        if device.serials and serial != max(device.serials) + 1:
            device.gaps.append(serial)
        device.serials.append(serial)
        for case in cases:
            self.rated[(case, children["ASSESSNUMBER"])] = evaluate_id
        self._unids += 1
        unid = f"GM{self._unids:08d}{secrets.token_hex(4)}"
        self.stored[evaluate_id] = Stored(children, unid, operation)
        self.deliveries.append(Delivery(evaluate_id, "accepted", operation))
        return result_xml(evaluate_id, "accepted", unid, "", ""), True


class _Handler(BaseHTTPRequestHandler):
    province: IndependentGmProvince
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        province = self.province
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY + 1:
            self._send(200, "text/xml; charset=utf-8", response("x", 41301, "too big", "", "", {}))
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if self.path == "/oauth/token":
            self._token(body)
            return
        if self.path != "/EvaluationService":
            self._fault(404, "no such path")
            return
        if (
            self.headers.get("Content-Type", "").lower().replace(" ", "")
            != "text/xml;charset=utf-8"
        ):
            self._fault(415, "Content-Type must be text/xml; charset=utf-8")
            return
        action = self.headers.get("SOAPAction", "")
        operation = action[1:-1] if len(action) > 2 and action[0] == action[-1] == '"' else ""
        if operation not in OPERATIONS:
            self._fault(500, f"SOAPAction {action!r}")
            return
        if province.faults_500 > 0:
            province.faults_500 -= 1
            province.answered.append((operation, time.monotonic(), 500))
            self._fault(500, "internal (injected)")
            return
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        try:
            answer, stored = province.call(operation, token, body)
        except TransportError as refusal:
            province.refusals.append((operation, refusal.status, refusal.why))
            self._fault(refusal.status, refusal.why)
            return
        if stored and province.clock_jump_after_store:
            province.clock_ahead_s += province.clock_jump_after_store
            province.clock_jump_after_store = 0.0
        if stored and province.expire_tokens_after_stores > 0:
            province.expire_tokens_after_stores -= 1
            province.expire_tokens()  # the next call meets an expired token
        if stored and province.hold_answer.is_set():
            province.answer_held.set()
            while province.hold_answer.is_set():
                time.sleep(0.01)
        if stored and province.drop_answers > 0:
            province.drop_answers -= 1
            self.close_connection = True
            return  # stored, and the answer never leaves
        if province.bomb_envelopes > 0:
            province.bomb_envelopes -= 1
            answer = BOMB.replace(b"ROOT", b"soap:Envelope") + answer.replace(
                b"<h:message>", b"<h:message>&e9;", 1
            )
        self._send(200, "text/xml; charset=utf-8", answer)

    def _token(self, body: bytes) -> None:
        if self.headers.get("Content-Type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"
        ):
            self.province.refusals.append(("token", 415, "Content-Type"))
            self._fault(415, "Content-Type")
            return
        try:
            parsed = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            parsed = {}
        form = {k: v[0] for k, v in parsed.items() if len(v) == 1}
        status, answer = self.province.token(form)
        if status != 200:
            self.province.refusals.append(("token", answer["code"], answer["message"]))
        self._send(status, "application/json", json.dumps(answer).encode())

    def _fault(self, status: int, why: str) -> None:
        self._send(status, "text/xml; charset=utf-8", FAULT.replace("{why}", esc(why)).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the device went away (killed): nothing to answer

"""Device endpoints of the stand-in province other than batches: enrolment, heartbeat,
tag lists and the audit view of a device's chain.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from device.keys.key_history import certificate_bytes
from device.keys.signing import key_id_of, public_key_from_b64, verify
from simulator.province.event_store import EventStore
from simulator.province.http_server import ApiError, Reply, Request, json_body
from simulator.province.receipts import ProvinceKey
from simulator.province.store import Enrolment, EnrolOutcome, KeyRotation, ProvinceStore
from simulator.province.tags import TagList
from simulator.province.validation import (
    Rejection,
    validate_enrolment,
    validate_heartbeat,
)

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))

ENROL_REFUSALS: dict[str, tuple[int, str, str]] = {
    "unknown_token": (401, "E_TOKEN", "unknown enrol token"),
    "expired_token": (401, "E_TOKEN", "this enrol token has expired"),
    "token_used": (409, "E_TOKEN_USED", "this enrol token already enrolled another device"),
    "key_taken": (422, "E_FIELD", "publicKey is already enrolled; generate a new key"),
}


def beijing_time(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def field_refusal(rejection: Rejection) -> ApiError:
    return ApiError(422, rejection.code, rejection.message, extra={"field": rejection.field})


class Province(Protocol):
    """What the endpoints read from the server; heartbeat period and tags change at run time."""

    store: ProvinceStore
    clock: Callable[[], float]
    heartbeat_seconds: int
    events: EventStore

    @property
    def tags(self) -> TagList: ...

    def receipt_key(self) -> ProvinceKey | None:
        """The key that signs receipts, or None for a version-1 province."""
        ...


class DeviceEndpoints:
    def __init__(self, province: Province) -> None:
        self.province = province

    @property
    def store(self) -> ProvinceStore:
        return self.province.store

    # --- POST /devices/enroll ----------------------------------------------------------

    def enroll(self, request: Request) -> Reply:
        body = json_body(request.raw)
        rejection = validate_enrolment(body)
        if rejection is not None:
            raise field_refusal(rejection)
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
        outcome = self.store.enroll(enrolment, self.province.clock())
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
                "heartbeatSeconds": self.province.heartbeat_seconds,
                "tagsVersion": self.province.tags.version,
            }
            key = self.province.receipt_key()
            if key is not None:  # version 1.1: the device pins the key its receipts verify by
                body["provinceKey"] = key.public_b64
                body["provinceKeyId"] = key.key_id
            return Reply(201, body)
        status, code, message = ENROL_REFUSALS[outcome.status]
        extra = {"field": "publicKey"} if code == "E_FIELD" else None
        raise ApiError(status, code, message, extra=extra)

    # --- POST /devices/{deviceId}/keys (v1.1: key history with certificates) ----------

    def add_key(self, request: Request) -> Reply:
        """A new key for an enrolled device: requested with a signature by a key it already
        has, certified by its latest key; earlier keys stay valid for what they signed."""
        body = json_body(request.raw)
        device_id = request.device_id or ""
        rotation = _key_rotation(body)
        owner = self.store.key(rotation.key_id)
        if owner is not None and owner[0] != device_id:
            raise ApiError(
                409, "E_FIELD", "publicKey belongs to another device", extra={"field": "publicKey"}
            )
        if owner is None:
            latest = self.store.latest_key_id(device_id)
            previous = self.store.key(rotation.previous_key_id)
            if (
                latest != rotation.previous_key_id
                or previous is None
                or not _certificate_valid(rotation, previous[1], device_id)
            ):
                raise ApiError(
                    409,
                    "E_KEY_CERT",
                    "the certificate does not verify under the device's latest key",
                    extra={"field": "certificate"},
                )
            self.store.add_key(device_id, rotation, self.province.clock())
            log.info("device %s added key %s", device_id, rotation.key_id)
        return Reply(201, {"deviceId": device_id, "keyId": rotation.key_id})

    # --- GET /devices/{deviceId}/keys ---------------------------------------------------

    def key_history(self, request: Request) -> Reply:
        """Public keys are public: anyone can anchor a ledger at the province this way."""
        device_id = request.params.get("deviceId", "")
        keys = self.store.key_history(device_id)
        if not keys:
            raise ApiError(404, "E_DEVICE", "unknown device")
        return Reply(200, {"deviceId": device_id, "keys": keys})

    # --- POST /devices/{deviceId}/heartbeat --------------------------------------------

    def heartbeat(self, request: Request) -> Reply:
        body = json_body(request.raw)
        rejection = validate_heartbeat(body)
        if rejection is not None:
            raise field_refusal(rejection)
        now = self.province.clock()
        self.store.record_heartbeat(request.device_id or "", body, now)
        reply = {
            "serverTime": beijing_time(now),
            "tagsVersion": self.province.tags.version,
            "heartbeatSeconds": self.province.heartbeat_seconds,
        }
        return Reply(200, reply)

    # --- GET /devices/{deviceId}/tags --------------------------------------------------

    def tags(self, _request: Request) -> Reply:
        return Reply(200, self.province.tags.as_json())

    # --- GET /devices/{deviceId}/audit -------------------------------------------------

    def audit(self, request: Request) -> Reply:
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
        body: dict[str, Any] = {
            "deviceId": device_id,
            "lastSeq": self.store.max_seq(device_id),
            "evaluationCount": self.store.evaluation_count(device_id),
            "missingSeqs": [list(gap) for gap in self.store.missing_seqs(device_id)],
            "flags": flags,
            "eventFlags": self.province.events.chain_flags(device_id),
            "suppressions": self.province.events.suppressions(device_id),
        }
        return Reply(200, body)


def _key_rotation(body: Any) -> KeyRotation:
    fields = {"publicKey", "previousKeyId", "issuedAt", "certificate"}
    if not isinstance(body, dict) or set(body) != fields:
        raise ApiError(
            422,
            "E_FIELD",
            "a new key needs publicKey, previousKeyId, issuedAt and certificate",
            extra={"field": "publicKey"},
        )
    try:
        raw = base64.b64decode(str(body["publicKey"]), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ApiError(
            422, "E_FIELD", "publicKey must be base64 of 32 bytes", extra={"field": "publicKey"}
        )
    issued = body["issuedAt"]
    if not isinstance(issued, int) or isinstance(issued, bool) or issued <= 0:
        raise ApiError(422, "E_FIELD", "issuedAt must be Unix seconds", extra={"field": "issuedAt"})
    if not isinstance(body["previousKeyId"], str) or not isinstance(body["certificate"], str):
        raise ApiError(
            422,
            "E_FIELD",
            "previousKeyId and certificate are strings",
            extra={"field": "certificate"},
        )
    return KeyRotation(
        key_id_of(raw),
        base64.b64encode(raw).decode("ascii"),
        body["previousKeyId"],
        issued,
        body["certificate"],
    )


def _certificate_valid(rotation: KeyRotation, previous_public: str, device_id: str) -> bool:
    payload = certificate_bytes(
        device_id,
        rotation.key_id,
        rotation.public_key,
        rotation.previous_key_id,
        rotation.issued_at,
    )
    try:
        return verify(public_key_from_b64(previous_public), rotation.certificate, payload)
    except ValueError:
        return False

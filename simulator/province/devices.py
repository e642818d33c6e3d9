"""Device endpoints of the stand-in province other than batches: enrolment, heartbeat,
tag lists and the audit view of a device's chain.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from device.keys.signing import key_id_of
from simulator.province.http_server import ApiError, Reply, Request, json_body
from simulator.province.store import Enrolment, EnrolOutcome, ProvinceStore
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

    @property
    def tags(self) -> TagList: ...


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
            return Reply(201, body)
        status, code, message = ENROL_REFUSALS[outcome.status]
        extra = {"field": "publicKey"} if code == "E_FIELD" else None
        raise ApiError(status, code, message, extra=extra)

    # --- POST /devices/{deviceId}/keys (extension: key rotation) ----------------------

    def add_key(self, request: Request) -> Reply:
        """A new key for an enrolled device, requested with a signature by a key it already
        has; earlier keys stay valid for the ratings they signed."""
        body = json_body(request.raw)
        text = body.get("publicKey") if isinstance(body, dict) else None
        try:
            raw = base64.b64decode(text or "", validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32 or set(body) != {"publicKey"}:
            raise ApiError(
                422,
                "E_FIELD",
                "publicKey must be base64 of 32 bytes and alone",
                extra={"field": "publicKey"},
            )
        device_id, key_id = request.device_id or "", key_id_of(raw)
        owner = self.store.key(key_id)
        if owner is not None and owner[0] != device_id:
            raise ApiError(
                409, "E_FIELD", "publicKey belongs to another device", extra={"field": "publicKey"}
            )
        if owner is None:
            self.store.add_key(
                device_id, base64.b64encode(raw).decode("ascii"), key_id, self.province.clock()
            )
            log.info("device %s added key %s", device_id, key_id)
        return Reply(201, {"deviceId": device_id, "keyId": key_id})

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
        }
        return Reply(200, body)

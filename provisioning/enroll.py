"""Enrolment with the province: the device's public key and site, authenticated by a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from device.daemon.config import province_key_problem
from device.errors import HaochapingError
from device.keys.signing import DeviceKey


class EnrollError(HaochapingError):
    """The province refused or could not be reached; nothing was written."""

    code = "E_ENROLL"


@dataclass(frozen=True)
class Enrolment:
    device_id: str
    key_id: str
    heartbeat_seconds: int
    tags_version: str | None
    # the province key to pin (spec v1.1); both "" when a version-1 province sent none
    province_key: str = ""
    province_key_id: str = ""

    @property
    def version_1(self) -> bool:
        """The province sent no key: it gives no receipts, so deliveries stay unproven."""
        return not self.province_key


def enroll(
    base_url: str,
    token: str,
    key: DeviceKey,
    site: dict[str, Any],
    *,
    serial: str,
    model: str,
    firmware_version: str,
    ca_bundle: str | None = None,
    timeout_s: float = 15.0,
) -> Enrolment:
    body = {
        "enrollToken": token,
        "publicKey": key.public_b64,
        "serial": serial,
        "model": model,
        "firmwareVersion": firmware_version,
        "site": site,
    }
    try:
        response = requests.post(
            base_url.rstrip("/") + "/devices/enroll",
            json=body,
            timeout=timeout_s,
            verify=ca_bundle or True,
        )
    except requests.RequestException as exc:
        raise EnrollError(f"province not reachable at {base_url}: {type(exc).__name__}") from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code != 201:
        field = f" (field {data['field']})" if data.get("field") else ""
        raise EnrollError(
            f"enrolment refused: HTTP {response.status_code} {data.get('code', '')} "
            f"{data.get('message', '')}{field}".strip()
        )
    if data.get("keyId") != key.key_id:
        raise EnrollError("province answered with a key id that is not this device's key")
    province_key, province_key_id = _province_key(data)
    return Enrolment(
        device_id=str(data["deviceId"]),
        key_id=str(data["keyId"]),
        heartbeat_seconds=int(data.get("heartbeatSeconds", 60)),
        tags_version=data.get("tagsVersion"),
        province_key=province_key,
        province_key_id=province_key_id,
    )


def _province_key(data: dict[str, Any]) -> tuple[str, str]:
    """`provinceKey` and `provinceKeyId` of the answer, checked to belong together; both ""
    when neither was sent (a version-1 province)."""
    key, key_id = data.get("provinceKey", ""), data.get("provinceKeyId", "")
    if not isinstance(key, str) or not isinstance(key_id, str):
        raise EnrollError("province answered with a provinceKey or provinceKeyId not a string")
    problem = province_key_problem(key, key_id)
    if problem is not None:
        raise EnrollError(f"province answered with a key that cannot be pinned: {problem}")
    return key, key_id

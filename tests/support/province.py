"""The stand-in province on 127.0.0.1 and a device talking to it: start one over a real
SQLite file, enrol a key, build its chain of signed records and sign each call."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from device.keys.signing import DeviceKey, request_signing_bytes
from device.record.canonical import ZERO_HASH, record_hash
from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore
from tests.support.records import PROVINCE_SITE, heartbeat_body, rating_fields

TOKEN = "enrol-token-1"


@contextmanager
def running_province(
    db_path: Path,
    tokens: tuple[str, ...] = (TOKEN,),
    clock: Callable[[], float] = time.time,
    **settings: Any,
) -> Iterator[ProvinceServer]:
    """A stand-in province on 127.0.0.1 over a real SQLite file, stopped afterwards.

    *settings* go to ProvinceServer (admin_token, fault_seed).
    """
    store = ProvinceStore(db_path)
    for token in tokens:
        store.add_token(token, 3600, now=clock())
    server = ProvinceServer(store, clock=clock, **settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        store.close()


def enrolment_body(key: DeviceKey, token: str = TOKEN, **overrides: Any) -> dict[str, Any]:
    """What a new device at PROVINCE_SITE sends to `/devices/enroll` with `token`."""
    body: dict[str, Any] = {
        "enrollToken": token,
        "publicKey": key.public_b64,
        "serial": "HCP-" + secrets.token_hex(4).upper(),
        "model": "HCP-7",
        "firmwareVersion": "0.1.0",
        "site": dict(PROVINCE_SITE),
    }
    body.update(overrides)
    return body


def signed_headers(
    key: DeviceKey,
    device_id: str,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four request-signature headers for METHOD PATH (PATH includes the base path)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    signed = request_signing_bytes(method, path, stamp, nonce, body)
    return {
        "Content-Type": "application/json",
        "X-Device-Id": device_id,
        "X-Timestamp": stamp,
        "X-Nonce": nonce,
        "X-Signature": key.sign(signed),
    }


class EnrolledDevice:
    """A device key enrolled at the stand-in: builds its chain of records and signs calls."""

    def __init__(self, url: str, key: DeviceKey, device_id: str) -> None:
        self.url = url
        self.key = key
        self.device_id = device_id
        self.seq = 0
        self.prev_hash = ZERO_HASH
        self.session = requests.Session()

    @classmethod
    def enrol(cls, url: str, token: str = TOKEN, key: DeviceKey | None = None) -> EnrolledDevice:
        key = key or DeviceKey.generate()
        reply = requests.post(f"{url}/devices/enroll", json=enrolment_body(key, token), timeout=10)
        assert reply.status_code == 201, reply.text
        return cls(url, key, reply.json()["deviceId"])

    @property
    def base_path(self) -> str:
        return "/" + self.url.split("/", 3)[3]

    def record(
        self, *, seq: int | None = None, prev_hash: str | None = None, **fields: Any
    ) -> dict:
        """The next signed record of the chain (or one at the given seq/prevHash, for forks)."""
        record = {
            "evaluationId": str(uuid.uuid4()),
            "deviceId": self.device_id,
            "keyId": self.key.key_id,
            "seq": self.seq + 1 if seq is None else seq,
            "prevHash": self.prev_hash if prev_hash is None else prev_hash,
            **rating_fields(**fields),
        }
        record["signature"] = self.key.sign_record(record)
        if seq is None and prev_hash is None:
            self.seq, self.prev_hash = record["seq"], record_hash(record)
        return record

    def records(self, count: int, **fields: Any) -> list[dict]:
        return [self.record(**fields) for _ in range(count)]

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        body: bytes | None = None,
        **signing: Any,
    ) -> requests.Response:
        """A signed call; *payload* is sent as JSON unless raw *body* bytes are given."""
        if body is None:
            body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = signed_headers(
            self.key, self.device_id, method, self.base_path + path, body, **signing
        )
        return self.session.request(method, self.url + path, data=body, headers=headers, timeout=30)

    def send_batch(self, records: list[dict], **signing: Any) -> requests.Response:
        payload = {"deviceId": self.device_id, "records": records}
        return self.call("POST", "/evaluations:batch", payload, **signing)

    def statuses(self, records: list[dict]) -> list[str]:
        """Send a batch and return each record's status (or its rejection code)."""
        reply = self.send_batch(records)
        assert reply.status_code == 200, reply.text
        return [r.get("code", r["status"]) for r in reply.json()["results"]]

    def heartbeat(self, **overrides: Any) -> requests.Response:
        return self.call(
            "POST", f"/devices/{self.device_id}/heartbeat", heartbeat_body(**overrides)
        )

    def tags(self) -> requests.Response:
        return self.call("GET", f"/devices/{self.device_id}/tags")

    def audit(self) -> dict[str, Any]:
        reply = self.call("GET", f"/devices/{self.device_id}/audit")
        assert reply.status_code == 200, reply.text
        return reply.json()


HOSTILE_ITEM = "<script>alert(1)</script>"


def fill_officer_page(server: ProvinceServer) -> EnrolledDevice:
    """Two devices (one silent), six ratings: two 差评 with tags, one hostile item name; the
    window's device is returned (the self-service terminal never sends a heartbeat)."""
    window = EnrolledDevice.enrol(server.url, token="a")
    terminal = EnrolledDevice.enrol(server.url, token="b")
    window.heartbeat(backlog=2, quarantined=1, lastAcceptedSeq=5)
    ratings = [
        window.record(satisfaction=5, taskName="不动产登记", proManagerNo="0012"),
        window.record(satisfaction=4, taskName="不动产登记", proManagerNo="0012"),
        window.record(satisfaction=3, taskName="营业执照办理", proManagerNo="0421"),
        window.record(
            satisfaction=1,
            taskName="营业执照办理",
            proManagerNo="0421",
            proManager="李强",
            evalDetail=["B03", "B06"],
        ),
        window.record(
            satisfaction=2,
            taskName=HOSTILE_ITEM,
            proManagerNo="0012",
            writingEvaluation="<b>等了一个小时</b>",
            evalDetail=[],
        ),
    ]
    assert window.statuses(ratings) == ["accepted"] * 5
    touch = terminal.record(
        satisfaction=5, proManagerNo=None, proManager=None, source="touch", clockSynced=False
    )
    assert terminal.statuses([touch]) == ["accepted"]
    return window

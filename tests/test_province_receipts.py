"""The stand-in province's side of receipts (spec v1.1), and the device pinning its key at
enrolment: over real HTTP on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from device.daemon.config import ConfigError, ProvinceSection
from device.keys.signing import DeviceKey, key_id_of
from device.record.canonical import canonical_json, sha256_hex
from device.record.receipt import Acknowledged, Receipt, RecordKind
from provisioning.enroll import EnrollError, enroll
from simulator.province.faults import Fault, FaultError
from simulator.province.receipts import ApiVersion, ProvinceKey
from tests.support.province import EnrolledDevice, enrolment_body, running_province
from tests.support.records import PROVINCE_SITE

TOKENS = ("token-a", "token-b")


def _receipt(device: EnrolledDevice, record: dict, result: dict) -> Receipt:
    return Receipt(
        RecordKind.RATING,
        device.device_id,
        record["evaluationId"],
        record["seq"],
        sha256_hex(canonical_json(record)),
        Acknowledged(result["status"]),
        result["receivedAt"],
        result["receipt"],
    )


def test_the_province_key_is_kept_with_its_database(tmp_path):
    with running_province(tmp_path / "p.db", tokens=TOKENS) as server:
        first = server.province_key
        answer = EnrolledDevice.enrol(server.url, token="token-a")
        enrolled = answer.session.post(
            server.url + "/devices/enroll", json=enrolment_body(DeviceKey.generate(), "token-b")
        ).json()
    assert enrolled["provinceKey"] == first.public_b64
    assert enrolled["provinceKeyId"] == key_id_of(base64.b64decode(first.public_b64))
    with running_province(tmp_path / "p.db", tokens=()) as again:
        assert again.province_key.public_b64 == first.public_b64


def test_a_duplicate_repeats_when_the_record_was_first_stored(tmp_path):
    now = [1_800_000_000.0]
    with running_province(tmp_path / "p.db", tokens=TOKENS, clock=lambda: now[0]) as server:
        device = EnrolledDevice.enrol(server.url, token="token-a")
        records = device.records(2)
        first = device.send_batch(records[:1], timestamp=int(now[0])).json()["results"]
        now[0] += 3600
        again = device.send_batch(records, timestamp=int(now[0])).json()["results"]
        key = server.province_key.public_b64
    assert [r["status"] for r in again] == ["duplicate", "accepted"]
    assert again[0]["receivedAt"] == first[0]["receivedAt"] == "2027-01-15 16:00:00"
    assert again[1]["receivedAt"] == "2027-01-15 17:00:00"
    for record, result in zip(records, again, strict=True):
        assert _receipt(device, record, result).verifies(key)
    assert not _receipt(device, records[1], again[0]).verifies(key)  # bound to its record


def test_a_rejected_record_gets_no_receipt(tmp_path):
    with running_province(tmp_path / "p.db", tokens=TOKENS) as server:
        device = EnrolledDevice.enrol(server.url, token="token-a")
        record = device.record()
        record["satisfaction"] = 9
        (result,) = device.send_batch([record]).json()["results"]
    assert result["status"] == "rejected"
    assert "receipt" not in result and "receivedAt" not in result


def test_a_given_province_key_signs(tmp_path):
    key = ProvinceKey.generate()
    with running_province(tmp_path / "p.db", tokens=TOKENS, province_key=key) as server:
        device = EnrolledDevice.enrol(server.url, token="token-a")
        records = device.records(1)
        (result,) = device.send_batch(records).json()["results"]
    assert _receipt(device, records[0], result).verifies(key.public_b64)


def test_a_version_1_province_sends_no_key_and_no_receipts(tmp_path):
    with running_province(tmp_path / "p.db", tokens=TOKENS, api_version=ApiVersion.V1) as server:
        reply = DeviceKey.generate()
        answer = EnrolledDevice.enrol(server.url, token="token-a", key=reply)
        enrolled = answer.session.post(
            server.url + "/devices/enroll", json=enrolment_body(reply, "token-a")
        ).json()
        (result,) = answer.send_batch(answer.records(1)).json()["results"]
    assert "provinceKey" not in enrolled and "provinceKeyId" not in enrolled
    assert set(result) == {"evaluationId", "status"}


def test_the_bad_receipt_fault_is_refused_when_its_kind_is_unknown():
    with pytest.raises(FaultError, match="receipt"):
        Fault.build("bad_receipt", receipt="forged")
    assert Fault.build("bad_receipt").as_json() == {"probability": 1.0, "receipt": "missing"}


def _fake_province(answer: dict) -> HTTPServer:
    """A real HTTP server on 127.0.0.1 that answers every enrolment with *answer*."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(answer).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_province_key_id_that_does_not_match_its_key_is_an_enrolment_error():
    key = DeviceKey.generate()
    province = ProvinceKey.generate()
    answer = {
        "deviceId": "hcp-1",
        "keyId": key.key_id,
        "provinceKey": province.public_b64,
        "provinceKeyId": DeviceKey.generate().key_id,
    }
    server = _fake_province(answer)
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/v1"
        with pytest.raises(EnrollError, match="province_key_id does not match"):
            enroll(url, "t", key, dict(PROVINCE_SITE), serial="s", model="m", firmware_version="1")
        answer["provinceKeyId"] = province.key_id
        pinned = enroll(
            url, "t", key, dict(PROVINCE_SITE), serial="s", model="m", firmware_version="1"
        )
        assert (pinned.province_key, pinned.province_key_id) == (
            province.public_b64,
            province.key_id,
        )
        del answer["provinceKey"], answer["provinceKeyId"]
        v1 = enroll(url, "t", key, dict(PROVINCE_SITE), serial="s", model="m", firmware_version="1")
        assert v1.version_1 and v1.province_key == ""
    finally:
        server.shutdown()
        server.server_close()


def test_the_configuration_refuses_a_province_key_id_of_another_key():
    province = ProvinceKey.generate()
    ok = ProvinceSection(
        "http://127.0.0.1/api/v1",
        "d",
        "k",
        province_key=province.public_b64,
        province_key_id=province.key_id,
    )
    ok.check()
    assert ok.pinned_key == province.public_b64
    with pytest.raises(ConfigError, match="province_key_id"):
        ProvinceSection(
            "http://127.0.0.1/api/v1",
            "d",
            "k",
            province_key=province.public_b64,
            province_key_id="0" * 16,
        ).check()
    with pytest.raises(ConfigError, match="province_key"):
        ProvinceSection(
            "http://127.0.0.1/api/v1", "d", "k", province_key_id=province.key_id
        ).check()
    assert ProvinceSection("http://127.0.0.1/api/v1", "d", "k").pinned_key is None

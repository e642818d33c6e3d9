"""Enrolment at the stand-in province: tokens, idempotent re-enrolment, field errors, routing."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from device.keys.signing import DeviceKey
from tests.support.province import TOKEN, EnrolledDevice, enrolment_body, running_province

pytestmark = pytest.mark.bare_province(TOKEN, "token-2")


def enrol(url: str, body: dict) -> requests.Response:
    return requests.post(f"{url}/devices/enroll", json=body, timeout=10)


def test_enrolment_returns_the_device_id_and_key_id(province):
    key = DeviceKey.generate()
    reply = enrol(province.url, enrolment_body(key))
    assert reply.status_code == 201
    body = reply.json()
    assert body["keyId"] == key.key_id
    assert body["deviceId"].startswith("hcp-")
    assert body["heartbeatSeconds"] == 60
    assert isinstance(body["tagsVersion"], str)
    stored = province.store.device(body["deviceId"])
    assert stored["site"]["areaCode"] == "640104"
    assert province.store.device_keys(body["deviceId"]) == {key.key_id: key.public_b64}


def test_unknown_token_is_refused(province):
    reply = enrol(province.url, enrolment_body(DeviceKey.generate(), token="no-such-token"))
    assert reply.status_code == 401
    assert reply.json()["code"] == "E_TOKEN"


def test_expired_token_is_refused(tmp_path):
    now = [time.time()]
    with running_province(tmp_path / "p.db", clock=lambda: now[0]) as province:
        now[0] += 3601  # the helper issues tokens for an hour
        reply = enrol(province.url, enrolment_body(DeviceKey.generate()))
    assert reply.status_code == 401
    assert reply.json()["code"] == "E_TOKEN"


def test_a_token_enrols_one_device_only(province):
    assert enrol(province.url, enrolment_body(DeviceKey.generate())).status_code == 201
    reply = enrol(province.url, enrolment_body(DeviceKey.generate()))
    assert reply.status_code == 409
    assert reply.json()["code"] == "E_TOKEN_USED"


def test_same_key_and_token_again_get_the_same_answer(province):
    body = enrolment_body(DeviceKey.generate())
    first = enrol(province.url, body)
    again = enrol(province.url, body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()


def test_a_key_cannot_be_enrolled_twice_with_another_token(province):
    key = DeviceKey.generate()
    assert enrol(province.url, enrolment_body(key)).status_code == 201
    reply = enrol(province.url, enrolment_body(key, token="token-2"))
    assert reply.status_code == 422
    assert reply.json()["field"] == "publicKey"


def _site(**changes):
    return lambda body: body["site"].update(changes)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.update(publicKey="not base64!"), "publicKey"),
        (lambda b: b.update(publicKey="AAAA"), "publicKey"),
        (lambda b: b.pop("serial"), "serial"),
        (lambda b: b.update(firmware="0.1"), "firmware"),
        (lambda b: b.update(site=None), "site"),
        (_site(areaCode="64010"), "site.areaCode"),
        (_site(areaCode="6401041234567"), "site.areaCode"),
        (_site(areaCode="64A104"), "site.areaCode"),
        (_site(deptCode="11640100MB1234567"), "site.deptCode"),
        (_site(pf="4"), "site.pf"),
        (_site(pf=True), "site.pf"),
        (_site(windowNo=12), "site.windowNo"),
        (lambda b: b["site"].pop("deptCode"), "site.deptCode"),
    ],
)
def test_a_bad_field_is_named(province, change, field):
    body = enrolment_body(DeviceKey.generate())
    change(body)
    reply = enrol(province.url, body)
    assert reply.status_code == 422
    assert reply.json()["code"] == "E_FIELD"
    assert reply.json()["field"] == field


def test_a_bad_field_does_not_spend_the_token(province):
    body = enrolment_body(DeviceKey.generate())
    body["site"]["pf"] = "4"
    assert enrol(province.url, body).status_code == 422
    body["site"]["pf"] = 4
    assert enrol(province.url, body).status_code == 201


def test_malformed_json_is_a_400(province):
    reply = requests.post(
        f"{province.url}/devices/enroll",
        data=b'{"enrollToken": ',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 400
    assert reply.json()["code"] == "E_JSON"


def test_unknown_path_and_wrong_method(province):
    missing = requests.get(f"{province.url}/no/such/thing", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["code"] == "E_NOT_FOUND"
    wrong = requests.get(f"{province.url}/devices/enroll", timeout=10)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"


def test_enrolled_device_signs_its_calls(province):
    device = EnrolledDevice.enrol(province.url)
    audit = device.audit()
    assert audit == {
        "deviceId": device.device_id,
        "lastSeq": 0,
        "evaluationCount": 0,
        "missingSeqs": [],
        "flags": [],
        "eventFlags": [],
        "suppressions": [],
    }


def raw_exchange(port: int, request: bytes) -> tuple[int, dict]:
    """Send raw bytes; the server answers and closes, as it does after framing errors."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    return int(head.split()[1]), json.loads(body)


def test_a_post_without_content_length_is_refused(province):
    request = b"POST /api/v1/devices/enroll HTTP/1.1\r\nHost: x\r\n\r\n"
    assert raw_exchange(province.port, request) == (
        400,
        {"code": "E_JSON", "message": "a body needs a Content-Length header"},
    )
    chunked = (
        b"POST /api/v1/devices/enroll HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    )
    assert raw_exchange(province.port, chunked)[0] == 400


def test_protocol_errors_are_json_too(province):
    status, body = raw_exchange(province.port, b"GET /a /b HTTP/1.1\r\n\r\n")
    assert status == 400
    assert body["code"] == "E_HTTP"
    status, body = raw_exchange(province.port, b"BREW /api/v1/devices/enroll HTTP/1.1\r\n\r\n")
    assert status == 501


def test_keep_alive_survives_errors_and_head_has_no_body(province):
    connection = http.client.HTTPConnection("127.0.0.1", province.port, timeout=10)
    for method in ("HEAD", "GET", "HEAD"):
        connection.request(method, "/api/v1/devices/enroll")
        reply = connection.getresponse()
        body = reply.read()
        assert reply.status == 405
        assert (body == b"") == (method == "HEAD")
    connection.request("POST", "/api/v1/devices/enroll", body=b"[]")
    reply = connection.getresponse()
    assert (reply.status, json.loads(reply.read())["field"]) == (422, "body")
    connection.close()


def test_the_runner_serves_until_sigterm(tmp_path):
    command = [sys.executable, "-m", "simulator.province", "--db", str(tmp_path / "p.db")]
    command += ["--port", "0", "--token", "runner-token", "--log-level", "WARNING"]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        ready = runner.stdout.readline().strip()
        assert ready.startswith("province: listening on http://127.0.0.1:")
        url = ready.rsplit(" ", 1)[1]
        device = EnrolledDevice.enrol(url, token="runner-token")
        assert device.statuses(device.records(2)) == ["accepted", "accepted"]
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=10) == 0
        runner.stdout.close()

"""The rate-later code for the receipt, through the live local API: only for a case pushed to
this device, with the bearer token, the same link every time, as JSON and as a QR image."""

from __future__ import annotations

import base64
import struct
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from device.record.rate_later import signed_message
from tests.support.local_api import AUTH

pytestmark = pytest.mark.local_api
CASE = {
    "projectNo": "HD2026/1121 0042",
    "taskCode": "11640100MB1234567X3000111222000",
    "taskName": "居民身份证换领",
    "proStatus": 3,
}
PATH = "/cases/" + quote(CASE["projectNo"], safe="") + "/rate-later"


def test_a_pushed_case_gets_one_signed_link_and_its_qr_image(window):
    assert window.post("/cases", CASE).status_code == 202
    assert not window.evaluator.codes.handed_out(CASE["projectNo"])
    first = window.call("GET", PATH)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["projectNo"] == CASE["projectNo"]
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["p"] == [CASE["projectNo"]] and query["t"] == [str(body["issuedAt"])]
    signature = base64.urlsafe_b64decode(query["s"][0] + "==")
    window.evaluator.key.private.public_key().verify(
        signature, signed_message(CASE["projectNo"], query["d"][0], body["issuedAt"])
    )
    assert window.evaluator.codes.handed_out(CASE["projectNo"])
    assert window.call("GET", PATH).json() == body  # the same code, not a new 7 days

    png = window.call("GET", PATH + ".png")
    assert png.status_code == 200
    assert png.headers["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png.content[16:24])  # the IHDR chunk
    assert width == height >= 200


def test_no_code_for_a_case_never_pushed_here(window):
    for path in ("/cases/HD-NEVER-PUSHED/rate-later", "/cases/HD-NEVER-PUSHED/rate-later.png"):
        reply = window.call("GET", path)
        assert reply.status_code == 404
        assert reply.json()["code"] == "E_NOT_FOUND"
    assert not window.evaluator.codes.handed_out("HD-NEVER-PUSHED")


def test_a_refused_case_gets_no_code(window):
    window.evaluator.reset(None)  # no staff signed in: the case is refused
    assert window.post("/cases", CASE).status_code == 409
    assert window.call("GET", PATH).status_code == 404


def test_the_code_needs_the_token(window):
    assert window.post("/cases", CASE).status_code == 202
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        reply = requests.get(window.url + PATH, headers=headers, timeout=5)
        assert reply.status_code == 401
    assert not window.evaluator.codes.handed_out(CASE["projectNo"])
    assert requests.get(window.url + PATH, headers=AUTH, timeout=5).status_code == 200


def test_out_of_service_hands_out_no_code(window):
    assert window.post("/cases", CASE).status_code == 202
    window.evaluator.out_of_service = "disk full"
    reply = window.call("GET", PATH)
    assert (reply.status_code, reply.json()["code"]) == (503, "E_OUT_OF_SERVICE")
    assert not window.evaluator.codes.handed_out(CASE["projectNo"])

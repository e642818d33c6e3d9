"""A 国密 province's answers are not believed unless signed: a tampered answer, one signed by
another key, one without a signature, and XML bombs (billion laughs, external entities) in
the envelope or inside a validly signed payload deliver nothing and crash nothing."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from device.keys import sm4
from device.keys.sm2 import Sm2Key
from sync.adapter import DeliveryStatus, OutgoingRecord
from sync.gm.adapter import GmSoapAdapter
from sync.gm.client import GmClient, GmCredentials
from sync.province_client import ProvinceClock, RetryableError
from sync.sender import Sender
from tests.support.gm import GmDeviceUnderTest, gm_province
from tests.support.hostile import HostileServer

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
SOAP = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:h="urn:hcp:gm:1"><soap:Body><h:saveEvaluationResponse>{inner}'
    "</h:saveEvaluationResponse></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize("wrong", ["foreign_key", "other_bytes", "missing"])
def test_an_answer_not_signed_by_the_province_key_marks_nothing(tmp_path: Path, wrong: str) -> None:
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        ratings = [device.record(n) for n in range(4)]
        sender = Sender(device.ledger, device.adapter(), device.vault, overlap=False)
        province.faults.set("bad_receipt", receipt=wrong)
        with pytest.raises(RetryableError, match="without a valid receipt"):
            sender.send_round()
        assert device.ledger.outbox.backlog() == 4  # the province stored them; we proved nothing
        assert len(province.store.evaluation_ids()) == 4
        province.faults.clear()
        result = sender.send_round()
        assert (result.sent, result.delivered) == (4, 4)
        assert device.ledger.outbox.backlog() == 0
        assert {device.ledger.outbox.delivery_of(r.evaluation_id) for r in ratings} == {"duplicate"}
        assert len(province.store.evaluation_ids()) == 4
        sender.close()
        device.close()


class _Hostile:
    """A province that hands out tokens and answers every call with *answer_body*."""

    def __init__(self, answer_body: bytes) -> None:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            if handler.path.endswith("/oauth/token"):
                body = json.dumps({"access_token": "t", "expires_in": 7200}).encode()
                content_type = "application/json"
            else:
                body, content_type = answer_body, "text/xml; charset=utf-8"
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        self.server = HostileServer(answer)


def _adapter(url: str, app_secret: str, province_key: str) -> GmSoapAdapter:
    credentials = GmCredentials(
        url.rsplit("/api/v1", 1)[0] + "/gw",
        url,
        "app-1",
        app_secret,
        province_key,
        "GM-DEV-0001",
        Sm2Key.generate(),
    )
    return GmSoapAdapter(GmClient(credentials, clock=ProvinceClock(), read_timeout_s=5))


def _records(device: GmDeviceUnderTest) -> list[OutgoingRecord]:
    rows = device.ledger.unsent(10, device.vault, 10**6)
    return [OutgoingRecord(r.record_id, r.canonical, r.seq) for r in rows]


@pytest.mark.parametrize("prolog", [LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_xml_bombs_deliver_nothing_and_crash_nothing(tmp_path: Path, prolog: str) -> None:
    secret = "0123456789abcdef0123456789abcdef"
    province_key = Sm2Key.generate()
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        for n in range(3):
            device.record(n, age=timedelta(minutes=1))
        records = _records(device)
    # the bomb as the envelope itself
    envelope_bomb = (prolog + SOAP.format(inner="<h:code>&lol9;</h:code>")).encode()
    if prolog is EXTERNAL:
        envelope_bomb = (prolog + SOAP.format(inner="<h:code>&x;</h:code>")).encode()
    # the bomb inside a payload sealed with the right secret and signed with the right key
    payload = (prolog + "<results>&lol9;&x;</results>").encode()
    signed = SOAP.format(
        inner="<h:code>0</h:code><h:message>ok</h:message>"
        f"<h:data>{sm4.seal(sm4.key_of(secret), payload)}</h:data>"
        f"<h:sign>{base64.b64encode(province_key.sign(payload)).decode()}</h:sign>"
    ).encode()
    for body in (envelope_bomb, signed):
        hostile = _Hostile(body)
        adapter = _adapter(hostile.server.url, secret, province_key.public_hex)
        started = time.monotonic()
        try:
            with pytest.raises(RetryableError):
                adapter.deliver(records)
        finally:
            adapter.close()
            hostile.server.close()
        assert time.monotonic() - started < 5  # refused at once, nothing expanded
    assert device.ledger.outbox.backlog() == 3
    device.close()


def test_a_tampered_sealed_answer_delivers_nothing(tmp_path: Path) -> None:
    """Code 0 whose data does not decrypt, or decrypts to other bytes than were signed."""
    secret = "0123456789abcdef0123456789abcdef"
    province_key = Sm2Key.generate()
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        device.record(1)
        records = _records(device)
    answer = f"<results><result><EVALUATEID>{records[0].evaluation_id}</EVALUATEID>"
    answer += "<status>accepted</status><evaluateUnid>U1</evaluateUnid><errorCode/>"
    answer += "<errorMessage/></result></results>"
    signed_other = province_key.sign(answer.replace("U1", "U2").encode())
    sealed = sm4.seal(sm4.key_of(secret), answer.encode())
    flipped = base64.b64decode(sealed)
    flipped = flipped[:20] + bytes([flipped[20] ^ 1]) + flipped[21:]
    for data, sign in (
        (sealed, signed_other),
        (base64.b64encode(flipped).decode(), province_key.sign(answer.encode())),
    ):
        body = SOAP.format(
            inner=f"<h:code>0</h:code><h:message>ok</h:message><h:data>{data}</h:data>"
            f"<h:sign>{base64.b64encode(sign).decode()}</h:sign>"
        ).encode()
        hostile = _Hostile(body)
        adapter = _adapter(hostile.server.url, secret, province_key.public_hex)
        try:
            deliveries = adapter.deliver(records)
        finally:
            adapter.close()
            hostile.server.close()
        assert [d.status for d in deliveries] == [DeliveryStatus.UNPROVEN]
    device.close()

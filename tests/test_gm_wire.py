"""The 国密 adapter's reading of what a province writes, whoever wrote it: answers laid out
differently (declaration, line breaks, another prefix, a SOAP Header) are read; a Fault, an
answer to another operation or one of another shape is a retryable error; a rating XML cannot
carry is quarantined, never sent garbled. And the [gm] configuration is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.daemon.config import ConfigError, GmSection, from_dict, load, to_dict
from device.keys.sm2 import Sm2Key
from sync.gm import envelope
from sync.gm.xmltext import XmlError
from sync.sender import Sender
from tests.support.gm import GmDeviceUnderTest, gm_province, rating_body

PRETTY = b"""<?xml version="1.0" encoding="UTF-8"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">
  <S:Header/>
  <S:Body>
    <ns2:saveEvaluationResponse xmlns:ns2="urn:hcp:gm:1">
      <ns2:code>42901</ns2:code>
      <ns2:message>too many</ns2:message>
      <ns2:data/>
      <ns2:sign></ns2:sign>
      <ns2:retryAfter> 12 </ns2:retryAfter>
    </ns2:saveEvaluationResponse>
  </S:Body>
</S:Envelope>
"""


def test_an_answer_laid_out_another_way_is_read() -> None:
    answer = envelope.response(PRETTY, "saveEvaluation")
    assert (answer.code, answer.message, answer.retry_after, answer.data) == (
        "42901",
        "too many",
        "12",
        "",
    )


@pytest.mark.parametrize(
    "body",
    [
        PRETTY.replace(b"saveEvaluationResponse", b"heartbeatResponse"),
        PRETTY.replace(b"urn:hcp:gm:1", b"urn:other"),
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><S:Fault>'
        b"<faultcode>S:Server</faultcode></S:Fault></S:Body></S:Envelope>",
        b"<html>502 Bad Gateway</html>",
        b"",
        PRETTY.replace(b"<ns2:code>42901</ns2:code>", b""),
    ],
    ids=["other-operation", "other-namespace", "fault", "html", "empty", "no-code"],
)
def test_anything_else_is_refused(body: bytes) -> None:
    with pytest.raises(XmlError):
        envelope.response(body, "saveEvaluation")


def test_a_rating_xml_cannot_carry_is_quarantined_and_the_rest_delivered(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        good = device.record(1)
        body = rating_body(2, device.config)
        body["writingEvaluation"] = "bell \x07 in the text"
        bad = device.ledger.append(body, device.key, device.vault)
        sender = Sender(device.ledger, device.adapter(), device.vault, overlap=False)
        result = sender.send_round()
        assert (result.delivered, result.quarantined) == (1, 1)
        quarantined = device.ledger.outbox.quarantined_ratings()
        assert [(q.evaluation_id, q.code) for q in quarantined] == [
            (bad.evaluation_id, "E_NOT_SENDABLE")
        ]
        assert province.store.evaluation_ids() == [good.evaluation_id]
        sender.close()
        device.close()


def test_the_gm_section_is_checked_and_written_back(tmp_path: Path) -> None:
    with gm_province(tmp_path / "province.db") as province:
        device = GmDeviceUnderTest(tmp_path / "device", province)
        data = to_dict(device.config)
        assert data["sync"]["adapter"] == "gm-soap"
        assert load(device.config_path) == device.config
        assert "app_secret" not in repr(device.config.gm)
        without = {k: v for k, v in data.items() if k != "gm"}
        with pytest.raises(ConfigError, match=r"needs the \[gm\] section"):
            from_dict(without)
        for name, value, message in (
            ("app_secret", "not-hex", "32 hex"),
            ("province_sm2_key", "04" + "00" * 64, "curve"),
            ("gateway_url", "ftp://x", "gateway_url"),
        ):
            broken = {**data, "gm": {**data["gm"], name: value}}
            with pytest.raises(ConfigError, match=message):
                from_dict(broken)
        device.close()
    # a JSON province's device has no [gm] table at all
    assert not GmSection().configured
    assert Sm2Key.generate().public_hex.startswith("04")

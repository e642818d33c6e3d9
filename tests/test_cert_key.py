"""certKey at the counter: only the shapes of the province's hash pass, never an ID number."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import requests

from device.local_api.case_intake import CaseError, cert_key, parse_case
from device.local_api.cert_key import CERT_KEY_PATTERN, is_id_number
from tests.support.cert_keys import EVASIONS, ID_NUMBER, ID_WITH_X, OLD_ID, real_hashes

CASE = {
    "projectNo": "HD20261121000101",
    "taskCode": "11640100MB1234567X3000111222000",
    "taskName": "居民身份证换领",
}
ROOT = Path(__file__).parent.parent
DOCUMENTS = [
    ROOT / "device" / "local_api" / "openapi.json",
    ROOT / "docs" / "local-api.openapi.json",
]


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_an_id_number_in_any_disguise_is_refused(name):
    value = EVASIONS[name]
    with pytest.raises(CaseError) as caught:
        parse_case({**CASE, "certKey": value}, "window")
    error = caught.value
    assert error.field == "certKey" and "certKey" in str(error)
    assert value not in str(error)
    assert not re.search(r"\d{6}", str(error)), "no part of an ID number in the message"


@pytest.mark.parametrize("name", sorted(real_hashes()))
def test_every_shape_of_a_real_hash_is_kept(name):
    value = real_hashes()[name]
    assert cert_key(value) == value
    assert re.fullmatch(CERT_KEY_PATTERN, value)
    assert parse_case({**CASE, "certKey": value}, "window").identity["certKey"] == value


def test_the_bare_id_numbers_are_named_as_such():
    for raw in (ID_NUMBER, ID_WITH_X, OLD_ID, "110105194912310021"):
        with pytest.raises(CaseError, match="is an ID number"):
            cert_key(raw)


def test_id_numbers_are_told_by_check_digit_and_birth_date():
    assert is_id_number(ID_NUMBER) and is_id_number(ID_WITH_X) and is_id_number(OLD_ID)
    assert not is_id_number("110101199003074515")  # wrong check digit
    assert not is_id_number("110101199013074510")  # no 13th month
    assert not is_id_number("110105491331002")


def test_every_evasion_the_checks_miss_is_outside_the_documented_pattern_or_refused():
    """The pattern refuses the shapes; what fits a shape is refused by its content."""
    inside = [n for n, v in EVASIONS.items() if re.fullmatch(CERT_KEY_PATTERN, v)]
    assert len(inside) >= 8, inside  # the checks beyond the pattern are exercised
    for name in inside:
        with pytest.raises(CaseError):
            cert_key(EVASIONS[name])


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.parent.name)
def test_the_documents_state_the_same_pattern_without_lookarounds(document):
    schema = json.loads(document.read_text())["components"]["schemas"]
    (prop,) = [
        s["properties"]["certKey"] for s in schema.values() if "certKey" in s.get("properties", {})
    ]
    assert prop["pattern"] == CERT_KEY_PATTERN
    assert "(?" not in prop["pattern"]
    assert prop["minLength"] == 22 and prop["maxLength"] == 128


def _push(driver, body: dict) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{driver.evaluator.api.port}/api/v1/cases",
        json=body,
        headers={"Authorization": f"Bearer {driver.config.local_api.token}"},
        timeout=5,
    )


def test_through_the_real_evaluator_no_disguise_reaches_the_screen_ledger_or_logs(window, caplog):
    """The real evaluator and its local API on 127.0.0.1: each evasion is a 422 naming
    certKey; none reaches the screen or the ledger; no value is in the answer or the logs."""
    caplog.set_level(logging.DEBUG)
    for name, value in EVASIONS.items():
        answer = _push(window, {**CASE, "certKey": value})
        assert answer.status_code == 422, name
        body = answer.json()
        assert (body["code"], body["field"]) == ("E_FIELD", "certKey"), name
        assert value not in answer.text, name
        window.step()
        assert window.phase == "idle", name
    accepted = real_hashes()["sha256 base64"]
    assert _push(window, {**CASE, "certKey": accepted}).status_code == 202
    window.until(lambda: window.phase == "rating", "a case with a real hash on screen")
    window.key(2)
    window.until(lambda: window.phase == "thanks", "rated")
    assert [r["projectNo"] for r in window.ratings()] == [CASE["projectNo"]]
    raw = b"".join(
        p.read_bytes()
        for p in window.config.ledger_path.parent.glob(window.config.ledger_path.name + "*")
    )
    for value in [*EVASIONS.values(), accepted, ID_NUMBER]:
        assert value not in caplog.text
        assert value.encode() not in raw

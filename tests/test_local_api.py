"""The local API over real HTTP on 127.0.0.1, with the dummy twin of the evaluator behind it."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from pathlib import Path

import pytest
import requests

from device.local_api.case_intake import (
    MAX_BATCH,
    MAX_THEME_ITEMS,
    MAX_USER_PROP,
    TEXT_LIMITS,
    TEXT_PATTERN,
)
from device.local_api.server import LocalApi, openapi_document
from device.local_api.staff_intake import MAX_PHOTO_BASE64, PHOTO_PATTERN
from device.record.rating import Staff
from tests.support.dummy_evaluator import DummyEvaluator
from tests.support.local_api import AUTH, TOKEN, WANG, Window, read_all

DOCS = Path(__file__).parent.parent / "docs" / "local-api.openapi.json"
CASE = {
    "projectNo": "HD20261121000101",
    "taskCode": "11640100MB1234567X3000111222000",
    "taskName": "居民身份证换领",
    "userName": "李秀英",
    "certType": "111",
    "certKey": "9f86d081884c7d659a2feaa0c55ad015",
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)
pytestmark = pytest.mark.local_api


def _error(response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert body.get("field") == field


# -- cases ----------------------------------------------------------------------------------


def test_a_pushed_case_goes_on_screen_with_the_signed_in_staff(window):
    response = window.post("/cases", CASE)
    assert (response.status_code, response.json()) == (
        202,
        {"projectNo": CASE["projectNo"], "status": "queued"},
    )
    case = window.evaluator.on_screen
    assert (case.project_no, case.task_name, case.pro_manager_no, case.pro_manager) == (
        "HD20261121000101",
        "居民身份证换领",
        "0421",
        "王敏",
    )
    assert case.identity == {k: CASE[k] for k in ("userName", "certType", "certKey")}


def test_a_case_naming_its_staff_keeps_them(window):
    window.post("/cases", {**CASE, "proManagerNo": "0577", "proManager": "赵磊"})
    assert window.evaluator.on_screen.pro_manager_no == "0577"


def test_bad_fields_are_named_and_nothing_is_queued(window):
    for change, field in [
        ({"projectNo": "x" * 51}, "projectNo"),
        ({"satisfaction": 5}, "satisfaction"),
        ({"proManager": "王\n敏", "proManagerNo": "1"}, "proManager"),
        ({"batchProjectNos": ["A", "B"]}, "batchProjectNos"),
    ]:
        _error(window.post("/cases", {**CASE, **change}), 422, "E_FIELD", field)
    _error(window.post("/cases", [CASE]), 422, "E_FIELD", "$")
    assert window.evaluator.pushed == []


def test_a_window_without_staff_is_paused(window):
    assert window.post("/staff/sign-out").json() == {"status": "signed_out"}
    _error(window.post("/cases", CASE), 409, "E_PAUSED")
    assert window.call("GET", "/status").json()["phase"] == "paused"
    assert window.post("/staff/sign-in", {"proManagerNo": "0421", "proManager": "王敏"}).ok
    assert window.post("/cases", CASE).status_code == 202


def test_a_device_that_cannot_store_ratings_says_why(window):
    window.evaluator.out_of_service = "磁盘已满 (disk full)"
    response = window.post("/cases", CASE)
    _error(response, 503, "E_OUT_OF_SERVICE")
    assert response.json()["message"] == "磁盘已满 (disk full)"
    assert window.evaluator.pushed == []


def test_only_the_case_on_screen_can_be_cancelled(window):
    window.post("/cases", CASE)
    window.post("/cases", {**CASE, "projectNo": "HD2"})
    _error(window.call("DELETE", "/cases/HD2"), 404, "E_NOT_FOUND")  # queued, not on screen
    response = window.call("DELETE", f"/cases/{CASE['projectNo']}")
    assert response.json() == {"projectNo": CASE["projectNo"], "status": "cancelled"}
    assert window.evaluator.on_screen.project_no == "HD2"
    window.evaluator.rate()
    _error(window.call("DELETE", "/cases/HD2"), 404, "E_NOT_FOUND")  # rated: too late
    assert window.evaluator.cancelled == [CASE["projectNo"]]


def test_a_case_number_in_the_path_is_percent_decoded_and_checked(window):
    window.post("/cases", {**CASE, "projectNo": "HD/2026 #1"})
    assert window.call("DELETE", "/cases/HD%2F2026%20%231").status_code == 200
    _error(window.call("DELETE", "/cases/" + "x" * 51), 422, "E_FIELD", "projectNo")
    _error(window.call("DELETE", "/cases/a%0Ab"), 422, "E_FIELD", "projectNo")
    _error(window.call("DELETE", "/cases/%FF"), 422, "E_FIELD", "projectNo")


# -- staff ----------------------------------------------------------------------------------


def test_staff_sign_in_with_a_photo(window):
    body = {"proManagerNo": "0577", "proManager": "赵磊", "photo": base64.b64encode(PNG).decode()}
    assert window.post("/staff/sign-in", body).json() == {"status": "signed_in"}
    assert window.evaluator.staff == Staff("0577", "赵磊", PNG)
    assert window.call("GET", "/status").json()["staff"] == {
        "proManagerNo": "0577",
        "proManager": "赵磊",
    }


def test_a_photo_may_make_the_sign_in_body_larger_than_a_case(window):
    photo = base64.b64encode(PNG + bytes(250 * 1024)).decode()
    body = {"proManagerNo": "0577", "proManager": "赵磊", "photo": photo}
    assert len(json.dumps(body)) > 64 * 1024
    assert window.post("/staff/sign-in", body).status_code == 200
    too_big = base64.b64encode(PNG + bytes(256 * 1024)).decode()
    _error(window.post("/staff/sign-in", {**body, "photo": too_big}), 422, "E_FIELD", "photo")
    _error(window.post("/staff/sign-in", {**body, "photo": photo * 2}), 413, "E_TOO_LARGE")
    _error(window.post("/cases", {**CASE, "taskName": photo}), 413, "E_TOO_LARGE")


def test_sign_out_takes_no_body_or_an_empty_object(window):
    assert window.post("/staff/sign-out", {}).status_code == 200
    _error(window.post("/staff/sign-out", {"proManagerNo": "0421"}), 422, "E_FIELD", "proManagerNo")
    _error(window.post("/staff/sign-out", None, data=b"null"), 415, "E_MEDIA_TYPE")
    json_header = {"Content-Type": "application/json"}
    _error(window.post("/staff/sign-out", data=b"null", headers=json_header), 422, "E_FIELD", "$")


def test_a_self_service_terminal_rates_without_staff(kiosk):
    assert kiosk.post("/cases", {**CASE, "terminalNo": "ZZ-03"}).status_code == 202
    response = kiosk.post("/cases", {**CASE, "proManagerNo": "0421", "proManager": "王敏"})
    _error(response, 422, "E_FIELD", "proManagerNo")
    assert "self-service" in response.json()["message"]
    _error(kiosk.post("/staff/sign-in", {"proManagerNo": "1", "proManager": "王"}), 409, "E_MODE")
    _error(kiosk.post("/staff/sign-out"), 409, "E_MODE")
    status = kiosk.call("GET", "/status").json()
    assert (status["mode"], status["staff"], status["phase"]) == ("self_service", None, "rating")


# -- status and the document ----------------------------------------------------------------


def test_status_is_the_evaluators(window):
    window.post("/cases", CASE)
    assert window.call("GET", "/status").json() == {
        "phase": "rating",
        "mode": "window",
        "projectNo": CASE["projectNo"],
        "staff": {"proManagerNo": "0421", "proManager": "王敏"},
        "keypadConnected": None,
        "clockSynced": True,
        "backlog": 0,
        "ratedSinceStart": 0,
        "lastSeq": 0,
        "lastEvaluationId": None,
        "outOfService": None,
        "missingGlyphs": 0,
    }


def test_the_served_openapi_document_is_the_one_in_docs(window):
    served = window.call("GET", "/openapi.json", headers={})
    assert served.status_code == 200
    assert served.content == openapi_document() == DOCS.read_bytes()


def test_the_document_describes_every_route_and_the_same_text_rule():
    document = json.loads(DOCS.read_text(encoding="utf-8"))
    described = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert described == {
        ("POST", "/cases"),
        ("DELETE", "/cases/{projectNo}"),
        ("GET", "/cases/{projectNo}/rate-later"),
        ("GET", "/cases/{projectNo}/rate-later.png"),
        ("POST", "/staff/sign-in"),
        ("POST", "/staff/sign-out"),
        ("GET", "/status"),
        ("GET", "/openapi.json"),
    }
    patterns = {p for p in _values(document, "pattern") if "u0000" in p}
    assert patterns == {TEXT_PATTERN}
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_documents_limits_are_the_codes():
    schemas = json.loads(DOCS.read_text(encoding="utf-8"))["components"]["schemas"]
    case, sign_in = schemas["Case"]["properties"], schemas["SignIn"]["properties"]
    theme = case["theme"]["properties"]
    texts = {**case, **theme, **schemas["ThemeItem"]["properties"], **sign_in}
    for name, limit in TEXT_LIMITS.items():
        assert texts[name]["maxLength"] == limit, name
    assert case["batchProjectNos"]["maxItems"] == MAX_BATCH
    assert theme["items"]["maxItems"] == MAX_THEME_ITEMS
    assert case["userProp"]["maximum"] == MAX_USER_PROP
    assert (sign_in["photo"]["pattern"], sign_in["photo"]["maxLength"]) == (
        PHOTO_PATTERN,
        MAX_PHOTO_BASE64,
    )


def _values(node: object, key: str):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _values(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer"],
)
def test_without_the_device_token_nothing_happens(window, header):
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("POST", "/cases"), ("DELETE", "/cases/A"), ("GET", "/status")]:
        response = window.call(method, path, headers=headers, json=CASE)
        _error(response, 401, "E_AUTH")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    _error(window.call("POST", "/staff/sign-out", headers=headers), 401, "E_AUTH")
    assert window.evaluator.pushed == []
    assert window.evaluator.staff == WANG


# -- the HTTP edges -------------------------------------------------------------------------


def test_malformed_bodies_get_clear_errors(window):
    json_type = {"Content-Type": "application/json"}
    for data in (b"{not json", b"\xff\xfe{}", b"[" * 60000, b'{"userProp": NaN}', b""):
        _error(window.post("/cases", data=data, headers=json_type), 400, "E_JSON")
    repeated = b'{"projectNo": "A", "projectNo": "B"}'
    _error(window.post("/cases", data=repeated, headers=json_type), 400, "E_JSON", "projectNo")
    lone = window.post("/cases", data=b'{"\\ud800": 1}', headers=json_type)
    _error(lone, 422, "E_FIELD", "\ud800")
    plain = {"Content-Type": "text/plain"}
    _error(window.post("/cases", data=json.dumps(CASE), headers=plain), 415, "E_MEDIA_TYPE")
    assert window.evaluator.pushed == []


def test_body_framing_is_strict(window):
    chunks = (part for part in [json.dumps(CASE).encode()])
    json_type = {"Content-Type": "application/json"}
    _error(window.post("/cases", data=chunks, headers=json_type), 411, "E_LENGTH")
    head = b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
    answer = window.raw(head + b"\r\nContent-Length: 12abc\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b'"E_LENGTH"' in answer
    _error(window.call("GET", "/status", data=b"{}"), 400, "E_BODY")
    _error(window.call("GET", "/status?verbose=1"), 400, "E_QUERY", "verbose")


def test_unknown_paths_are_404_and_other_methods_405(window):
    for path in ("/nothing", "/cases/", "/status/", "/../status"):
        _error(window.call("GET", path), 404, "E_NOT_FOUND")
    _error(window.call("GET", "/nothing", headers={}), 404, "E_NOT_FOUND")
    for method, path, allow in [
        ("GET", "/cases", "POST"),
        ("PUT", "/cases/A", "DELETE"),
        ("DELETE", "/status", "GET"),
        ("PATCH", "/staff/sign-in", "POST"),
        ("BREW", "/status", "GET"),
    ]:
        response = window.call(method, path)
        _error(response, 405, "E_METHOD")
        assert response.headers["Allow"] == allow
    head = window.call("HEAD", "/status")
    assert (head.status_code, head.content) == (405, b"")


def test_garbage_and_oversized_requests_get_json_errors_and_the_server_keeps_serving(window):
    for garbage, status in [
        (b"\x00\xff\x16garbage\r\n\r\n", b"400"),
        (b"GET /api/v1/status HTTP/9.9\r\n\r\n", b"505"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET /api/v1/status HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", b"431"),
    ]:
        answer = window.raw(garbage)
        assert answer.split(b" ")[1] == status
        assert b'"code": "E_' in answer
    assert window.post("/cases", CASE).status_code == 202


def test_a_connection_stays_usable_after_an_error_whose_body_was_read(window):
    bad = json.dumps({**CASE, "proStatus": 9}).encode()
    with requests.Session() as session:
        session.headers.update(AUTH)
        first = session.post(
            f"{window.url}/cases", data=bad, headers={"Content-Type": "application/json"}
        )
        assert first.status_code == 422
        assert "close" not in first.headers.get("Connection", "")
        second = session.post(f"{window.url}/cases", json=CASE)
        assert second.status_code == 202


def test_an_error_before_the_body_was_read_closes_the_connection(window):
    head = b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    body = json.dumps(CASE).encode()
    request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    answer = window.raw(request + b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"Connection: close" in answer
    assert answer.count(b"HTTP/1.1") == 1  # the pipelined request was not read as one


def test_a_client_that_stops_mid_body_is_dropped(window):
    head = b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    with socket.create_connection(("127.0.0.1", window.port), timeout=5) as conn:
        conn.sendall(head + auth + b'Content-Length: 500\r\n\r\n{"projectNo": ')
        conn.shutdown(socket.SHUT_WR)
        assert read_all(conn) == b""
    assert window.evaluator.pushed == []
    assert window.post("/cases", CASE).status_code == 202


def test_many_counters_at_once(window):
    window.evaluator.on_screen = None
    statuses = []

    def push(n: int) -> None:
        statuses.append(window.post("/cases", {**CASE, "projectNo": f"HD-{n}"}).status_code)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202] * 20
    assert len(window.evaluator.pushed) == 20


# -- failures of the evaluator and privacy --------------------------------------------------


def test_a_bug_behind_the_api_is_a_logged_500_without_details(window, monkeypatch, caplog):
    def broken() -> dict:
        raise KeyError("phase")

    monkeypatch.setattr(window.evaluator, "status", broken)
    response = window.call("GET", "/status")
    _error(response, 500, "E_INTERNAL")
    assert "KeyError" not in response.text
    assert "KeyError" in caplog.text


def test_a_status_that_is_not_json_is_a_500(window, monkeypatch):
    monkeypatch.setattr(window.evaluator, "status", lambda: {"phase": object()})
    _error(window.call("GET", "/status"), 500, "E_INTERNAL")


def test_an_unknown_refusal_from_the_evaluator_is_a_bug(window, monkeypatch):
    monkeypatch.setattr(window.evaluator, "push_case", lambda case: "E_BUSY")
    _error(window.post("/cases", CASE), 500, "E_INTERNAL")


def test_a_raw_id_number_never_reaches_the_evaluator(window, caplog):
    caplog.set_level(logging.DEBUG)
    raw_id = "11010519491231002X"
    _error(window.post("/cases", {**CASE, "certKey": raw_id}), 422, "E_FIELD", "certKey")
    assert raw_id not in caplog.text


def test_neither_personal_data_nor_the_token_is_logged(window, caplog):
    caplog.set_level(logging.DEBUG)
    window.post("/cases", CASE)
    window.post("/cases", {**CASE, "certKey": "x" * 200})
    window.post("/cases", {**CASE, "userName": ["李秀英"]})
    window.call("GET", "/status", headers={"Authorization": f"Bearer {TOKEN}-wrong"})
    assert "queued" in caplog.text
    for secret in (TOKEN, CASE["userName"], CASE["certKey"], "x" * 100):
        assert secret not in caplog.text


def test_a_stopped_api_refuses_connections():
    live = Window("window", WANG)
    live.server.start()
    live.server.stop()
    with pytest.raises(requests.ConnectionError):
        live.call("GET", "/status")


def test_the_mode_and_token_are_checked_at_start():
    with pytest.raises(ValueError, match="mode"):
        LocalApi("127.0.0.1", 0, TOKEN, DummyEvaluator(), "kiosk")
    with pytest.raises(ValueError, match="token"):
        LocalApi("127.0.0.1", 0, "", DummyEvaluator(), "window")

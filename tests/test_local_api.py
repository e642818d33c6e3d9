"""The local API the counter's business system pushes cases to, over real HTTP."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from device.local_api import LocalApi

TOKEN = "t0ken-for-tests-0123456789"
CASE = {
    "projectNo": "HD20261121000101",
    "taskCode": "11640100MB1234567X3000111222000",
    "taskName": "居民身份证换领",
    "proStatus": 3,
    "proManagerNo": "0421",
    "proManager": "王敏",
}


@pytest.fixture
def api():
    inbox = []
    server = LocalApi("127.0.0.1", 0, TOKEN, inbox.append, lambda: {"phase": "idle"})
    server.start()
    server.inbox = inbox
    server.url = f"http://127.0.0.1:{server.port}/api/v1"
    yield server
    server.stop()


def _post(api, body, token=TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{api.url}/cases", json=body, headers=headers, timeout=5, **kwargs)


def test_a_pushed_case_reaches_the_evaluator(api):
    response = _post(api, CASE)
    assert response.status_code == 202
    assert response.json() == {"projectNo": CASE["projectNo"], "status": "queued"}
    (case,) = api.inbox
    assert (case.project_no, case.task_name, case.pro_manager_no) == (
        "HD20261121000101",
        "居民身份证换领",
        "0421",
    )


def test_status_is_served(api):
    response = requests.get(
        f"{api.url}/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert response.json() == {"phase": "idle"}


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789"])
def test_without_the_device_token_nothing_is_queued(api, token):
    response = _post(api, CASE, token=token)
    assert response.status_code == 401
    assert response.json()["code"] == "E_AUTH"
    assert api.inbox == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"projectNo": None}, "projectNo"),
        ({"projectNo": "x" * 51}, "projectNo"),
        ({"taskName": ""}, "taskName"),
        ({"proStatus": 7}, "proStatus"),
        ({"proStatus": True}, "proStatus"),
        ({"assessNumber": 3}, "assessNumber"),
        ({"batchProjectNos": ["HD20261121000101"]}, "batchProjectNos"),
        ({"batchProjectNos": ["OTHER1", "OTHER2"]}, "batchProjectNos"),
        ({"satisfaction": 5}, "satisfaction"),  # a case never carries a rating
        ({"proManager": "王\n敏"}, "proManager"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_queued(api, change, field):
    body = {k: v for k, v in {**CASE, **change}.items() if v is not None}
    response = _post(api, body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert api.inbox == []


def test_malformed_and_oversized_bodies_get_clear_errors(api):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bad = requests.post(f"{api.url}/cases", data=b"{not json", headers=headers, timeout=5)
    assert (bad.status_code, bad.json()["code"]) == (400, "E_JSON")
    big = requests.post(
        f"{api.url}/cases", data=json.dumps({"x": "y" * 70000}), headers=headers, timeout=5
    )
    assert (big.status_code, big.json()["code"]) == (413, "E_TOO_LARGE")
    listed = requests.post(f"{api.url}/cases", json=[CASE], headers=headers, timeout=5)
    assert listed.status_code == 422
    assert api.inbox == []


def test_unknown_paths_are_404_not_500(api):
    response = requests.get(
        f"{api.url}/nothing", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert (response.status_code, response.json()["code"]) == (404, "E_NOT_FOUND")


def test_garbage_on_the_socket_does_not_stop_the_server(api):
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as raw:
        raw.sendall(b"\x00\xff\x16garbage\r\n\r\n")
        raw.recv(1024)
    assert _post(api, CASE).status_code == 202

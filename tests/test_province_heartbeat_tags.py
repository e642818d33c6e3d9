"""Heartbeats and tag lists at the stand-in province, over real HTTP and a real SQLite file."""

from __future__ import annotations

import re
import time

import pytest
import requests

from simulator.province.tags import default_tag_list
from tests.support.province import EnrolledDevice, running_province

TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


pytestmark = pytest.mark.bare_province("token-a", "token-b")


def new_tag_list(version: str, bad_label: str = "窗口无人") -> dict:
    tag_list = default_tag_list().as_json()
    tag_list["version"] = version
    tag_list["levels"]["1"] = [*tag_list["levels"]["1"], {"code": "B99", "label": bad_label}]
    return tag_list


def test_a_heartbeat_is_answered_with_server_time_and_tags_version(province, device):
    reply = device.heartbeat(backlog=7, quarantined=1, lastAcceptedSeq=42, keypadConnected=None)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"serverTime", "tagsVersion", "heartbeatSeconds"}
    assert TIME.fullmatch(body["serverTime"])
    beijing = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + 8 * 3600))
    assert body["serverTime"][:16] in (beijing, beijing[:-1])  # minute rollover tolerated
    assert body["tagsVersion"] == default_tag_list().version
    assert body["heartbeatSeconds"] == 60


def test_the_latest_heartbeat_is_kept_with_its_time(province, device):
    device.heartbeat(backlog=3)
    before = time.time()
    device.heartbeat(backlog=0, clockSynced=False)
    stored = province.store.heartbeat(device.device_id)
    assert stored["count"] == 2
    assert stored["body"]["backlog"] == 0
    assert stored["body"]["clockSynced"] is False
    assert before - 1 <= stored["receivedAt"] <= time.time() + 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("firmwareVersion", 1),
        ("backlog", -1),
        ("backlog", "3"),
        ("quarantined", 1.5),
        ("lastAcceptedSeq", True),
        ("keypadConnected", "yes"),
        ("clockSynced", None),
        ("diskFreeBytes", -5),
        ("uptimeSeconds", None),
    ],
)
def test_a_bad_heartbeat_field_is_named(province, device, field, value):
    reply = device.heartbeat(**{field: value})
    assert reply.status_code == 422
    assert (reply.json()["code"], reply.json()["field"]) == ("E_FIELD", field)
    assert province.store.heartbeat(device.device_id) is None


def test_missing_and_unknown_heartbeat_fields_are_named(device):
    path = f"/devices/{device.device_id}/heartbeat"
    missing = device.call("POST", path, {"firmwareVersion": "0.1.0"})
    assert (missing.status_code, missing.json()["field"]) == (422, "backlog")
    extra = device.heartbeat(batteryLevel=80)
    assert (extra.status_code, extra.json()["field"]) == (422, "batteryLevel")
    not_json = device.call("POST", path, body=b"{")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "E_JSON")


def test_heartbeats_and_tags_need_the_devices_own_signature(province, device):
    other = EnrolledDevice.enrol(province.url, token="token-b")
    unsigned = requests.post(f"{province.url}/devices/{device.device_id}/heartbeat", json={})
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "E_AUTH")
    for_other = device.call("GET", f"/devices/{other.device_id}/tags")
    assert (for_other.status_code, for_other.json()["code"]) == (401, "E_AUTH")
    assert device.call("GET", f"/devices/{device.device_id}/heartbeat").status_code == 405


def test_the_default_tags_are_a_list_per_level_in_chinese(device):
    reply = device.tags()
    assert reply.status_code == 200
    body = reply.json()
    assert body["version"] == default_tag_list().version
    assert list(body["levels"]) == ["5", "4", "3", "2", "1"]
    labels = {level: [t["label"] for t in tags] for level, tags in body["levels"].items()}
    for bad in (
        "办事效率低",
        "服务态度差",
        "多次跑腿",
        "办事指南不清晰",
        "系统不好用",
        "排队时间长",
    ):
        assert bad in labels["1"]
        assert bad in labels["2"]
    for good in ("办事效率高", "服务态度好", "一次办好", "指引清晰"):
        assert good in labels["5"]
        assert good in labels["4"]
    assert labels["3"]
    assert all(re.fullmatch(r"B\d\d", t["code"]) for t in body["levels"]["1"])


def test_a_published_tag_list_reaches_the_devices(province, device):
    admin = f"{province.root_url}/admin/tags"
    reply = requests.put(admin, json=new_tag_list("2025.2"), timeout=10)
    assert (reply.status_code, reply.json()) == (200, {"version": "2025.2"})
    assert device.heartbeat().json()["tagsVersion"] == "2025.2"
    tags = device.tags().json()
    assert tags["version"] == "2025.2"
    assert {"code": "B99", "label": "窗口无人"} in tags["levels"]["1"]
    assert requests.get(admin, timeout=10).json() == tags
    fresh = EnrolledDevice.enrol(province.url, token="token-b")
    assert fresh.heartbeat().json()["tagsVersion"] == "2025.2"


def test_a_version_is_published_once_and_lists_are_checked(province):
    admin = f"{province.root_url}/admin/tags"
    assert requests.put(admin, json=new_tag_list("v2"), timeout=10).status_code == 200
    assert requests.put(admin, json=new_tag_list("v2"), timeout=10).status_code == 200  # same
    changed = requests.put(admin, json=new_tag_list("v2", "另一个标签"), timeout=10)
    assert (changed.status_code, changed.json()["code"]) == (409, "E_CONFLICT")
    clash = new_tag_list("v3")
    clash["levels"]["2"][0] = {"code": "B01", "label": "不同的说法"}
    refused = requests.put(admin, json=clash, timeout=10)
    assert (refused.status_code, refused.json()["field"]) == (422, "levels.1[0].label")
    no_level = new_tag_list("v4")
    del no_level["levels"]["3"]
    refused = requests.put(admin, json=no_level, timeout=10)
    assert (refused.status_code, refused.json()["field"]) == (422, "levels.3")
    assert province.tags_version == "v2"


def test_the_published_list_survives_a_restart(tmp_path):
    with running_province(tmp_path / "p.db") as province:
        requests.put(f"{province.root_url}/admin/tags", json=new_tag_list("kept"), timeout=10)
    with running_province(tmp_path / "p.db", tokens=("token-2",)) as province:
        device = EnrolledDevice.enrol(province.url, token="token-2")
        assert device.tags().json()["version"] == "kept"

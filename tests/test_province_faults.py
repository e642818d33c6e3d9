"""Fault switches of the stand-in province, seen by a real `requests` client over HTTP.

Every fault leaves the store consistent: a batch is stored whole or not at all, except
drop_after_commit, which stores and then hangs up, so a resend must come back `duplicate`.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from simulator.province.faults import FaultError
from tests.support.polling import wait_until
from tests.support.province import EnrolledDevice, running_province, signed_headers

pytestmark = pytest.mark.bare_province("token-a")


@pytest.mark.parametrize(
    ("kind", "params", "status", "code", "retry_after"),
    [
        ("down", {"retry_after": 7}, 503, "E_UNAVAILABLE", "7"),
        ("unavailable", {"retry_after": 11}, 503, "E_UNAVAILABLE", "11"),
        ("rate", {"retry_after": 3}, 429, "E_RATE", "3"),
        ("error500", {}, 500, "E_INTERNAL", None),
    ],
)
def test_a_refusing_fault_stores_nothing(province, device, kind, params, status, code, retry_after):
    province.faults.set(kind, **params)
    records = device.records(3)
    for reply in (device.send_batch(records), device.heartbeat(), device.tags()):
        assert reply.status_code == status
        assert reply.json()["code"] == code
        assert reply.headers.get("Retry-After") == retry_after
    assert province.store.evaluation_count() == 0
    assert province.store.heartbeat(device.device_id) is None
    province.faults.clear()
    assert device.statuses(records) == ["accepted"] * 3


def test_down_also_refuses_enrolment(province):
    province.faults.set("down")
    reply = requests.post(f"{province.url}/devices/enroll", json={}, timeout=10)
    assert (reply.status_code, reply.headers["Retry-After"]) == (503, "5")


def test_down_can_hang_up_without_a_word(province, device):
    province.faults.set("down", mode="close")
    with pytest.raises(requests.ConnectionError):
        device.send_batch(device.records(2))
    assert province.store.evaluation_count() == 0
    province.faults.clear("down")
    assert device.heartbeat().status_code == 200


def test_drop_after_commit_stores_then_hangs_up(province, device):
    records = device.records(3)
    province.faults.set("drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        device.send_batch(records)
    assert province.store.evaluation_ids() == [r["evaluationId"] for r in records]
    province.faults.clear()
    assert device.statuses(records) == ["duplicate"] * 3
    assert province.store.evaluation_count() == 3
    assert device.audit()["flags"] == []


def test_slow_delays_the_answer_and_a_timed_out_batch_is_still_stored(province, device):
    province.faults.set("slow", delay_ms=300)
    started = time.monotonic()
    assert device.heartbeat().status_code == 200
    assert time.monotonic() - started >= 0.3
    records = device.records(2)
    body = json.dumps({"deviceId": device.device_id, "records": records}).encode()
    path = "/evaluations:batch"
    headers = signed_headers(device.key, device.device_id, "POST", device.base_path + path, body)
    with pytest.raises(requests.ReadTimeout):  # the helper would wait 30 s: sent by hand
        requests.post(device.url + path, data=body, headers=headers, timeout=0.1)
    wait_until(lambda: province.store.evaluation_count() == 2, "the timed-out batch stored")
    province.faults.clear("slow")
    assert device.statuses(records) == ["duplicate", "duplicate"]


def test_reject_chosen_records_with_a_chosen_code(province, device):
    records = device.records(3)
    chosen = records[1]["evaluationId"]
    province.faults.set("reject", evaluation_ids=[chosen], code="E_FIELD", field="taskCode")
    results = device.send_batch(records).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert {k: results[1][k] for k in ("evaluationId", "code", "field")} == {
        "evaluationId": chosen,
        "code": "E_FIELD",
        "field": "taskCode",
    }
    assert chosen not in province.store.evaluation_ids()
    assert device.statuses(records) == ["duplicate", "E_FIELD", "duplicate"]
    province.faults.clear("reject")
    assert device.statuses(records) == ["duplicate", "accepted", "duplicate"]


def test_reject_a_fraction_the_same_way_every_time(province, device):
    records = device.records(40)
    province.faults.set("reject", fraction=0.5, code="E_REASON_REQUIRED")
    first = device.statuses(records)
    assert set(first) == {"accepted", "E_REASON_REQUIRED"}
    again = device.statuses(records)
    assert again == ["duplicate" if s == "accepted" else s for s in first]
    assert province.store.evaluation_count() == first.count("accepted")
    province.faults.set("reject", code="E_SIGNATURE")  # neither ids nor fraction: all
    fresh = device.records(2)
    assert device.statuses(fresh) == ["E_SIGNATURE", "E_SIGNATURE"]
    stored = records[first.index("accepted")]
    assert device.statuses([stored]) == ["duplicate"]  # stored records stay delivered


def test_probability_zero_never_fires_and_one_always(province, device):
    province.faults.set("rate", probability=0)
    province.faults.set("error500", probability=0.0)
    assert {device.heartbeat().status_code for _ in range(20)} == {200}
    province.faults.set("rate", probability=1, retry_after=2)
    assert {device.heartbeat().status_code for _ in range(20)} == {429}
    assert province.faults.fired_counts() == {"rate": 20}


def test_a_probability_in_between_mixes_outcomes(tmp_path):
    with running_province(tmp_path / "p.db", tokens=("t",), fault_seed=7) as province:
        device = EnrolledDevice.enrol(province.url, token="t")
        province.faults.set("unavailable", probability=0.5, retry_after=1)
        codes = [device.heartbeat().status_code for _ in range(40)]
    assert set(codes) == {200, 503}


def test_a_chaos_run_delivers_every_record_exactly_once(province, device):
    province.faults.set("unavailable", probability=0.2, retry_after=0)
    province.faults.set("rate", probability=0.2, retry_after=0)
    province.faults.set("error500", probability=0.2)
    province.faults.set("drop_after_commit", probability=0.2)
    province.faults.set("down", probability=0.1, mode="close")
    records = device.records(40)
    for start in range(0, len(records), 5):
        batch = records[start : start + 5]
        for _attempt in range(60):
            try:
                reply = device.send_batch(batch)
            except requests.ConnectionError:
                continue
            if reply.status_code == 200:
                assert {r["status"] for r in reply.json()["results"]} <= {"accepted", "duplicate"}
                break
        else:
            pytest.fail("a batch never got through")
    assert sorted(province.store.evaluation_ids()) == sorted(r["evaluationId"] for r in records)
    assert sum(province.stats()["faultsFired"].values()) > 0
    province.faults.clear()
    assert device.audit()["flags"] == []


def test_the_admin_interface_sets_lists_and_clears(province, device):
    admin = f"{province.root_url}/admin/faults"
    reply = requests.put(f"{admin}/slow", json={"delayMs": 20, "probability": 0.5}, timeout=10)
    assert reply.status_code == 200
    assert reply.json()["faults"] == {"slow": {"probability": 0.5, "delayMs": 20}}
    requests.post(f"{admin}/reject", json={"evaluationIds": ["x"], "code": "E_CONFLICT"})
    listed = requests.get(admin, timeout=10).json()
    assert listed["faults"]["reject"] == {
        "probability": 1.0,
        "evaluationIds": ["x"],
        "fraction": None,
        "code": "E_CONFLICT",
        "field": None,
    }
    assert "drop_after_commit" in listed["kinds"]
    assert set(requests.delete(f"{admin}/slow", timeout=10).json()["faults"]) == {"reject"}
    assert requests.delete(admin, timeout=10).json()["faults"] == {}
    requests.put(f"{admin}/down", timeout=10)  # no body: all defaults
    assert device.heartbeat().status_code == 503


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("slow", {"probability": 1.5}, "probability"),
        ("slow", {"probability": True}, "probability"),
        ("slow", {"delayMs": -1}, "delayMs"),
        ("rate", {"retryAfter": 1.5}, "retryAfter"),
        ("rate", {"delayMs": 10}, "delayMs"),
        ("down", {"mode": "sulk"}, "mode"),
        ("reject", {"code": "bad"}, "code"),
        ("reject", {"fraction": 2}, "fraction"),
        ("reject", {"evaluationIds": "abc"}, "evaluationIds"),
        ("flood", {}, "kind"),
    ],
)
def test_nonsense_fault_settings_are_refused(province, kind, body, field):
    reply = requests.put(f"{province.root_url}/admin/faults/{kind}", json=body, timeout=10)
    assert (reply.status_code, reply.json()["field"]) == (422, field)
    assert province.faults.active() == {}


def test_the_python_api_refuses_nonsense_too(province):
    with pytest.raises(FaultError):
        province.faults.set("slow", retry_after=3)
    with pytest.raises(FaultError):
        province.faults.clear("flood")


def test_an_admin_token_guards_the_admin_interface_only(tmp_path):
    with running_province(tmp_path / "p.db", tokens=("t",), admin_token="s3cret") as province:
        admin = f"{province.root_url}/admin/faults"
        refused = requests.put(f"{admin}/down", timeout=10)
        assert (refused.status_code, refused.json()["code"]) == (401, "E_AUTH")
        wrong = requests.put(f"{admin}/down", headers={"X-Admin-Token": "guess"}, timeout=10)
        assert wrong.status_code == 401
        assert province.faults.active() == {}
        ok = requests.put(f"{admin}/rate", headers={"X-Admin-Token": "s3cret"}, timeout=10)
        assert ok.status_code == 200
        device_reply = requests.post(f"{province.url}/devices/enroll", json={}, timeout=10)
        assert device_reply.status_code == 429


def test_stats_count_device_calls_per_second(province, device):
    province.reset_stats()
    for _ in range(5):
        device.heartbeat()
    province.faults.set("drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        device.heartbeat()
    province.faults.clear()
    requests.get(f"{province.root_url}/", timeout=10)  # the page and admin are not counted
    stats = requests.get(f"{province.root_url}/admin/stats", timeout=10).json()
    assert stats["total"] == 6
    assert stats["byStatus"] == {"200": 5, "dropped": 1}
    assert sum(stats["perSecond"].values()) == 6
    assert 1 <= stats["peakPerSecond"] <= 6
    assert 0 < stats["meanPerSecond"] <= 6
    assert stats["faultsFired"] == {"drop_after_commit": 1}
    assert province.stats()["total"] == 6
    assert requests.delete(f"{province.root_url}/admin/stats", timeout=10).json() == stats
    after = requests.get(f"{province.root_url}/admin/stats", timeout=10).json()
    assert (after["total"], after["perSecond"], after["peakPerSecond"]) == (0, {}, 0)
    assert after["faultsFired"] == {}

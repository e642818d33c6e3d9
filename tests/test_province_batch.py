"""Forwarding ratings to the stand-in province: per-record results, whole-request errors, audit."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from device.keys.key_history import certify
from device.keys.signing import DeviceKey
from simulator.province.store import KeyRotation
from tests.support.province import EnrolledDevice, running_province

TOKENS = ("token-a", "token-b")
pytestmark = pytest.mark.bare_province(*TOKENS)


def test_a_batch_is_accepted_and_stored_as_sent(province, device):
    records = device.records(3)
    assert device.statuses(records) == ["accepted"] * 3
    assert province.store.evaluation_ids() == [r["evaluationId"] for r in records]
    assert province.store.evaluation(records[1]["evaluationId"]) == records[1]
    assert device.audit()["flags"] == []


def test_results_carry_the_evaluation_ids_in_order(device):
    records = device.records(2)
    results = device.send_batch(records).json()["results"]
    assert [{k: r[k] for k in ("evaluationId", "status")} for r in results] == [
        {"evaluationId": records[0]["evaluationId"], "status": "accepted"},
        {"evaluationId": records[1]["evaluationId"], "status": "accepted"},
    ]
    assert all(set(r) == {"evaluationId", "status", "receivedAt", "receipt"} for r in results)


def test_a_resent_batch_is_duplicate_and_stored_once(province, device):
    records = device.records(3)
    device.statuses(records[:2])
    assert device.statuses(records) == ["duplicate", "duplicate", "accepted"]
    assert device.statuses(records) == ["duplicate"] * 3
    assert province.store.evaluation_count() == 3
    assert device.audit()["flags"] == []


def test_changed_bytes_under_the_same_id_conflict(province, device):
    record = device.record()
    device.statuses([record])
    changed = dict(record, reactionMs=record["reactionMs"] + 1)
    changed["signature"] = device.key.sign_record(changed)
    assert device.statuses([changed]) == ["E_CONFLICT"]
    assert province.store.evaluation(record["evaluationId"]) == record


def test_the_same_id_twice_in_one_batch(province, device):
    record = device.record()
    changed = dict(record, reactionMs=1)
    changed["signature"] = device.key.sign_record(changed)
    assert device.statuses([record, record, changed]) == ["accepted", "duplicate", "E_CONFLICT"]
    assert province.store.evaluation_count() == 1


def test_a_bad_record_signature_is_rejected_and_the_rest_accepted(province, device):
    records = device.records(3)
    records[1]["satisfaction"] = 5 if records[1]["satisfaction"] != 5 else 4  # after signing
    assert device.statuses(records) == ["accepted", "E_SIGNATURE", "accepted"]
    assert records[1]["evaluationId"] not in province.store.evaluation_ids()


def test_records_signed_by_someone_else_are_rejected(province, device):
    other = EnrolledDevice.enrol(province.url, token="token-b")
    stranger = EnrolledDevice(device.url, DeviceKey.generate(), device.device_id)
    foreign = other.record()  # another device's own record
    other_key = other.record(deviceId=device.device_id)  # signed with the other device's key
    unknown_key = stranger.record()
    assert device.statuses([foreign, other_key, unknown_key, device.record()]) == [
        "E_SIGNATURE",
        "E_SIGNATURE",
        "E_SIGNATURE",
        "accepted",
    ]
    assert province.store.evaluation_count() == 1


def test_any_text_is_signed_and_stored_exactly(province, device):
    tricky = '说明：","signature":"AAAA" \\ \u2028 😀 <>&'
    record = device.record(satisfaction=1, writingEvaluation=tricky, evalDetail=["T-1"])
    assert device.statuses([record]) == ["accepted"]
    assert province.store.evaluation(record["evaluationId"]) == record
    forged = dict(record, evaluationId=str(uuid.uuid4()), projectNo="YC-OTHER")
    assert device.statuses([forged]) == ["E_SIGNATURE"]


def test_a_bad_rating_needs_a_reason(device):
    bare = device.record(satisfaction=2)
    blank = device.record(satisfaction=1, writingEvaluation="   ")
    tagged = device.record(satisfaction=1, evalDetail=["T101"])
    written = device.record(satisfaction=2, writingEvaluation="等了一个小时")
    assert device.statuses([bare, blank, tagged, written]) == [
        "E_REASON_REQUIRED",
        "E_REASON_REQUIRED",
        "accepted",
        "accepted",
    ]


def test_a_case_is_rated_once_unless_followed_up(province, device):
    first = device.record(projectNo="YC2024000001")
    device.statuses([first])
    again = device.record(projectNo="YC2024000001")
    follow_up = device.record(projectNo="YC2024000001", assessNumber=2)
    same_batch = device.record(projectNo="YC2024000001", assessNumber=2)
    assert device.statuses([again, follow_up, same_batch]) == [
        "E_ALREADY_RATED",
        "accepted",
        "E_ALREADY_RATED",
    ]


def test_a_batch_rating_covers_every_case(device):
    batch = device.record(projectNo="YC-B1", batchProjectNos=["YC-B1", "YC-B2", "YC-B3"])
    single = device.record(projectNo="YC-B2")
    assert device.statuses([batch, single]) == ["accepted", "E_ALREADY_RATED"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("satisfaction", 6),
        ("satisfaction", True),
        ("satisfaction", 4.0),
        ("seq", 0),
        ("pf", "4"),
        ("projectNo", "X" * 51),
        ("writingEvaluation", "字" * 501),
        ("assessTime", "2024-05-01T10:00:00"),
        ("assessTime", "2024-02-30 10:00:00"),
        ("prevHash", "ab" * 31),
        ("evaluationId", "not-a-uuid"),
        ("evalDetail", "T101"),
        ("source", "voice"),
        ("reactionMs", -1),
        ("clockSynced", 1),
        ("indicators", [5, 5]),
        ("batchProjectNos", ["someone-else"]),
        ("comment", "unknown field"),
    ],
)
def test_a_bad_field_is_rejected_with_its_name(device, field, value):
    record = device.record()
    record[field] = value  # not re-signed: fields are checked before the signature
    result = device.send_batch([record, device.record()]).json()["results"]
    assert result[0]["status"] == "rejected"
    assert result[0]["code"] == "E_FIELD"
    assert result[0]["field"] == field
    assert result[1]["status"] == "accepted"


def test_a_missing_or_nested_field_is_named(device):
    missing = device.record()
    del missing["certKey"]
    themed = device.record(
        theme={"themeNo": "T1", "items": [{"projectNo": "A", "satisfaction": 9}]}
    )
    results = device.send_batch([missing, themed, "not a record"]).json()["results"]
    assert [r["field"] for r in results] == ["certKey", "theme.items[0].satisfaction", "record"]
    assert results[2]["evaluationId"] is None


def test_unsigned_or_badly_signed_requests_store_nothing(province, device):
    payload = json.dumps({"deviceId": device.device_id, "records": device.records(2)}).encode()
    url = f"{device.url}/evaluations:batch"
    unsigned = device.session.post(url, data=payload, timeout=10)
    headers = {"X-Device-Id": device.device_id, "X-Timestamp": str(int(time.time()))}
    headers |= {"X-Nonce": "ab" * 16, "X-Signature": device.key.sign(b"something else")}
    bad = device.session.post(url, data=payload, headers=headers, timeout=10)
    impostor = EnrolledDevice(device.url, DeviceKey.generate(), device.device_id)
    forged = impostor.call("POST", "/evaluations:batch", body=payload)
    unknown = EnrolledDevice(device.url, device.key, "hcp-0000000000000000")
    for reply in (unsigned, bad, forged, unknown.call("POST", "/evaluations:batch", body=payload)):
        assert reply.status_code == 401
        assert reply.json()["code"] == "E_AUTH"
    assert province.store.evaluation_count() == 0


def test_a_body_for_another_device_is_refused(province, device):
    reply = device.call("POST", "/evaluations:batch", {"deviceId": "hcp-1", "records": []})
    assert reply.status_code == 401
    assert reply.json()["code"] == "E_AUTH"


def test_a_stale_timestamp_gets_the_server_time(province, device):
    reply = device.send_batch(device.records(1), timestamp=int(time.time()) - 301)
    assert reply.status_code == 401
    body = reply.json()
    assert body["code"] == "E_CLOCK"
    assert isinstance(body["serverTime"], int)
    assert abs(body["serverTime"] - time.time()) < 5
    assert province.store.evaluation_count() == 0


def test_a_replayed_nonce_is_refused(province, device):
    records = device.records(1)
    assert device.send_batch(records, nonce="0123456789abcdef").status_code == 200
    reply = device.send_batch(records, nonce="0123456789abcdef")
    assert reply.status_code == 401
    assert reply.json()["code"] == "E_REPLAY"


def test_more_than_500_records_is_too_large(province, device):
    reply = device.send_batch(device.records(501))
    assert reply.status_code == 413
    assert reply.json()["code"] == "E_TOO_LARGE"
    assert province.store.evaluation_count() == 0


def test_more_than_one_mebibyte_is_too_large(province, device):
    records = device.records(480, writingEvaluation="很" * 500)
    body = json.dumps({"deviceId": device.device_id, "records": records}, ensure_ascii=False)
    assert len(body.encode()) > 1024 * 1024
    reply = device.call("POST", "/evaluations:batch", body=body.encode())
    assert reply.status_code == 413
    assert reply.json()["code"] == "E_TOO_LARGE"
    assert province.store.evaluation_count() == 0


def test_malformed_json_is_a_400(province, device):
    reply = device.call("POST", "/evaluations:batch", body=b'{"records": [}')
    assert reply.status_code == 400
    assert reply.json()["code"] == "E_JSON"


def test_a_500_record_batch_is_accepted(province, device):
    records = device.records(500)
    assert device.statuses(records) == ["accepted"] * 500
    assert province.store.evaluation_count() == 500
    assert device.audit()["lastSeq"] == 500


def test_gaps_and_forks_are_stored_and_flagged_for_audit(province, device):
    first, second, third, fourth = device.records(4)
    fork = device.record(seq=2, prev_hash=first["prevHash"])  # seq 2 again, linked to nothing
    assert device.statuses([first, second, fourth, fork]) == ["accepted"] * 4
    audit = device.audit()
    assert [(f["kind"], f["seq"]) for f in audit["flags"]] == [
        ("seq_gap", 4),
        ("seq_fork", 2),
        ("prev_hash_fork", 2),
    ]
    assert audit["missingSeqs"] == [[3, 3]]
    assert audit["flags"][0]["evaluationId"] == fourth["evaluationId"]
    assert device.statuses([third]) == ["accepted"]  # the lost record arrives late
    audit = device.audit()
    assert audit["flags"][-1]["kind"] == "seq_out_of_order"
    assert audit["missingSeqs"] == []
    assert audit["evaluationCount"] == 5
    assert province.store.evaluation_count() == 5


def test_a_late_record_that_does_not_link_is_a_fork(device):
    first, second, third = device.records(3)
    device.statuses([first, third])
    tampered = device.record(seq=2, prev_hash=second["prevHash"])  # not what seq 3 links to
    assert device.statuses([tampered]) == ["accepted"]
    kinds = [(f["kind"], f["seq"]) for f in device.audit()["flags"]]
    assert kinds == [("seq_gap", 3), ("seq_out_of_order", 2), ("prev_hash_fork", 3)]


def test_a_device_reads_only_its_own_audit(province, device):
    other = EnrolledDevice.enrol(province.url, token="token-b")
    reply = other.call("GET", f"/devices/{device.device_id}/audit")
    assert reply.status_code == 401
    assert reply.json()["code"] == "E_AUTH"


def test_the_store_survives_a_restart(tmp_path):
    db = tmp_path / "province.db"
    with running_province(db, tokens=TOKENS) as province:
        device = EnrolledDevice.enrol(province.url, token="token-a")
        records = device.records(3)
        assert device.statuses(records) == ["accepted"] * 3
    with running_province(db, tokens=()) as province:
        device.url = province.url
        assert device.statuses(records) == ["duplicate"] * 3
        assert device.statuses([device.record()]) == ["accepted"]
        assert province.store.evaluation_count() == 4
        assert device.audit()["flags"] == []


def test_a_first_record_must_start_from_zeros(device):
    record = device.record(seq=1, prev_hash="ab" * 32)
    assert device.statuses([record]) == ["accepted"]
    flags = device.audit()["flags"]
    assert [(f["kind"], f["seq"]) for f in flags] == [("prev_hash_fork", 1)]
    assert len(flags[0]["flaggedAt"]) == len("2024-05-01 10:00:00")


def test_the_same_batch_sent_twice_at_once_is_stored_once(province, device):
    records = device.records(200)
    twin = EnrolledDevice(device.url, device.key, device.device_id)
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda d: d.statuses(records), (device, twin))
    assert all({a, b} == {"accepted", "duplicate"} for a, b in zip(first, second, strict=True))
    assert province.store.evaluation_count() == 200
    assert device.audit()["flags"] == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'{"deviceId": 1}',
        b"\xff\xfe",
        b'{"records": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": "\\ud800"}',
    ],
)
def test_hostile_bodies_never_cause_a_500(province, device, body):
    assert device.call("POST", "/evaluations:batch", body=body).status_code == 400
    reply = device.session.post(f"{device.url}/devices/enroll", data=body, timeout=10)
    assert reply.status_code in (400, 422)


@pytest.mark.parametrize(
    ("field", "value", "outcome"),
    [
        ("seq", 2**64, "E_FIELD"),
        ("reactionMs", 10**40, "accepted"),
        ("writingEvaluation", "\ud800", "E_JSON"),
    ],
)
def test_hostile_records_never_cause_a_500(province, device, field, value, outcome):
    record = device.record()
    record[field] = value
    with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate has no canonical bytes
        record["signature"] = device.key.sign_record(record)
    payload = json.dumps({"deviceId": device.device_id, "records": [record]}).encode()
    reply = device.call("POST", "/evaluations:batch", body=payload)
    if outcome == "E_JSON":
        assert (reply.status_code, reply.json()["code"]) == (400, "E_JSON")
    else:
        assert [r.get("code", r["status"]) for r in reply.json()["results"]] == [outcome]


def test_any_key_of_the_device_may_sign(province, device):
    old_record = device.record()
    new_key = DeviceKey.generate()
    entry = certify(device.key, new_key, device.device_id, int(time.time()))
    assert entry.certificate is not None and entry.issued_at is not None
    rotation = KeyRotation(
        new_key.key_id, new_key.public_b64, device.key.key_id, entry.issued_at, entry.certificate
    )
    province.store.add_key(device.device_id, rotation, time.time())
    rotated = EnrolledDevice(device.url, new_key, device.device_id)
    rotated.seq, rotated.prev_hash = device.seq, device.prev_hash
    assert rotated.statuses([old_record, rotated.record()]) == ["accepted", "accepted"]
    assert device.statuses([device.record(seq=3, prev_hash=rotated.prev_hash)]) == ["accepted"]
    assert device.audit()["flags"] == []

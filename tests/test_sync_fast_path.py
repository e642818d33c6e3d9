"""The sync's fast path: the ledger's own canonical bytes on the wire, deliveries recorded in
short transactions, and the next batch on its way while the last answer is recorded."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence

import pytest

from device.ledger.outbox import MARK_CHUNK
from device.ledger.store import Ledger
from device.record.canonical import canonical_json
from sync.adapter import Delivery, DeliveryStatus, OutgoingRecord
from sync.province_adapter import ProvinceAdapter
from sync.province_client import RetryableError
from sync.sender import Sender
from tests.support.records import make_body

PERSON = {"userName": "刘芳", "certType": "111", "certKey": "h-0001"}


def test_unsent_hands_over_the_stored_bytes_and_restores_personal_data(ledger, key, vault):
    plain = ledger.append(make_body(1), key, vault)
    named = ledger.append(make_body(2, identity=PERSON), key, vault)
    stored = ledger.conn.execute("SELECT record FROM ratings WHERE seq = 1").fetchone()[0]
    first, second = ledger.unsent(10, vault)
    assert first.canonical == stored.encode("utf-8")  # as stored: not parsed, not encoded
    assert first.canonical == canonical_json(plain.record)
    assert first.record == plain.record
    assert second.canonical == canonical_json(named.record)  # the name and certificate back
    assert second.record["userName"] == "刘芳"
    assert json.loads(second.canonical) == named.record


def test_unsent_after_a_seq_skips_what_is_already_on_its_way(ledger, key):
    for n in range(5):
        ledger.append(make_body(n), key)
    assert [r.seq for r in ledger.unsent(2, after_seq=2)] == [3, 4]
    assert ledger.unsent(10, after_seq=5) == []


def test_the_byte_budget_counts_the_bytes_that_are_sent(ledger, key):
    for n in range(4):
        ledger.append(make_body(n), key)
    size = len(ledger.unsent(1)[0].canonical) + 1
    assert len(ledger.unsent(10, max_bytes=2 * size)) == 2
    assert len(ledger.unsent(10, max_bytes=1)) == 1  # always at least one


def test_deliveries_are_recorded_in_short_transactions(ledger, key, vault):
    count = 2 * MARK_CHUNK + 7
    for n in range(count):
        ledger.append(make_body(n, identity=PERSON if n % 3 == 0 else None), key, vault)
    batch = ledger.unsent(count, vault)
    commits: list[str] = []
    ledger.conn.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    statuses = {r.evaluation_id: "accepted" for r in batch}
    seqs = {r.evaluation_id: r.seq for r in batch}
    assert ledger.mark_delivered(statuses, "2026-11-21T03:05:00+00:00", seqs=seqs) == count
    ledger.conn.set_trace_callback(None)
    assert len(commits) == 3  # 100 + 100 + 7
    assert ledger.backlog() == 0
    assert ledger.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0] == 0


def test_a_seq_that_is_not_the_ratings_marks_and_purges_nothing(ledger, key, vault):
    first = ledger.append(make_body(1, identity=PERSON), key, vault)
    second = ledger.append(make_body(2, identity=PERSON), key, vault)
    wrong = {first.evaluation_id: second.seq}
    assert ledger.mark_delivered({first.evaluation_id: "accepted"}, "t", seqs=wrong) == 0
    assert ledger.backlog() == 2
    assert ledger.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0] == 2


def test_a_key_press_is_stored_while_a_big_backlog_is_marked(tmp_path, key):
    """The evaluator shares the file: between two delivery transactions its commit gets in."""
    path = tmp_path / "ledger.db"
    with Ledger(path) as sync_side:
        for n in range(5 * MARK_CHUNK):
            sync_side.append(make_body(n), key)
        batch = sync_side.unsent(5 * MARK_CHUNK)
        evaluator = Ledger(path, busy_timeout_s=0.5)
        transactions = 0
        original = sync_side.writing

        def writing(what: str):  # a key press right after the first delivery transaction
            nonlocal transactions
            transactions += 1
            if transactions == 2:
                evaluator.append(make_body(9999), key)
            return original(what)

        sync_side.writing = writing  # type: ignore[method-assign]
        marked = sync_side.mark_delivered({r.evaluation_id: "accepted" for r in batch}, "t")
        evaluator.close()
        assert marked == 5 * MARK_CHUNK
        assert transactions == 5
        assert sync_side.backlog() == 1  # the new rating, stored in between


def test_a_drain_keeps_seq_order_and_loses_nothing(device, province):
    for n in range(1203):
        device.record(n, identity=PERSON if n % 25 == 0 else None)
    sender = Sender(device.ledger, device.adapter(), device.vault)
    sizes = [sender.send_round().sent for _ in range(4)]
    assert sizes == [500, 500, 203, 0]
    held = province.store.evaluation_ids()  # in the order the province stored them
    seq_order = [
        eid
        for (eid,) in device.ledger.conn.execute("SELECT evaluation_id FROM ratings ORDER BY seq")
    ]
    assert held == seq_order
    audit = province.store.audit_flags(device.config.province.device_id)
    assert audit == []
    assert province.store.evaluation(seq_order[0])["userName"] == "刘芳"
    assert device.ledger.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0] == 0


def test_the_next_batch_leaves_before_the_answer_to_the_last_is_recorded(device):
    for n in range(700):
        device.record(n)
    calls: list[int] = []
    both_out = threading.Event()

    class Watching(ProvinceAdapter):
        def deliver(self, records):
            calls.append(len(records))
            if len(calls) == 2:
                both_out.set()
            return super().deliver(records)

    sender = Sender(device.ledger, Watching(device.adapter().client), device.vault)
    assert sender.send_round().delivered == 500
    assert both_out.wait(10)  # the second batch went out during the first round
    assert calls == [500, 200]
    assert sender.send_round().delivered == 200
    assert sender.send_round().sent == 0


class _Failing:
    """The real adapter, but the n-th call fails as an outage would."""

    def __init__(self, adapter: ProvinceAdapter, fail_on: int) -> None:
        self.adapter, self.fail_on, self.calls = adapter, fail_on, 0
        self.name, self.max_records, self.max_bytes = "failing", 500, adapter.max_bytes

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RetryableError("province unreachable: test")
        return self.adapter.deliver(records)

    def close(self) -> None:
        self.adapter.close()


def test_a_batch_that_fails_on_its_way_is_sent_again_in_order(device, province):
    for n in range(1100):
        device.record(n)
    failing = _Failing(device.adapter(), fail_on=2)
    sender = Sender(device.ledger, failing, device.vault)
    assert sender.send_round().delivered == 500  # the second batch left meanwhile, and failed
    with pytest.raises(RetryableError):
        sender.send_round()
    assert device.ledger.backlog() == 600
    assert [sender.send_round().delivered for _ in range(3)] == [500, 100, 0]
    seq_order = [
        eid
        for (eid,) in device.ledger.conn.execute("SELECT evaluation_id FROM ratings ORDER BY seq")
    ]
    assert province.store.evaluation_ids() == seq_order
    assert failing.calls == 4


def test_without_overlap_nothing_is_left_on_its_way(device, province):
    for n in range(600):
        device.record(n)
    sender = Sender(device.ledger, device.adapter(), device.vault, overlap=False)
    assert sender.send_round().delivered == 500
    assert province.store.evaluation_count() == 500  # nothing else went out
    assert sender.send_round().delivered == 100


def test_an_adapter_gets_each_records_canonical_bytes_with_its_personal_data(device):
    device.record(1, identity=PERSON)
    seen: list[dict] = []

    class Parsing:
        name, max_records, max_bytes = "parsing", 500, 1024 * 1024

        def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
            seen.extend(json.loads(r.canonical) for r in records)
            return [Delivery(r.evaluation_id, DeliveryStatus.EXPORTED) for r in records]

        def close(self) -> None:
            return None

    assert Sender(device.ledger, Parsing(), device.vault).send_round().delivered == 1
    assert seen[0]["userName"] == "刘芳"
    assert device.ledger.outbox.delivery_of(seen[0]["evaluationId"]) == "exported"


def test_a_ledger_read_error_behind_the_batch_is_reported_by_the_next_round(device):
    for n in range(600):
        device.record(n, identity=PERSON if n == 550 else None)
    sender = Sender(device.ledger, device.adapter(), None)  # the vault is missing
    assert sender.send_round().delivered == 500  # the batch ahead still goes out
    with pytest.raises(Exception, match="personal data cannot be restored"):
        sender.send_round()
    assert device.ledger.backlog() == 100


def test_the_request_body_is_the_ledgers_bytes_joined(device, province, monkeypatch):
    records = [device.record(n) for n in range(3)]
    client = device.adapter().client
    bodies: list[bytes] = []
    original = client.call_with_body

    def spy(method, suffix, body):
        bodies.append(body)
        return original(method, suffix, body)

    monkeypatch.setattr(client, "call_with_body", spy)
    batch = device.ledger.unsent(10)
    ProvinceAdapter(client).deliver([OutgoingRecord(r.evaluation_id, r.canonical) for r in batch])
    stored = [
        row[0].encode()
        for row in sqlite3.connect(device.config.ledger_path).execute(
            "SELECT record FROM ratings ORDER BY seq"
        )
    ]
    device_id = json.dumps(device.config.province.device_id).encode()
    assert bodies == [b'{"deviceId":' + device_id + b',"records":[' + b",".join(stored) + b"]}"]
    assert json.loads(bodies[0])["records"] == [r.record for r in records]
    assert set(province.store.evaluation_ids()) == {r.evaluation_id for r in records}

"""Record signatures verified in processes beside the stand-in's request thread: the same
verdicts as on the request thread, in order, through failures, and a batch with a bad
signature never stores it."""

from __future__ import annotations

import io
import threading

import pytest

from device.keys.signing import DeviceKey
from simulator.province.signatures import verify_jobs as _verify_jobs
from simulator.province.speed.signature_pool import VERIFY_CHUNK, SignatureChecker
from simulator.province.speed.verifier import HEADER, VerifierProcess, serve
from tests.support.province import EnrolledDevice

KEY = DeviceKey.generate()
pytestmark = pytest.mark.bare_province("token-a", verifier_workers=2)


def _jobs(count: int, bad: set[int] = frozenset()) -> list[tuple[str, str, bytes]]:
    jobs = []
    for n in range(count):
        data = f"record {n}".encode()
        signature = KEY.sign(data if n not in bad else b"something else")
        jobs.append((KEY.public_b64, signature, data))
    return jobs


def test_the_worker_answers_one_verdict_byte_per_job_in_order():
    import pickle

    jobs = [*_jobs(5, bad={1, 4}), ("not base64!", "AAAA", b"x")]
    frame = pickle.dumps(jobs)
    source = io.BytesIO(HEADER.pack(len(frame)) + frame)
    sink = io.BytesIO()
    serve(source, sink)
    assert sink.getvalue() == HEADER.pack(6) + bytes([1, 0, 1, 1, 0, 0])


@pytest.mark.parametrize("count", [0, 1, VERIFY_CHUNK - 1, VERIFY_CHUNK, VERIFY_CHUNK + 1, 500])
def test_processes_give_the_verdicts_the_request_thread_would(checker, count):
    jobs = _jobs(count, bad={0, count // 2, count - 1} if count else set())
    assert checker.verify_all(jobs) == _verify_jobs(jobs)
    assert len(checker._processes) == (2 if count >= VERIFY_CHUNK else 0)


def test_a_verifying_process_that_dies_is_replaced_and_nothing_is_misjudged(checker):
    jobs = _jobs(300, bad={7, 150, 299})
    expected = _verify_jobs(jobs)
    assert checker.verify_all(jobs) == expected
    first = list(checker._processes)
    first[0].process.kill()
    first[0].process.wait()
    assert checker.verify_all(jobs) == expected  # verified on the request thread instead
    assert checker.verify_all(jobs) == expected  # with new processes
    assert checker._processes and checker._processes[0] is not first[0]
    assert all(p.process.poll() is not None for p in first)


def test_a_batch_abandoned_halfway_leaves_no_answers_behind(checker):
    jobs = _jobs(200, bad={3})
    with pytest.raises(RuntimeError), checker.stream() as stream:
        for job in jobs:
            stream.add(job)
        raise RuntimeError("the request failed while reading")
    assert checker.verify_all(jobs) == _verify_jobs(jobs)


def test_batches_at_the_same_time_are_judged_each_on_their_own(checker):
    batches = [_jobs(200, bad={n, 100 + n}) for n in range(4)]
    results: dict[int, list[bool]] = {}

    def verify(n: int) -> None:
        results[n] = checker.verify_all(batches[n])

    threads = [threading.Thread(target=verify, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: _verify_jobs(batches[n]) for n in range(4)}


def test_closing_stops_the_processes(checker):
    checker.verify_all(_jobs(100))
    processes = list(checker._processes)
    checker.close()
    assert all(p.process.poll() is not None for p in processes)
    assert checker.verify_all(_jobs(100, bad={5})) == _verify_jobs(_jobs(100, bad={5}))
    assert checker._processes == []  # closed: the request thread verifies alone


def test_a_single_core_verifies_on_the_request_thread():
    checker = SignatureChecker(1)
    checker.start()
    assert checker.verify_all(_jobs(100, bad={2})) == _verify_jobs(_jobs(100, bad={2}))
    assert checker._processes == []


def test_a_verifier_process_can_be_stopped_while_idle():
    process = VerifierProcess()
    process.send(_jobs(2, bad={1}))
    assert process.receive(2) == [True, False]
    process.close()
    assert process.process.returncode == 0


def test_bad_signatures_anywhere_in_a_big_batch_are_never_stored(province):
    device = EnrolledDevice.enrol(province.url, token="token-a")
    records = device.records(500)
    for index in (0, 250, 499):
        records[index]["reactionMs"] += 1  # changed after signing
    statuses = device.statuses(records)
    assert [i for i, s in enumerate(statuses) if s != "accepted"] == [0, 250, 499]
    assert {statuses[i] for i in (0, 250, 499)} == {"E_SIGNATURE"}
    held = set(province.store.evaluation_ids())
    assert held == {r["evaluationId"] for i, r in enumerate(records) if i not in (0, 250, 499)}
    gaps = [(flag["kind"], flag["seq"]) for flag in device.audit()["flags"]]
    assert gaps == [("seq_gap", 2), ("seq_gap", 252)]  # the holes the bad records left
    assert province._checker._processes  # the batch was shared with processes


def test_a_big_batch_with_good_signatures_is_stored_once_and_resent_as_duplicate(province):
    device = EnrolledDevice.enrol(province.url, token="token-a")
    records = device.records(300)
    assert device.statuses(records) == ["accepted"] * 300
    assert device.statuses(records) == ["duplicate"] * 300
    assert province.store.evaluation_count() == 300
    assert device.audit()["flags"] == []

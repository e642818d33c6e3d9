"""Fuzzing the real thing: a million random bytes on the keypad line and schemathesis on the
live evaluator's API. No crash, and not one rating without a press."""

from __future__ import annotations

import json
import random
import sqlite3

import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from device.keypad.framing import FrameParser, encode_frame
from device.local_api.server import openapi_document
from device.record.rating import Case, Staff
from simulator.virtual_keypad import VirtualKeypad
from tests.support.evaluator import Driver, make_config
from tests.support.local_api import keep_cross_field_rules

MILLION = 1_000_000


def _noise(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def test_a_million_random_bytes_yield_only_frames_that_were_sent():
    rng = random.Random(20261121)
    parser = FrameParser()
    valid = [encode_frame("K", str(k)) for k in range(1, 6)]
    stream, planted = bytearray(), 0
    while len(stream) < MILLION:
        stream += _noise(rng, rng.randint(1, 4000)).replace(b"\x02", b"")
        stream += valid[planted % 5]
        planted += 1
    frames, position = [], 0
    while position < len(stream):
        size = rng.randint(1, 512)
        frames += parser.feed(bytes(stream[position : position + size]))
        position += size
    assert [f.payload for f in frames if f.type == "K"] == [str(1 + n % 5) for n in range(planted)]
    assert sum(parser.dropped.values()) > 0


def test_a_million_random_bytes_on_the_keypad_line_rate_nothing(tmp_path):
    rng = random.Random(7)
    board = VirtualKeypad(link_path=tmp_path / "keypad")
    with board, Driver(make_config(tmp_path, keypad=board.port)) as driver:
        driver.until(lambda: driver.status["keypadConnected"] is True, "keypad found")
        driver.evaluator.inbox.sign_in(Staff("0421", "王敏"))
        driver.evaluator.inbox.push_case(Case("FUZZ-1", "T", "居民身份证换领"))
        driver.until(lambda: driver.phase == "rating", "rating page")
        sent = 0
        while sent < MILLION:
            chunk = _noise(rng, 8192)
            board.send_raw(chunk)
            sent += len(chunk)
            driver.step(1)
        driver.step(20)
        assert driver.ratings() == []
        assert driver.phase == "rating"
        board.press(1)  # the line still works for a real press
        driver.until(lambda: driver.phase == "thanks", "the real press is stored")
        assert [r["satisfaction"] for r in driver.ratings()] == [5]


schema = schemathesis.openapi.from_dict(json.loads(openapi_document()))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=25, deterministic=True
)


@schema.parametrize()
def test_fuzzing_the_live_evaluator_never_makes_a_rating(case, live_hall):
    window = live_hall
    if case.operation.path == "/cases" and isinstance(case.body, dict):
        keep_cross_field_rules(case.body, None)
    base = f"http://127.0.0.1:{window.config.local_api.port}/api/v1"
    case.headers = {
        **(case.headers or {}),
        "Authorization": f"Bearer {window.config.local_api.token}",
    }
    case.call_and_validate(base_url=base, checks=[not_a_server_error])
    if window.client.status()["staff"] is None:
        window.client.sign_in("0421", "王敏")
    assert window.evaluator_gone() is None
    conn = sqlite3.connect(f"file:{window.config.ledger_path}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == 0
    finally:
        conn.close()


def test_after_the_fuzzing_the_evaluator_still_rates(live_hall):
    window = live_hall
    status = requests.get(
        f"http://127.0.0.1:{window.config.local_api.port}/api/v1/status",
        headers={"Authorization": f"Bearer {window.config.local_api.token}"},
        timeout=5,
    ).json()
    assert status["ratedSinceStart"] == 0
    window.client.push_case({"projectNo": "AFTER-1", "taskCode": "T", "taskName": "事项"})
    window.client.wait_for(
        lambda s: s["projectNo"] == "AFTER-1" and s["phase"] == "rating", 10, "case shown"
    )
    window.keypad.press(2)
    window.client.wait_for(lambda s: s["ratedSinceStart"] == 1, 10, "rated")

"""The scripted demo: one window, three cases, three key presses, three ratings at the province.

Everything real: pty keypad, evaluator and sync processes, HTTP on 127.0.0.1, SQLite files.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from device.rating import Level
from device.texts import Texts
from simulator.hall import SimulatedWindow, StandInProvince

DEMO_CASES = [
    {
        "projectNo": "HD20261121000101",
        "taskCode": "11640100MB1234567X3000111222000",
        "taskName": "居民身份证换领",
        "proStatus": 3,
        "proManagerNo": "0421",
        "proManager": "王敏",
    },
    {
        "projectNo": "HD20261121000102",
        "taskCode": "11640100MB1234567X3000111333000",
        "taskName": "城乡居民养老保险参保登记",
        "proStatus": 3,
        "proManagerNo": "0421",
        "proManager": "王敏",
    },
    {
        "projectNo": "HD20261121000103",
        "taskCode": "11640100MB1234567X3000111444000",
        "taskName": "个体工商户设立登记",
        "proStatus": 2,
        "proManagerNo": "0421",
        "proManager": "王敏",
    },
]
DEMO_KEYS = [1, 2, 3]  # physical keys pressed: 非常满意, 满意, 基本满意 with the default order


def run_demo(workdir: Path | None, headless: bool, say: Callable[[str], None] = print) -> bool:
    """Run the demo; True only when the province verified and accepted every rating."""
    with tempfile.TemporaryDirectory(prefix="haochaping-demo-") as tmp:
        root = workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        province = StandInProvince(root)
        province.start()
        say(f"province: stand-in listening on {province.url}")
        window = SimulatedWindow(root, province, headless=headless)
        try:
            return _play(window, province, say)
        finally:
            codes = window.stop()
            province.close()
            say(f"stopped: {', '.join(f'{k} exit {v}' for k, v in codes.items())}")


def _play(window: SimulatedWindow, province: StandInProvince, say: Callable[[str], None]) -> bool:
    config = window.provision()
    say(f"device: enrolled as {config.province.device_id}, key {config.province.key_id}")
    window.start()
    say(f"device: evaluator up, keypad on {window.keypad.port}")
    assert window.client is not None
    window.client.sign_in("0421", "王敏")
    window.client.wait_for(lambda s: s["phase"] == "idle", 10, "staff signed in")
    say("staff 0421 王敏 signed in")
    evaluation_ids = []
    for case, key in zip(DEMO_CASES, DEMO_KEYS, strict=True):
        before = window.client.status()["lastSeq"]
        window.client.push_case(case)
        window.client.wait_for(
            lambda s, no=case["projectNo"]: s["phase"] == "rating" and s["projectNo"] == no,
            10,
            f"rating page for {case['projectNo']}",
        )
        window.keypad.press(key)
        status = window.client.wait_for(
            lambda s, b=before: s["lastSeq"] > b, 10, f"rating of {case['projectNo']} stored"
        )
        level = Level(config.keypad.key_levels[key - 1])
        say(
            f"case {case['projectNo']} ({case['taskName']}): key {key} {Texts().level(level)}"
            f" -> stored as seq {status['lastSeq']}"
        )
        evaluation_ids.append(status["lastEvaluationId"])
    accepted = _wait_for_province(province, evaluation_ids, 30.0)
    say(f"demo: {len(evaluation_ids)} rated, {accepted} accepted by province")
    return accepted == len(DEMO_CASES) == len(evaluation_ids)


def _wait_for_province(
    province: StandInProvince, evaluation_ids: list[str], timeout_s: float
) -> int:
    end = time.monotonic() + timeout_s
    while True:
        held = set(province.store.evaluation_ids())
        accepted = sum(1 for eid in evaluation_ids if eid in held)
        if accepted == len(evaluation_ids) or time.monotonic() > end:
            return accepted
        time.sleep(0.1)

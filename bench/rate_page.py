"""The rating page of a web terminal, over loopback HTTP as its browser uses it: a real
terminal (evaluator with no window, sync, stand-in province as child processes / threads).

For each case: push it (as the terminal's application), open the page, wait (long poll) until
it shows the rating, press a level, wait until it shows the thanks. Times: push → the page
showing the case, press → the page showing thanks (the signed rating committed before it).
Also the font subset, made cold and found warm.

`python -m bench.rate_page [--cases N]`; one JSON line. Target: press → thanks p99 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.stats import machine, percentile
from device.daemon.config import DEFAULT_FONT
from device.record.tag_catalog import load as load_tags
from device.web_page.font_subset import make_subset
from simulator.hall import StandInProvince
from simulator.terminal import SelfServiceTerminal

TARGET_P99_MS = 100.0
CASE = {"taskCode": "11640100MB1234567X3000111888000", "taskName": "社保缴费证明打印"}


def _until(session: requests.Session, url: str, token: str, want: str) -> dict[str, Any]:
    version = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = session.get(f"{url}/state/{version}", headers={"X-Page-Token": token}, timeout=15)
        state = reply.json()
        if state["state"] == want:
            return state
        version = state["version"]
    raise RuntimeError(f"the page never showed {want}")


def run(cases: int, root: Path) -> dict[str, Any]:
    province = StandInProvince(root)
    province.start()
    terminal = SelfServiceTerminal(root / "terminal", province)
    shown_ms: list[float] = []
    thanks_ms: list[float] = []
    try:
        terminal.start()
        origin = terminal.device_origin
        session = requests.Session()
        for n in range(cases):
            pushed = time.perf_counter()
            body = {**CASE, "projectNo": f"ZZ2026120100{n:04d}"}
            page = origin + terminal.client.push_case(body)["ratePage"]
            text = session.get(page, timeout=10).text
            meta = re.search(r'<meta name="rate-page" content="([^"]+)">', text)
            assert meta is not None
            token = json.loads(html.unescape(meta.group(1)))["token"]
            _until(session, page, token, "rating")
            shown_ms.append((time.perf_counter() - pushed) * 1000)
            pressed = time.perf_counter()
            session.post(
                f"{page}/press",
                json={"action": "level", "level": 5, "visibleMs": 100},
                headers={"X-Page-Token": token, "Origin": origin},
                timeout=10,
            )
            _until(session, page, token, "thanks")
            thanks_ms.append((time.perf_counter() - pressed) * 1000)
        assert terminal.config is not None
        delivered_by = time.monotonic() + 60
        while province.store.evaluation_count() < cases and time.monotonic() < delivered_by:
            time.sleep(0.2)
        delivered = province.store.evaluation_count()
        state_dir = terminal.config.state_dir
    finally:
        terminal.stop()
        province.close()
    font_dir = root / "font"
    labels = load_tags(state_dir).labels()
    started = time.perf_counter()
    made = make_subset(Path(DEFAULT_FONT), labels, font_dir)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    make_subset(Path(DEFAULT_FONT), labels, font_dir)
    warm_s = time.perf_counter() - started
    return {
        "bench": "rate_page",
        "cases": cases,
        "push_to_page_p50_ms": round(percentile(shown_ms, 50), 2),
        "push_to_page_p99_ms": round(percentile(shown_ms, 99), 2),
        "p50_ms": round(percentile(thanks_ms, 50), 2),
        "p99_ms": round(percentile(thanks_ms, 99), 2),
        "target_p99_ms": TARGET_P99_MS,
        "delivered": delivered,
        "font_bytes": made.stat().st_size if made else None,
        "font_cold_s": round(cold_s, 3),
        "font_warm_s": round(warm_s, 4),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rate-page-") as tmp:
        result = run(args.cases, Path(tmp))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

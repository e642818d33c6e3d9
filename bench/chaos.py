"""The chaos campaign: a simulated hall (real evaluator and sync processes, pty keypads, the
stand-in province) put through SIGKILLs, pulled keypad cables, provincial faults and a full
disk while raters keep pressing. It counts what matters:

- acknowledged: ratings whose thanks page the rater saw (the evaluator reported them stored),
- delivered: acknowledged ratings the province holds,
- lost: acknowledged ratings the province does not hold at the end,
- duplicated: ratings the province holds more than once (same case rated twice included),
- spurious: ratings, anywhere, for a case nobody pressed a key for.

`python -m bench.chaos [--seconds 90] [--windows 2] [--seed N]`; one JSON line at the end.
Lost, duplicated and spurious must be 0. The disk is filled on a size-limited tmpfs mounted
for one window's state (needs root); where mounting is not allowed, that part is reported as
skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from device.ledger.verify import verify_ledger
from simulator.hall import Hall, SimulatedWindow

FAULTS = [
    ("down", {"retry_after": 1}),
    ("down", {"mode": "close"}),
    ("slow", {"delay_ms": 500}),
    ("error500", {}),
    ("rate", {"retry_after": 1}),
    ("unavailable", {"retry_after": 1}),
    ("drop_after_commit", {}),
]
TMPFS_MB = 24


@dataclass
class Books:
    pressed: Counter[str] = field(default_factory=Counter)  # projectNo -> presses
    acknowledged: dict[str, str] = field(default_factory=dict)  # evaluationId -> projectNo
    events: Counter[str] = field(default_factory=Counter)


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[str]:
    """Mount a TMPFS_MB tmpfs at *folder*; yields "" on success or why it could not."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            f"size={TMPFS_MB}m",
            "tmpfs",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        yield f"skipped: {mount.stderr.strip() or 'mount failed'}"
        return
    try:
        yield ""
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


class Campaign:
    def __init__(self, hall: Hall, rng: random.Random, filler: Path | None) -> None:
        self.hall = hall
        self.rng = rng
        self.books = Books()
        self.filler = filler
        self.serial = 0

    def rate(self, window: SimulatedWindow) -> None:
        self.serial += 1
        project_no = f"CHAOS{window.window_no}-{self.serial:05d}"
        case = {"projectNo": project_no, "taskCode": "T", "taskName": "居民身份证换领"}
        try:
            window.client.push_case(case)
            window.client.wait_for(
                lambda s: s["projectNo"] == project_no and s["phase"] == "rating", 5, "rating page"
            )
        except (requests.RequestException, TimeoutError, RuntimeError):
            self.books.events["case refused or not shown"] += 1
            return
        before = window.client.status()["lastSeq"]
        window.keypad.press(self.rng.choice([1, 2, 3]))
        self.books.pressed[project_no] += 1
        if self.rng.random() < 0.1:  # the power goes right after the press
            window.kill("evaluator")
            self.books.events["evaluator killed mid-press"] += 1
            self.restart_evaluator(window)
            return
        try:
            status = window.client.wait_for(lambda s: s["lastSeq"] > before, 5, "stored")
        except (TimeoutError, RuntimeError):
            self.books.events["press not acknowledged"] += 1
            return
        self.books.acknowledged[status["lastEvaluationId"]] = project_no

    def restart_evaluator(self, window: SimulatedWindow) -> None:
        window.restart("evaluator")
        with contextlib.suppress(TimeoutError, RuntimeError):
            window.client.wait_for(lambda s: s["phase"] != "starting", 30, "evaluator back")
            if window.client.status()["staff"] is None:
                window.client.sign_in("0421", "王敏")

    def trouble(self, window: SimulatedWindow) -> None:
        roll = self.rng.random()
        if roll < 0.25:
            window.kill("sync")
            window.restart("sync")
            self.books.events["sync killed"] += 1
        elif roll < 0.4:
            window.kill("evaluator")
            self.restart_evaluator(window)
            self.books.events["evaluator killed"] += 1
        elif roll < 0.55:
            window.keypad.unplug()
            time.sleep(self.rng.uniform(0.2, 1.5))
            window.keypad.replug()
            self.books.events["keypad unplugged"] += 1
        elif roll < 0.85:
            kind, params = self.rng.choice(FAULTS)
            self.hall.province.faults.clear()
            self.hall.province.faults.set(kind, self.rng.choice([0.3, 1.0]), **params)
            self.books.events[f"province {kind}"] += 1
        elif self.filler is not None:
            self.fill_or_free_disk()

    def fill_or_free_disk(self) -> None:
        assert self.filler is not None
        if self.filler.exists():
            self.filler.unlink()
            self.books.events["disk freed"] += 1
            return
        with contextlib.suppress(OSError), self.filler.open("wb") as out:
            for _ in range(TMPFS_MB * 4):
                out.write(b"\0" * 256 * 1024)
                out.flush()
        self.books.events["disk filled"] += 1


def _ledger_ratings(window: SimulatedWindow) -> list[tuple[str, str]]:
    assert window.config is not None
    conn = sqlite3.connect(f"file:{window.config.ledger_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT evaluation_id, project_no FROM ratings").fetchall()
    finally:
        conn.close()


def settle(hall: Hall, filler: Path | None) -> None:
    """Faults off, disk freed, every backlog delivered with the real sync."""
    hall.province.faults.clear()
    if filler is not None and filler.exists():
        filler.unlink()
    for window in hall.windows:
        window.kill("sync")
        once = subprocess.run(
            [
                sys.executable,
                "-m",
                "sync",
                "once",
                "--timeout",
                "120",
                "--config",
                str(window.config_path),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if once.returncode != 0:
            print(f"window {window.window_no}: {once.stderr.strip()}", file=sys.stderr)


def account(hall: Hall, books: Books) -> dict:
    held = hall.province.store.evaluation_ids()
    held_set = set(held)
    in_ledgers = [row for w in hall.windows for row in _ledger_ratings(w)]
    per_case = Counter(project_no for _, project_no in in_ledgers)
    spurious = sum(n for no, n in per_case.items() if n > books.pressed.get(no, 0))
    duplicated = (len(held) - len(held_set)) + sum(n - 1 for n in per_case.values() if n > 1)
    lost = [eid for eid in books.acknowledged if eid not in held_set]
    ledgers_ok = all(verify_ledger(w.config.ledger_path).ok for w in hall.windows if w.config)
    return {
        "pressed": sum(books.pressed.values()),
        "acknowledged": len(books.acknowledged),
        "delivered": len(books.acknowledged) - len(lost),
        "lost": len(lost),
        "duplicated": duplicated,
        "spurious": spurious,
        "ratings_at_province": len(held_set),
        "ledgers_verify": ledgers_ok,
    }


def run(seconds: float, windows: int, seed: int) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="haochaping-chaos-") as tmp:
        root = Path(tmp)
        with small_disk(root / "window-1" / "state") as disk_problem, Hall(root, windows) as hall:
            filler = None if disk_problem else root / "window-1" / "state" / "filler"
            for window in hall.windows:
                window.client.sign_in("0421", "王敏")
            campaign = Campaign(hall, rng, filler)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                window = rng.choice(hall.windows)
                campaign.rate(window) if rng.random() < 0.7 else campaign.trouble(window)
            settle(hall, filler)
            figures = account(hall, campaign.books)
    ok = figures["lost"] == figures["duplicated"] == figures["spurious"] == 0
    return {
        "bench": "chaos",
        "seconds": seconds,
        "windows": windows,
        "seed": seed,
        **figures,
        "disk_fill": disk_problem or "tmpfs",
        "events": dict(campaign.books.events),
        "met": ok and figures["ledgers_verify"] and figures["acknowledged"] > 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "2026")))
    args = parser.parse_args()
    result = run(args.seconds, args.windows, args.seed)
    print(json.dumps(result, ensure_ascii=False))
    sys.exit(0 if result["met"] else 1)


if __name__ == "__main__":
    main()

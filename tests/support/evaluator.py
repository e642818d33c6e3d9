"""Driving a real Evaluator in this process, headless: a settable clock, touches and keys
posted as SDL events, and steps of the real main loop until something a user sees happens."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygame

from device.daemon.config import Config, from_dict
from device.evaluator.app import Evaluator
from device.keys.signing import DeviceKey
from device.record.rating import Level


class FakeClock:
    """Monotonic time that moves only when told; wall time follows it."""

    def __init__(self, synced: bool = True) -> None:
        self.t = 1000.0
        self.wall0 = datetime(2026, 11, 21, 2, 0, 0, tzinfo=UTC)
        self.is_synced = synced

    def now(self) -> datetime:
        return self.wall0 + timedelta(seconds=self.t - 1000.0)

    def monotonic(self) -> float:
        return self.t

    def synced(self) -> bool:
        return self.is_synced

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_config(
    tmp_path: Path,
    *,
    mode: str = "window",
    keypad: str | None = None,
    key: bool = True,
    **display: Any,
) -> Config:
    """A window (or self-service) evaluator's configuration under tmp_path, with a fresh key."""
    state = tmp_path / "state"
    if key:
        DeviceKey.generate().save(state / "device.key")
    data: dict[str, Any] = {
        "device": {"state_dir": str(state), "mode": mode},
        "site": {
            "area_code": "640104",
            "dept_code": "11640100MB1234567X",
            "pf": 5 if mode == "self_service" else 4,
            "window_no": "12",
            **({"terminal_no": "ZZ-0031"} if mode == "self_service" else {}),
        },
        "province": {
            "base_url": "http://127.0.0.1:9/api/v1",
            "device_id": "hcp-test",
            "key_id": "k",
        },
        "local_api": {"token": "token-for-tests-0123456789", "port": 0},
        "display": {
            "width": 800,
            "height": 480,
            "fullscreen": False,
            "rating_timeout_s": 30,
            "thanks_s": 3,
            "rate_later_s": 20,
            **display,
        },
    }
    if keypad:
        data["keypad"] = {"port": keypad}
    return from_dict(data)


class Driver:
    """A real Evaluator on a FakeClock, driven by SDL events and stepped until things happen."""

    def __init__(self, config: Config, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.evaluator = Evaluator(config, self.clock)
        self.config = config

    def __enter__(self) -> Driver:
        self.evaluator.open()
        self.step()
        return self

    def __exit__(self, *exc: object) -> None:
        self.evaluator.close()

    def step(self, times: int = 3) -> None:
        for _ in range(times):
            self.evaluator.step(max_wait_ms=5)

    def until(self, predicate: Callable[[], bool], what: str, steps: int = 400) -> None:
        """Step the main loop until `predicate` holds; fail naming `what` after `steps` steps."""
        for _ in range(steps):
            if predicate():
                return
            self.evaluator.step(max_wait_ms=10)
        raise AssertionError(f"never happened: {what} (status {self.status})")

    @property
    def status(self) -> dict[str, Any]:
        return self.evaluator.inbox.status()

    @property
    def phase(self) -> str:
        return self.status["phase"]

    def tap(self, x: int, y: int, *, as_touch: bool = False) -> None:
        if as_touch:
            w, h = self.config.display.width, self.config.display.height
            pygame.event.post(
                pygame.event.Event(
                    pygame.FINGERDOWN,
                    x=x / w,
                    y=y / h,
                    finger_id=0,
                    touch_id=0,
                    dx=0,
                    dy=0,
                    pressure=1.0,
                )
            )
            # SDL also synthesises a mouse click from the same touch:
            pygame.event.post(
                pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=True)
            )
        else:
            pygame.event.post(
                pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=False)
            )
        self.step()

    def tap_rect(self, rect: tuple[int, int, int, int], **kwargs: Any) -> None:
        x, y, w, h = rect
        self.tap(x + w // 2, y + h // 2, **kwargs)

    def tap_level(self, level: Level, **kwargs: Any) -> None:
        layout = self.evaluator.screen.layout
        self.tap_rect(dict(layout.buttons())[level], **kwargs)

    def key(self, number: int) -> None:
        pygame.event.post(
            pygame.event.Event(
                pygame.KEYDOWN, key=pygame.K_0 + number, mod=0, unicode=str(number), scancode=0
            )
        )
        self.step()

    def ratings(self) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.config.ledger_path)
        rows = conn.execute("SELECT record FROM ratings ORDER BY seq").fetchall()
        conn.close()
        return [json.loads(r[0]) for r in rows]

    def outcomes(self) -> list[dict[str, Any]]:
        """The signed case events of cases that left the screen unrated, oldest first."""
        conn = sqlite3.connect(self.config.ledger_path)
        rows = conn.execute("SELECT event FROM case_events ORDER BY event_seq").fetchall()
        conn.close()
        return [json.loads(r[0]) for r in rows]

"""Simulated evaluators for fleet benchmarks: each with its own key, enrolment and ledger file,
delivering its backlog through the real SyncDaemon.step → Sender → ProvinceAdapter →
ProvinceClient, one thread per device, sleeping what the daemon asks between steps.

Time may be compressed: `TimeScale` shrinks the Backoff's base and cap by one factor, so
the shape of the retry schedule is the product's own.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from device.ledger import Ledger
from device.rating import Case, Level, Press, Site, record_body
from device.signing import DeviceKey
from provisioning.enroll import enroll
from sync.backoff import Backoff
from sync.daemon import SyncDaemon
from sync.province_adapter import ProvinceAdapter
from sync.province_client import ProvinceClient
from sync.sender import Sender

AREA, DEPT, HALL = "640104", "11640100MB1234567X", "FLEET-HALL"
TASK_CODE, TASK_NAME = "11640100MB1234567X3000111222000", "居民身份证换领"
NO_ANSWER = "unreachable"  # the try got no HTTP answer (refused, reset, timed out)
SETUP_WORKERS = 8
START_WAIT_S = 600.0


@dataclass(frozen=True)
class TimeScale:
    """`factor` real seconds per simulated second: 0.05 runs a 10-minute outage in 30 s."""

    factor: float

    def real(self, simulated_s: float) -> float:
        return simulated_s * self.factor

    def simulated(self, real_s: float) -> float:
        return real_s / self.factor

    def backoff(self, rng: random.Random) -> Backoff:
        """The product's Backoff with its default base and cap scaled, drawing from *rng*."""
        default = Backoff()
        return Backoff(
            base_s=self.real(default.base_s), cap_s=self.real(default.cap_s), uniform=rng.uniform
        )


@dataclass(frozen=True)
class Attempt:
    """One step that had ratings to send: when it began (wall clock), how long it took, the
    HTTP status or NO_ANSWER, and how late it began against the delay the daemon asked for."""

    began: float
    seconds: float
    status: str
    lag_s: float


class FleetDevice:
    def __init__(
        self,
        index: int,
        device_id: str,
        ratings: int,
        ledger: Ledger,
        client: ProvinceClient,
        backoff: Backoff,
    ) -> None:
        self.index = index
        self.device_id = device_id
        self.ratings = ratings
        self.ledger = ledger
        self.client = client
        sender = Sender(ledger, ProvinceAdapter(client), None)
        self.daemon = SyncDaemon(ledger, sender, backoff=backoff)
        self.attempts: list[Attempt] = []
        self.error: str | None = None
        self._status: int | None = None
        client.session.hooks["response"].append(self._answered)

    def _answered(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._status = response.status_code

    def deliver(self, budget_s: float, stop: threading.Event) -> None:
        """Step, then sleep the delay step() returned, until the backlog is delivered, the
        budget is spent or *stop* is set."""
        try:
            self._deliver(time.monotonic() + budget_s, stop)
        except Exception as exc:  # a bug: reported in the figures, never silently lost
            self.error = f"{type(exc).__name__}: {exc}"

    def _deliver(self, deadline: float, stop: threading.Event) -> None:
        due = time.monotonic()
        while self.ledger.backlog() > 0 and not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            delay = self._step(lag_s=max(0.0, now - due))
            due = time.monotonic() + delay
            if delay > 0:
                stop.wait(min(delay, max(0.0, deadline - time.monotonic())))

    def _step(self, lag_s: float) -> float:
        self._status = None
        began, start = time.time(), time.monotonic()
        delay = self.daemon.step()
        status = NO_ANSWER if self._status is None else str(self._status)
        self.attempts.append(Attempt(began, time.monotonic() - start, status, lag_s))
        return delay

    def deliveries(self) -> dict[str, int]:
        """How many ratings the ledger holds per delivery status ("unsent" for none)."""
        rows = self.ledger.conn.execute(
            "SELECT coalesce(delivery, 'unsent'), count(*) FROM ratings GROUP BY 1"
        ).fetchall()
        return dict(rows)

    def close(self) -> None:
        self.client.close()
        self.ledger.close()


def rating_body(index: int, n: int, site: Site) -> dict[str, Any]:
    """The n-th rating of device *index*: a case of its own, 满意 to 非常满意 (no reason due)."""
    case = Case(
        project_no=f"FL{index:05d}{n:04d}",
        task_code=TASK_CODE,
        task_name=TASK_NAME,
        pro_manager_no=f"{index % 100:04d}",
        pro_manager="王敏",
    )
    level = Level(3 + (index + n) % 3)
    press = Press(level, "keypad", 800 + (index * 37 + n * 11) % 4000, datetime.now(UTC), True)
    return record_body(str(uuid.uuid4()), case, site, press)


def build_device(
    directory: Path, url: str, token: str, index: int, ratings: int, backoff: Backoff
) -> FleetDevice:
    """Key generated, enrolled with *token*, *ratings* appended to a ledger file of its own."""
    key = DeviceKey.generate()
    window = str(index + 1)
    site = {
        "areaCode": AREA,
        "hallCode": HALL,
        "windowNo": window,
        "deptCode": DEPT,
        "pf": 4,
        "terminalNo": None,
    }
    enrolment = enroll(
        url, token, key, site, serial=f"FLEET-{index:05d}", model="HCP-7", firmware_version="bench"
    )
    ledger = Ledger(directory / f"ledger-{index:05d}.db")
    rating_site = Site(enrolment.device_id, 4, AREA, DEPT, HALL, window)
    for n in range(ratings):
        ledger.append(rating_body(index, n, rating_site), key)
    return FleetDevice(
        index,
        enrolment.device_id,
        ratings,
        ledger,
        ProvinceClient(url, enrolment.device_id, key),
        backoff,
    )


class Fleet:
    """Many FleetDevices, one thread each, released together."""

    def __init__(self, devices: list[FleetDevice]) -> None:
        self.devices = devices
        self.started = 0.0  # wall clock when released
        self._go = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def build(
        cls,
        directory: Path,
        url: str,
        tokens: Sequence[str],
        ratings: Sequence[int],
        scale: TimeScale,
        seed: int | None = None,
    ) -> Fleet:
        """One device per token, with ratings[i] ratings each (built on a few threads)."""
        directory.mkdir(parents=True, exist_ok=True)

        def one(index: int) -> FleetDevice:
            rng = random.Random(None if seed is None else seed * 1_000_003 + index)
            backoff = scale.backoff(rng)
            return build_device(directory, url, tokens[index], index, ratings[index], backoff)

        with ThreadPoolExecutor(SETUP_WORKERS) as pool:
            return cls(list(pool.map(one, range(len(tokens)))))

    def start(self, budget_s: float) -> float:
        """Start every device's thread, then release them at once; returns that wall time."""
        for device in self.devices:
            thread = threading.Thread(
                target=self._run,
                args=(device, budget_s),
                name=f"device-{device.index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        self.started = time.time()
        self._go.set()
        return self.started

    def _run(self, device: FleetDevice, budget_s: float) -> None:
        if self._go.wait(START_WAIT_S):
            device.deliver(budget_s, self._stop)

    def wait(self, timeout_s: float) -> bool:
        """Join every device thread within *timeout_s*; True when all have finished."""
        end = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        self._go.set()
        self._stop.set()
        self.wait(30.0)

    def close(self) -> None:
        for device in self.devices:
            device.close()

    def attempts(self) -> list[Attempt]:
        return [attempt for device in self.devices for attempt in device.attempts]

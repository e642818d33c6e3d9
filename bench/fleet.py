"""Simulated evaluators for fleet benchmarks: each with its own key, enrolment and ledger file,
delivering its backlog through the real SyncDaemon.step → Sender → ProvinceAdapter →
ProvinceClient, one thread per device, sleeping what the daemon asks between steps; and, as
the sync daemon does, the real heartbeat and tag-list jobs (`sync.jobs.Jobs`), all devices'
on one shared APScheduler scheduler.

Time may be compressed: `TimeScale` shrinks the Backoff's base and cap by one factor, so
the shape of the retry schedule is the product's own.
"""

from __future__ import annotations

import random
import socket
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
from apscheduler.executors.pool import ThreadPoolExecutor as JobThreads
from apscheduler.schedulers.background import BackgroundScheduler

from device.daemon.config import (
    Config,
    DeviceSection,
    LocalApiSection,
    ProvinceSection,
    SiteSection,
    SyncSection,
)
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.record.rating import Case, Level, Press, Site, record_body
from provisioning.enroll import enroll
from sync.backoff import Backoff
from sync.daemon import SyncDaemon
from sync.jobs import Jobs
from sync.province_adapter import ProvinceAdapter
from sync.province_client import ProvinceClient
from sync.sender import Sender

AREA, DEPT, HALL = "640104", "11640100MB1234567X", "FLEET-HALL"
TASK_CODE, TASK_NAME = "11640100MB1234567X3000111222000", "居民身份证换领"
NO_ANSWER = "unreachable"  # the try got no HTTP answer (refused, reset, timed out)
SETUP_WORKERS = 8
START_WAIT_S = 600.0
JOB_THREADS = 32  # the shared scheduler's threads for every device's heartbeats


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

    def sync_section(self) -> SyncSection:
        """The default [sync] timings of the product, scaled (whole seconds, at least 1)."""
        default = SyncSection()
        return SyncSection(
            heartbeat_s=max(1, round(self.real(default.heartbeat_s))),
            tags_refresh_s=max(1, round(self.real(default.tags_refresh_s))),
        )


@dataclass(frozen=True)
class Attempt:
    """One step that had ratings to send, or one run of a job: when it began (wall clock),
    how long it took, the HTTP status (a job: "ok", or the error's name) or NO_ANSWER, and
    how late a step began against the delay the daemon asked for."""

    began: float
    seconds: float
    status: str
    lag_s: float
    kind: str = "batch"  # or "heartbeat", "tags"


class FleetDevice:
    def __init__(
        self,
        index: int,
        device_id: str,
        ratings: int,
        ledger: Ledger,
        client: ProvinceClient,
        backoff: Backoff,
        jobs: Jobs | None = None,
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
        self.jobs = jobs
        if jobs is not None:  # runs are recorded as attempts; the jobs' own code runs them
            jobs.heartbeat = self._recorded("heartbeat", jobs.heartbeat)  # type: ignore[method-assign]
            jobs.refresh_tags = self._recorded("tags", jobs.refresh_tags)  # type: ignore[method-assign]

    def _recorded(self, kind: str, job: Any) -> Any:
        def run() -> Any:
            began, start = time.time(), time.monotonic()
            status = "ok"
            try:
                return job()
            except Exception as exc:
                status = _job_status(exc)
                raise
            finally:
                self.attempts.append(Attempt(began, time.monotonic() - start, status, 0.0, kind))

        run.__name__ = job.__name__
        return run

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


def _job_status(exc: Exception) -> str:
    """NO_ANSWER when the job's call got no HTTP answer, else the HTTP status it got, else
    the error's name."""
    status = getattr(exc, "status", None)
    if status is not None:
        return str(status)
    if isinstance(exc.__cause__, requests.RequestException):
        return NO_ANSWER
    return type(exc).__name__


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


@dataclass(frozen=True)
class JobSetup:
    """What every device's jobs share: the scheduler, the scaled [sync] timings, and a local
    API port where no evaluator answers (a heartbeat asks it for the keypad's state)."""

    scheduler: BackgroundScheduler
    sync: SyncSection
    local_api_port: int


def build_device(
    directory: Path,
    url: str,
    token: str,
    index: int,
    ratings: int,
    rng: random.Random,
    scale: TimeScale,
    jobs: JobSetup | None,
) -> FleetDevice:
    """Key generated, enrolled with *token*, *ratings* appended to a ledger file of its own
    (in a state directory of its own, as on a device), its jobs added to the shared scheduler
    when *jobs* is given (they are added at the release)."""
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
    state = directory / f"device-{index:05d}"
    state.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(state / "ledger.db")
    rating_site = Site(enrolment.device_id, 4, AREA, DEPT, HALL, window)
    for n in range(ratings):
        ledger.append(rating_body(index, n, rating_site), key)
    device_jobs = None
    if jobs is not None:
        config = Config(
            device=DeviceSection(state_dir=str(state), firmware_version="bench"),
            site=SiteSection(AREA, DEPT, 4, HALL, window),
            province=ProvinceSection(url, enrolment.device_id, key.key_id),
            local_api=LocalApiSection(token="fleet-bench-not-used", port=jobs.local_api_port),
            sync=jobs.sync,
        )
        device_jobs = Jobs(config, key, jobs.scheduler, rng.uniform)
        device_jobs.refresh_tags()  # a device in service holds the province's current list
    return FleetDevice(
        index,
        enrolment.device_id,
        ratings,
        ledger,
        ProvinceClient(url, enrolment.device_id, key),
        scale.backoff(rng),
        device_jobs,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Fleet:
    """Many FleetDevices, one thread each, released together (their jobs' scheduler too)."""

    def __init__(self, devices: list[FleetDevice], scheduler: BackgroundScheduler | None) -> None:
        self.devices = devices
        self.scheduler = scheduler
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
        *,
        jobs: bool = True,
    ) -> Fleet:
        """One device per token, with ratings[i] ratings each (built on a few threads); with
        *jobs*, each runs the sync's heartbeat and tag-list jobs from its release on."""
        directory.mkdir(parents=True, exist_ok=True)
        setup = None
        if jobs:
            scheduler = BackgroundScheduler(
                timezone="UTC", executors={"default": JobThreads(JOB_THREADS)}
            )
            scheduler.start(paused=True)  # runs from the release
            setup = JobSetup(scheduler, scale.sync_section(), closed_port())

        def one(index: int) -> FleetDevice:
            rng = random.Random(None if seed is None else seed * 1_000_003 + index)
            return build_device(
                directory, url, tokens[index], index, ratings[index], rng, scale, setup
            )

        with ThreadPoolExecutor(SETUP_WORKERS) as pool:
            return cls(list(pool.map(one, range(len(tokens)))), setup and setup.scheduler)

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
        for device in self.devices:
            if device.jobs is not None:
                device.jobs.start()  # first heartbeat within one interval, as in the field
        self.started = time.time()
        self._go.set()
        if self.scheduler is not None:
            self.scheduler.resume()
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
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def close(self) -> None:
        for device in self.devices:
            device.close()

    def attempts(self) -> list[Attempt]:
        return [attempt for device in self.devices for attempt in device.attempts]

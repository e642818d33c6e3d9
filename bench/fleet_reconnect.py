"""1,000 evaluators with backlogs reconnect after a 10-minute provincial outage: how hard they
hit the province from the end of the outage until every backlog is delivered (the "drain").

`python -m bench.fleet_reconnect [--devices 1000] [--outage refused 503] [--time-factor 0.5]
[--outage-s 600] [--retry-after 20] [--seed N] [--keep DIR] [--ledger-dir DIR]`

Each device has its own key, enrolment and SQLite ledger with 5–20 signed ratings
(`Ledger.append`), and one thread looping the real `SyncDaemon.step` (→ Sender →
ProvinceAdapter → ProvinceClient, every call request-signed, over HTTP on 127.0.0.1) and
sleeping the delay step() returns. As in the field, each also runs the sync daemon's
heartbeat and tag-list jobs (`sync.jobs.Jobs`, all devices' on one shared APScheduler
scheduler; each device holds the province's current tag list, as one in service does): the
province sees those calls too. The stand-in province runs in its own process
(`python -m simulator.province serve`). Devices start together with the province down.
The ledgers live on tmpfs by default: each real device commits to its own storage, and
1,000 of them queueing on one shared disk's fsyncs would make the generator the bottleneck.

Time is compressed by `--time-factor` (real seconds per simulated second): the Backoff's
default base (1 s) and cap (300 s), the outage and the counting interval all shrink by it, so
the schedule keeps its shape; the jobs' intervals shrink with them. The default 0.5 keeps
the generator (1,000 devices' threads and jobs in one Python process) on time; at 0.2 its
heartbeats start to miss their times, and at 0.05 the stand-in (one Python process)
saturates and flattens the peak it is meant to measure.
`kept_up` in the output says whether device threads woke on time (p99 lag under a quarter
of the counting interval) and the stand-in answered within one interval (p99); a run that
did not keep up never counts as met.
Retry-After travels as whole seconds, so `--retry-after` (simulated seconds) times the
factor must be a whole number.

Outages (`--outage`, one run each):
- refused: the stand-in process is stopped, so connections are refused (the province off the
  network); at the end it is started again on the same file and port.
- 503: its `down` fault answers every call 503 E_UNAVAILABLE with Retry-After (front end up,
  back end down).
- close: the `down` fault's close mode: connections accepted, then hung up without an answer.

Figures of a run, over the drain: requests reaching the stand-in per *simulated* second (by
the moment each was sent; the count is checked against the stand-in's own total), peak, mean
and peak/mean, also per 10 simulated seconds; the same for batch posts alone (about 3 a
second after a 10-minute outage: at that rate chance alone puts the busiest second near 3x
the mean, however well the retries are spread); the stand-in's own per-real-second figures;
statuses; CPU use of the generator, the stand-in and everything else on the machine; request
times and how late device threads woke. Prints one JSON line. Target: peak <= 3 x mean per
simulated second, every rating at the province exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu_use import CpuSampler
from bench.fleet import NO_ANSWER, Attempt, Fleet, TimeScale
from bench.load_shape import LoadShape, load_shape
from bench.standin import StandInProcess
from bench.stats import machine, percentile
from sync.backoff import Backoff

TARGET_RATIO = 3.0
OUTAGES = ("refused", "503", "close")
RATINGS_PER_DEVICE = (5, 20)
SLACK_S = 60.0  # real seconds a run may overrun its schedule before devices are stopped


def say(message: str) -> None:
    print(f"fleet_reconnect: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Plan:
    devices: int
    scale: TimeScale
    outage_s: float  # simulated
    retry_after_s: int  # simulated; only the 503 outage sends it
    seed: int | None

    @property
    def retry_after_real(self) -> int:
        return round(self.scale.real(self.retry_after_s))

    @property
    def budget_real_s(self) -> float:
        """Longest a device may need: outage, a capped delay plus Retry-After, and slack."""
        cap = self.scale.real(Backoff().cap_s)
        return self.scale.real(self.outage_s) + 2 * cap + self.retry_after_real + SLACK_S

    def ratings(self) -> list[int]:
        rng = random.Random(self.seed)
        return [rng.randint(*RATINGS_PER_DEVICE) for _ in range(self.devices)]


# --- one outage -------------------------------------------------------------------------


def run_outage(kind: str, plan: Plan, workdir: Path, ledger_root: Path) -> dict[str, Any]:
    """One outage of *kind* and the drain after it, with a fresh province and fleet."""
    workdir.mkdir(parents=True, exist_ok=True)
    tokens = [f"fleet-{kind}-{index:05d}" for index in range(plan.devices)]
    province = StandInProcess(workdir / "province.db", workdir / "province.log", tokens)
    province.start()
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-ledgers-", dir=ledger_root) as ledgers:
            return _with_fleet(kind, plan, province, Path(ledgers), tokens)
    finally:
        province.stop()


def _with_fleet(
    kind: str, plan: Plan, province: StandInProcess, ledgers: Path, tokens: list[str]
) -> dict[str, Any]:
    say(f"{kind}: enrolling {plan.devices} devices and filling their ledgers")
    fleet = Fleet.build(ledgers, province.url, tokens, plan.ratings(), plan.scale, plan.seed)
    try:
        if kind == "refused":  # rehearse once: how long a restart takes until it answers
            province.stop()
            province.start()
        return _outage_and_drain(kind, plan, province, fleet)
    finally:
        fleet.stop()
        fleet.close()


def _outage_and_drain(
    kind: str, plan: Plan, province: StandInProcess, fleet: Fleet
) -> dict[str, Any]:
    sampler = CpuSampler(province.cpu_seconds)
    _begin_outage(kind, province, plan)
    sampler.start()
    began = fleet.start(plan.budget_real_s)
    say(f"{kind}: province down for {plan.scale.real(plan.outage_s):.1f} s real")
    lead = province.startup_s if kind == "refused" else 0.0  # so it answers on time
    time.sleep(max(0.0, began + plan.scale.real(plan.outage_s) - lead - time.time()))
    ended = _end_outage(kind, province)
    say(f"{kind}: province back; draining")
    drained = fleet.wait(plan.budget_real_s)
    stats = province.admin.stats()
    sampler.stop()
    fleet.stop()
    attempts = fleet.attempts()
    start = _drain_start(kind, ended, attempts)
    end = _drain_end(attempts, default=time.time())
    figures = {
        "outage": kind,
        "outage_s": {
            "simulated": round(plan.scale.simulated(start - began), 1),
            "real": round(start - began, 2),
        },
        "retry_after_s": _retry_after(kind, plan),
        "drained": drained,
        "drain_s": {
            "real": round(end - start, 2),
            "simulated": round(plan.scale.simulated(end - start), 1),
        },
        **_drain_figures(attempts, start, end, plan.scale, stats),
        "outage_attempts_by_status": dict(Counter(a.status for a in attempts if a.began < start)),
        "job_runs": dict(Counter(a.kind for a in attempts if a.kind != "batch")),
        "cpu_percent_of_one_core": sampler.usage(start, end),
        **_timing(attempts, start),
        "ratings": _delivered(fleet, province),
    }
    figures["kept_up"] = _kept_up(figures, plan.scale)
    figures["met"] = (
        drained
        and figures["kept_up"]
        and figures["ratings"]["exactly_once"]
        and figures["per_simulated_second"]["ratio"] <= TARGET_RATIO
    )
    return figures


def _begin_outage(kind: str, province: StandInProcess, plan: Plan) -> None:
    if kind == "refused":
        province.stop()
    elif kind == "503":
        province.admin.set_fault("down", mode="503", retry_after=plan.retry_after_real)
    else:
        province.admin.set_fault("down", mode="close")


def _end_outage(kind: str, province: StandInProcess) -> float:
    """End the outage; returns the wall time from which calls count as the drain."""
    if kind == "refused":
        return province.start()  # a new process: its statistics start from zero
    ended = time.time()
    province.admin.stats(reset=True)  # calls between reset and clear count (as 503s)
    province.admin.clear_faults("down")
    return ended


def _drain_start(kind: str, ended: float, attempts: list[Attempt]) -> float:
    """A restarted stand-in may answer devices a moment before it answers us."""
    if kind != "refused":
        return ended
    answered = [a.began for a in attempts if a.status != NO_ANSWER]
    return min([ended, *answered])


def _drain_end(attempts: list[Attempt], default: float) -> float:
    delivered = [a.began + a.seconds for a in attempts if a.kind == "batch" and a.status == "200"]
    return max(delivered, default=default)


def _retry_after(kind: str, plan: Plan) -> dict[str, int] | None:
    if kind != "503":
        return None
    return {"simulated": plan.retry_after_s, "real": plan.retry_after_real}


def _drain_figures(
    attempts: list[Attempt], start: float, end: float, scale: TimeScale, stats: dict[str, Any]
) -> dict[str, Any]:
    reached = [a for a in attempts if a.status != NO_ANSWER and a.began >= start]
    sent = [a.began for a in reached]
    shape = load_shape(sent, start, end, scale.factor)
    batches = load_shape([a.began for a in reached if a.kind == "batch"], start, end, scale.factor)
    peak, mean = stats["peakPerSecond"], stats["meanPerSecond"]
    return {
        "per_simulated_second": _shape_json(shape),
        "per_10_simulated_seconds": _shape_json(load_shape(sent, start, end, scale.real(10))),
        "per_tenth_of_drain": shape.per_part(10),
        "batches_per_simulated_second": _shape_json(batches),
        "batches_per_tenth_of_drain": batches.per_part(10),
        "requests_by_kind": dict(Counter(a.kind for a in reached)),
        "batches_by_status": dict(Counter(a.status for a in reached if a.kind == "batch")),
        "standin_per_real_second": {
            "peak": peak,
            "mean": mean,
            "ratio": round(peak / mean, 2) if mean else 0.0,
        },
        "requests": stats["total"],
        "requests_sent_in_drain": len(sent),
        "by_status": stats["byStatus"],
    }


def _shape_json(shape: LoadShape) -> dict[str, Any]:
    return {"peak": shape.peak, "mean": round(shape.mean, 2), "ratio": round(shape.ratio, 2)}


def _kept_up(figures: dict[str, Any], scale: TimeScale) -> bool:
    """Requests are counted by when they were sent, so device threads must wake on time
    (p99 within a quarter of the counting interval), and the stand-in must not queue them
    (p99 round trip within one interval)."""
    interval_ms = scale.real(1.0) * 1000
    return (
        figures["wake_lag_ms"]["p99"] < interval_ms / 4
        and figures["request_ms"]["p99"] < interval_ms
    )


def _timing(attempts: list[Attempt], start: float) -> dict[str, Any]:
    """Request round trips and device wake-up lag in the drain, in milliseconds."""
    drain = [a for a in attempts if a.began >= start and a.kind == "batch"]
    trips = [a.seconds * 1000 for a in drain if a.status != NO_ANSWER] or [0.0]  # batches
    lags = [a.lag_s * 1000 for a in drain] or [0.0]
    return {
        "request_ms": {
            "p50": round(percentile(trips, 50), 1),
            "p99": round(percentile(trips, 99), 1),
            "max": round(max(trips), 1),
        },
        "wake_lag_ms": {"p99": round(percentile(lags, 99), 1), "max": round(max(lags), 1)},
    }


def _delivered(fleet: Fleet, province: StandInProcess) -> dict[str, Any]:
    """Every rating at the province exactly once: the province holds each device's whole
    chain (evaluationId is its key: it cannot hold two copies) and each ledger has it all
    marked delivered."""
    total = sum(device.ratings for device in fleet.devices)
    statuses: Counter[str] = Counter()
    at_province = mismatched = flags = 0
    for device in fleet.devices:
        statuses.update(device.deliveries())
        held = province.admin.device(device.device_id)
        at_province += held["evaluationCount"]
        flags += held["auditFlags"]
        if held["evaluationCount"] != device.ratings or held["lastSeq"] != device.ratings:
            mismatched += 1
    errors = [device.error for device in fleet.devices if device.error]
    delivered = statuses["accepted"] + statuses["duplicate"]
    return {
        "total": total,
        "at_province": at_province,
        "accepted": statuses["accepted"],
        "duplicate": statuses["duplicate"],
        "undelivered": total - delivered,
        "devices_mismatched": mismatched,
        "audit_flags": flags,
        "device_errors": errors[:3],
        "exactly_once": at_province == total == delivered and not (mismatched or errors),
    }


# --- the command --------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_sync_logs() -> Iterator[None]:
    """Each device logs every deferred delivery; keep errors only, for the run's length."""
    logger = logging.getLogger("sync")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def raise_file_limit() -> None:
    """A ledger (3 files) and a socket per device: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def default_ledger_dir() -> Path:
    """tmpfs: a real device commits to its own storage; 1,000 of them syncing to one shared
    disk would queue on its fsyncs and make the generator the bottleneck."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet_reconnect",
        description="Peak and mean requests per second at the province when a fleet of "
        "evaluators reconnects after an outage.",
    )
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument(
        "--outage", nargs="+", choices=OUTAGES, default=["refused", "503"], help="one run each"
    )
    parser.add_argument(
        "--time-factor", type=float, default=0.5, help="real s per simulated s (0.5)"
    )
    parser.add_argument("--outage-s", type=float, default=600.0, help="simulated (600)")
    parser.add_argument(
        "--retry-after", type=int, default=20, help="503's Retry-After, simulated s (20)"
    )
    parser.add_argument("--seed", type=int, help="repeatable jitter and backlog sizes")
    parser.add_argument(
        "--keep", type=Path, help="keep the province files and logs of the runs here"
    )
    parser.add_argument(
        "--ledger-dir",
        type=Path,
        default=default_ledger_dir(),
        help="where the devices' ledger files go (default: tmpfs /dev/shm when there is one)",
    )
    args = parser.parse_args(argv)
    real = args.retry_after * args.time_factor
    if not 0 < args.time_factor <= 1 or args.devices < 1 or args.outage_s <= 0:
        parser.error("need 0 < --time-factor <= 1, --devices >= 1, --outage-s > 0")
    if args.retry_after < 0 or abs(real - round(real)) > 1e-9:
        parser.error("--retry-after x --time-factor must be whole seconds (Retry-After is)")
    return args


def result_line(plan: Plan, runs: list[dict[str, Any]]) -> dict[str, Any]:
    default = Backoff()
    return {
        "bench": "fleet_reconnect",
        "devices": plan.devices,
        "ratings_per_device": list(RATINGS_PER_DEVICE),
        "time_factor": plan.scale.factor,
        "backoff_s": {
            "base": {"simulated": default.base_s, "real": plan.scale.real(default.base_s)},
            "cap": {"simulated": default.cap_s, "real": plan.scale.real(default.cap_s)},
        },
        "outage_s": {"simulated": plan.outage_s, "real": round(plan.scale.real(plan.outage_s), 3)},
        "runs": runs,
        "target": f"peak <= {TARGET_RATIO:g} x mean requests per simulated second in the drain",
        "met": all(run["met"] for run in runs),
        "machine": f"{machine()}, {os.cpu_count()} cores",
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    plan = Plan(
        args.devices,
        TimeScale(args.time_factor),
        args.outage_s,
        args.retry_after,
        args.seed,
    )
    raise_file_limit()
    runs = []
    with quiet_sync_logs(), tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        root = args.keep or Path(tmp)
        for kind in args.outage:
            if args.keep is not None:
                shutil.rmtree(root / kind, ignore_errors=True)
            runs.append(run_outage(kind, plan, root / kind, args.ledger_dir))
            shape = runs[-1]["per_simulated_second"]
            say(f"{kind}: peak {shape['peak']}/s, mean {shape['mean']}/s, ratio {shape['ratio']}")
    result = {**result_line(plan, runs), "ledgers_in": str(args.ledger_dir)}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""A big backlog drained into the stand-in province: ratings per second and the sync's memory.

`python -m bench.drain [--ratings 100000] [--runs 1] [--keep DIR] [--adapter gm-soap]`: the
backlog is built once
with the real `Ledger.append` (real signatures, one chain, a few percent with personal data in
the identity vault) and cached in the temp directory together with the province file holding
the device's enrolment. Each run copies both, starts the stand-in province in its own process
(verifying every record and request signature), runs `python -m sync once` in its own process
and times it from start to exit (backlog 0). Checks afterwards that the province holds exactly
the ledger's evaluation ids and the ledger has nothing left; prints one JSON line.
Targets: >= 5,000 ratings/s, sync peak RSS <= 60 MB (VmHWM of the sync process, MiB).

`--adapter gm-soap` drains the same kind of backlog from a device provisioned for a 国密
province (the stand-in with `--dialect gm-soap`: SOAP, SM4-sealed, SM2-signed both ways,
batches of 100, every rating a month old so all go through supplementEvaluation), and in the
same run the default adapter's backlog too: the line gives the gm-soap figures and, under
`default_adapter`, the province-v1 figures measured beside them. The throughput target is the
default adapter's; the memory target holds for both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stats import machine, percentile
from device.daemon.config import Config, load, save
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.record.rating import Case, Level, Press, Site, record_body

TARGETS = {"ratings_per_s": 5000.0, "sync_peak_rss_mb": 60.0}
CACHE_VERSION = 1  # bump when the backlog's shape changes
AREA, DEPT = "640104", "11640100MB1234567X"
TOKEN = "drain-bench-token-0123456789"
READY = re.compile(r"province: listening on (\S+)")
ROUND_TRIP = re.compile(r"round trip ([0-9.]+) ms")
TICKS = os.sysconf("SC_CLK_TCK")
TASKS = (
    ("11640100MB1234567X3000111222000", "居民身份证换领"),
    ("11640100MB1234567X4000112345000", "不动产登记"),
    ("11640100MB1234567X2000100001000", "企业开办"),
    ("11640100MB1234567X5000100077000", "社会保障卡申领"),
)
TAGS = {5: ("501", "503"), 4: ("401",), 3: ("301",), 2: ("201", "203"), 1: ("101",)}


def say(message: str) -> None:
    print(f"drain: {message}", file=sys.stderr, flush=True)


# --- the backlog --------------------------------------------------------------------------


def rating_body(n: int, site: Site, start: datetime) -> dict[str, Any]:
    """The n-th rating of the backlog: mostly good, some bad with tags or text, some batch
    cases and indicators; every 33rd by a real-name rater (personal data in the vault)."""
    task_code, task_name = TASKS[n % len(TASKS)]
    level = Level((5, 5, 4, 5, 3, 4, 5, 2, 5, 1)[n % 10])
    batch = (f"DR{n:08d}", f"DR{n:08d}B", f"DR{n:08d}C") if n % 17 == 0 else None
    identity = (
        {"userName": "刘芳", "certType": "111", "certKey": f"ck{n:012d}"} if n % 33 == 0 else {}
    )
    case = Case(
        project_no=f"DR{n:08d}",
        task_code=task_code,
        task_name=task_name,
        pro_status=2 if n % 11 == 0 else 3,
        pro_manager_no=f"{n % 40:04d}",
        pro_manager="王敏",
        batch_project_nos=batch,
        user_prop=1 if identity else None,
        identity=identity,
        indicators=n % 13 == 0,
    )
    press = Press(
        level,
        "keypad" if n % 4 else "touch",
        900 + n % 4000,
        start + timedelta(seconds=n * 7),
        n % 97 != 0,
        eval_detail=TAGS[int(level)] if level.is_bad or n % 3 == 0 else (),
        writing="窗口人员态度不好，等候时间太长" if level == Level.VERY_DISSATISFIED else None,
        indicators={"business": int(level), "service": int(level)} if n % 13 == 0 else None,
    )
    return record_body(str(uuid.uuid4()), case, site, press)


def site_of(config: Config) -> Site:
    return Site(
        config.province.device_id,
        config.site.pf,
        config.site.area_code,
        config.site.dept_code,
        config.site.hall_code,
        config.site.window_no,
        config.site.terminal_no,
    )


def build_backlog(cache: Path, count: int) -> None:
    """Enrol a device at a province in its own process, then append *count* ratings."""
    from provisioning.setup_device import SiteAnswers, provision  # noqa: PLC0415

    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    province, url = start_province(cache / "province.db", cache / "province-build.log", TOKEN)
    try:
        config = provision(
            config_path=cache / "device.toml",
            state_dir=cache / "state",
            province_url=url,
            token=TOKEN,
            site=SiteAnswers(area_code=AREA, dept_code=DEPT, hall_code="YC-HALL-01", window_no="7"),
            serial="DRAIN-BENCH",
        )
    finally:
        stop(province)
    append_backlog(cache, config, count)


def build_gm_backlog(cache: Path, count: int) -> None:
    """Register a device at a 国密 province in its own process, then append *count* ratings."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # stdout is the one JSON line
    from provisioning.gm_enroll import GmIssued, provision_gm  # noqa: PLC0415
    from provisioning.setup_device import SiteAnswers  # noqa: PLC0415
    from simulator.province.store import ProvinceStore  # noqa: PLC0415

    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    store = ProvinceStore(cache / "province.db")
    try:
        app_key, app_secret = store.issue_app(time.time())
        province_key = store.gm_province_key(time.time()).public_hex
    finally:
        store.close()
    province, url = start_province(
        cache / "province.db", cache / "province-build.log", dialect="gm-soap"
    )
    try:
        config = provision_gm(
            config_path=cache / "device.toml",
            state_dir=cache / "state",
            issued=GmIssued(
                gateway_of(url), url, app_key, app_secret, province_key, "GM-DRAIN-0001"
            ),
            site=SiteAnswers(area_code=AREA, dept_code=DEPT, hall_code="YC-HALL-01", window_no="7"),
        )
    finally:
        stop(province)
    append_backlog(cache, config, count)


def gateway_of(api_url: str) -> str:
    """The stand-in's 国密 token gateway beside its API (`--dialect gm-soap`)."""
    from simulator.province.gm.service import GATEWAY_PATH  # noqa: PLC0415

    return api_url.rsplit("/api/", 1)[0] + GATEWAY_PATH


def append_backlog(cache: Path, config: Config, count: int) -> None:
    key = DeviceKey.load(config.key_path)
    vault = IdentityVault.load(config.identity_key_path)
    site = site_of(config)
    start = datetime.now(UTC) - timedelta(days=30)
    began = time.monotonic()
    with Ledger(config.ledger_path, auto_checkpoint=False) as ledger:
        for n in range(count):
            ledger.append(rating_body(n, site, start), key, vault)
            if (n + 1) % 1000 == 0:
                ledger.checkpoint()
            if (n + 1) % 10000 == 0 or n + 1 == count:
                say(f"backlog {n + 1}/{count} appended ({time.monotonic() - began:.0f} s)")
        ledger.checkpoint()
    (cache / "ready").write_text(json.dumps({"ratings": count, "version": CACHE_VERSION}))


def cached_backlog(count: int, adapter: str = "province-v1") -> Path:
    tail = "" if adapter == "province-v1" else f"-{adapter}"
    cache = Path(tempfile.gettempdir()) / f"haochaping-drain-v{CACHE_VERSION}-{count}{tail}"
    if not (cache / "ready").exists():
        say(f"building a {adapter} backlog of {count} ratings in {cache} (not timed; once)")
        if adapter == "gm-soap":
            build_gm_backlog(cache, count)
        else:
            build_backlog(cache, count)
    return cache


# --- the processes ------------------------------------------------------------------------


def start_province(
    db: Path, log: Path, token: str | None = None, dialect: str = "json"
) -> tuple[subprocess.Popen, str]:
    """`python -m simulator.province serve` on a free port; returns it and its API URL."""
    args = [sys.executable, "-m", "simulator.province", "serve", "--db", str(db)]
    args += ["--port", "0", "--log-level", "WARNING", "--dialect", dialect]
    if token:
        args += ["--token", token]
    with log.open("ab") as errors:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, text=True
        )
    assert process.stdout is not None
    for line in process.stdout:
        found = READY.search(line)
        if found:
            return process, found.group(1)
    process.wait()
    raise RuntimeError(f"the province did not start (exit {process.returncode}); see {log}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class SyncRun:
    seconds: float
    status: int
    peak_rss_mb: float  # VmHWM of the sync process, MiB
    cpu_s: float  # user + system


class PeakRss:
    """Polls a process's VmHWM (its own high-water mark, reset by exec). ru_maxrss from
    wait4 would not do: Linux charges a child with the parent's RSS at fork time too."""

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._done.wait(self.interval_s):
            try:
                lines = status.read_text().splitlines()
            except OSError:
                return
            for line in lines:
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.kib / 1024


def run_sync(config_path: Path, log: Path, timeout_s: float) -> SyncRun:
    """`python -m sync -v once`, timed from start to exit."""
    args = [sys.executable, "-m", "sync", "-v", "once", "--config", str(config_path)]
    args += ["--timeout", str(timeout_s)]
    with log.open("wb") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=errors, stderr=errors, stdin=subprocess.DEVNULL)
        peak = PeakRss(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return SyncRun(elapsed, process.returncode, peak.stop(), usage.ru_utime + usage.ru_stime)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads) and of its running
    child processes (the province's verifying processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (every core, every process)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICKS


# --- one run ------------------------------------------------------------------------------


def check_delivered(run: Path, config: Config, count: int) -> None:
    """Every rating of the ledger at the province exactly once, nothing left on the device."""
    with Ledger(config.ledger_path) as ledger:
        backlog, quarantined = ledger.backlog(), ledger.quarantined()
        ids = {row[0] for row in ledger.conn.execute("SELECT evaluation_id FROM ratings")}
        identities = ledger.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0]
    province = sqlite3.connect(f"file:{run / 'province.db'}?mode=ro", uri=True)
    try:
        held = [row[0] for row in province.execute("SELECT evaluation_id FROM evaluations")]
        flags = province.execute("SELECT count(*) FROM audit_flags").fetchone()[0]
    finally:
        province.close()
    problems = []
    if backlog or quarantined:
        problems.append(f"ledger backlog {backlog}, quarantined {quarantined}")
    if identities:
        problems.append(f"{identities} personal data rows left after delivery")
    if len(ids) != count or len(held) != count or set(held) != ids:
        problems.append(
            f"province holds {len(held)} ids ({len(set(held))} distinct), "
            f"the ledger {len(ids)}, expected {count}"
        )
    if flags:
        problems.append(f"the province raised {flags} audit flags on the chain")
    if problems:
        raise SystemExit("drain: FAILED: " + "; ".join(problems))


def run_once(cache: Path, run: Path, count: int, timeout_s: float) -> dict[str, Any]:
    shutil.copy2(cache / "province.db", run / "province.db")
    shutil.copytree(cache / "state", run / "state")
    cached = load(cache / "device.toml")
    dialect = "gm-soap" if cached.sync.adapter == "gm-soap" else "json"
    province, url = start_province(run / "province.db", run / "province.log", dialect=dialect)
    try:
        config = dataclasses.replace(
            cached,
            device=dataclasses.replace(cached.device, state_dir=str(run / "state")),
            province=dataclasses.replace(cached.province, base_url=url),
        )
        if dialect == "gm-soap":
            config = dataclasses.replace(
                config, gm=dataclasses.replace(config.gm, gateway_url=gateway_of(url))
            )
        save(config, run / "device.toml")
        province_before, busy_before = process_cpu_s(province.pid), machine_busy_s()
        sync = run_sync(run / "device.toml", run / "sync.log", timeout_s)
        province_cpu = process_cpu_s(province.pid) - province_before
        busy = machine_busy_s() - busy_before
    finally:
        stop(province)
    log = (run / "sync.log").read_text(encoding="utf-8", errors="replace")
    if sync.status != 0:
        raise SystemExit(f"drain: FAILED: sync exited {sync.status}:\n{log[-2000:]}")
    check_delivered(run, load(run / "device.toml"), count)
    trips = [float(m) for m in ROUND_TRIP.findall(log)]
    return {
        "seconds": sync.seconds,
        "ratings_per_s": count / sync.seconds,
        "sync_peak_rss_mb": sync.peak_rss_mb,
        "batches": len(trips),
        "batch_rtt_p50_ms": percentile(trips, 50) if trips else None,
        "batch_rtt_p99_ms": percentile(trips, 99) if trips else None,
        "sync_cpu_s": sync.cpu_s,
        "province_cpu_s": province_cpu,
        "others_cpu_s": max(0.0, busy - sync.cpu_s - province_cpu),  # the machine is shared
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=100_000, help="backlog size")
    parser.add_argument("--runs", type=int, default=1, help="runs; the median run is reported")
    parser.add_argument("--timeout", type=float, default=900.0, help="sync --timeout seconds")
    parser.add_argument("--keep", type=Path, help="keep each run's files in this directory")
    parser.add_argument(
        "--adapter",
        choices=["province-v1", "gm-soap"],
        default="province-v1",
        help="gm-soap: drain to a 国密 province, beside the default adapter in the same run",
    )
    args = parser.parse_args(argv)
    adapters = ["province-v1"] + (["gm-soap"] if args.adapter == "gm-soap" else [])
    figures = {a: drain(a, args) for a in adapters}
    line = summary(args.ratings, figures[args.adapter], args.adapter)
    if args.adapter != "province-v1":
        beside = summary(args.ratings, figures["province-v1"], "province-v1")
        line["default_adapter"] = {k: v for k, v in beside.items() if k != "machine"}
    print(json.dumps(line, ensure_ascii=False))


def drain(adapter: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every run of one adapter's backlog."""
    cache = cached_backlog(args.ratings, adapter)
    runs = []
    for number in range(args.runs):
        if args.keep:
            run = args.keep / (
                f"run{number + 1}" + ("" if adapter == "province-v1" else f"-{adapter}")
            )
            if run.exists():
                shutil.rmtree(run)
            run.mkdir(parents=True)
            runs.append(run_once(cache, run, args.ratings, args.timeout))
        else:
            with tempfile.TemporaryDirectory(prefix="drain-") as tmp:
                runs.append(run_once(cache, Path(tmp), args.ratings, args.timeout))
        say(
            f"{adapter} run {number + 1}: {runs[-1]['ratings_per_s']:.0f} ratings/s, "
            f"sync peak RSS {runs[-1]['sync_peak_rss_mb']:.1f} MiB, "
            f"CPU: sync {runs[-1]['sync_cpu_s']:.1f} s, province {runs[-1]['province_cpu_s']:.1f} s"
            f", other processes {runs[-1]['others_cpu_s']:.1f} s"
        )
    return runs


def summary(count: int, runs: list[dict[str, Any]], adapter: str = "province-v1") -> dict[str, Any]:
    """The median run's figures (by ratings/s), every run's, and whether the targets are met
    (median throughput, worst peak RSS; for gm-soap the memory target only)."""
    median = sorted(runs, key=lambda r: r["ratings_per_s"])[len(runs) // 2]
    worst_rss = max(r["sync_peak_rss_mb"] for r in runs)
    targets = (
        TARGETS if adapter == "province-v1" else {"sync_peak_rss_mb": TARGETS["sync_peak_rss_mb"]}
    )
    fast = median["ratings_per_s"] >= targets.get("ratings_per_s", 0.0)
    return {
        "bench": "drain",
        "adapter": adapter,
        "ratings": count,
        "runs": len(runs),
        **_rounded(median),
        "sync_peak_rss_mb_max": round(worst_rss, 1),
        "all_runs": [_rounded(r) for r in runs],
        "targets": targets,
        "met": fast and worst_rss <= targets["sync_peak_rss_mb"],
        "machine": machine(),
    }


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}


if __name__ == "__main__":
    main()

"""`python -m bench`: run every benchmark, each in its own process, and write docs/figures.md
with the figure, its target, the measured median and p99, the machine and the date.

`python -m bench [--only NAME ...] [--out docs/figures.md]`. The raw JSON line of each
benchmark is kept in the page too. A benchmark that fails is listed as failed, not dropped.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Row = tuple[str, str, str, str, bool | None]  # figure, target, median, p99, met (None: the bench's)


def _ms(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f} ms"


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    rows: Callable[[dict[str, Any]], list[Row]]
    timeout_s: int = 1800


def _commit(r: dict[str, Any]) -> list[Row]:
    return [
        (
            "sign + chain + commit of one rating (synchronous=FULL)",
            "p99 ≤ 2 ms",
            _ms(r["p50_ms"]),
            f"{_ms(r['p99_ms'])} (worst round {_ms(r['p99_ms_worst_round'])})",
            None,
        )
    ]


def _glass(r: dict[str, Any]) -> list[Row]:
    return [
        (
            "keypad frame → flip showing the stored rating",
            "p99 ≤ 20 ms",
            _ms(r["p50_ms"]),
            _ms(r["p99_ms"]),
            None,
        )
    ]


def _voice(r: dict[str, Any]) -> list[Row]:
    on, off = r["voice_on"], r["voice_off"]
    return [
        (
            "keypad frame → flip, voice on (off)",
            "p99 within 2 ms of off",
            f"{_ms(on['p50_ms'])} ({_ms(off['p50_ms'])})",
            f"{_ms(on['p99_ms'])} ({_ms(off['p99_ms'])})",
            r["extra_p99_ms"] <= r["target_extra_p99_ms"],
        ),
        (
            "one prompt started on the main loop",
            "p99 ≤ 1 ms",
            "—",
            _ms(r["say_p99_ms"]),
            r["say_p99_ms"] <= r["target_say_p99_ms"],
        ),
    ]


def _footprint(r: dict[str, Any]) -> list[Row]:
    return [
        (
            "evaluator start → first frame",
            "≤ 1.5 s",
            f"{r['first_frame_s']} s",
            "—",
            r["first_frame_s"] <= r["targets"]["first_frame_s"],
        ),
        (
            "evaluator idle CPU",
            "≤ 1 % of a core",
            f"{r['idle_cpu_percent']} %",
            "—",
            r["idle_cpu_percent"] <= r["targets"]["idle_cpu_percent"],
        ),
        (
            "evaluator peak RSS",
            "≤ 80 MB",
            f"{r['peak_rss_mb']} MB",
            "—",
            r["peak_rss_mb"] <= r["targets"]["peak_rss_mb"],
        ),
    ]


def _drain(r: dict[str, Any]) -> list[Row]:
    rate = r.get("ratings_per_s") or r.get("ratings_per_s_median")
    rss = r.get("sync_peak_rss_mb") or r.get("sync_peak_rss_mb_max")
    return [
        (
            f"drain of a {r['ratings']:,}-rating backlog, every signature verified",
            "≥ 5,000 ratings/s",
            f"{float(rate):,.0f} ratings/s",
            "—",
            float(rate) >= 5000.0,
        ),
        ("sync peak RSS while draining", "≤ 60 MB", f"{rss} MB", "—", float(rss) <= 60.0),
    ]


def _fleet(r: dict[str, Any]) -> list[Row]:
    """One row per outage kind: the busiest second against the mean, counting every request
    at the stand-in; met only when the generator kept up (`kept_up`) and the ratio holds."""
    rows: list[Row] = []
    for run in r.get("runs", []):
        shape = run["per_simulated_second"]
        rows.append(
            (
                f"{r.get('devices', 1000)} devices after a {run['outage']} outage"
                f" (time ×{r.get('time_factor')}): peak / mean requests a second",
                "peak ≤ 3 × mean",
                f"{shape['peak']} / {shape['mean']}",
                f"ratio {shape['ratio']:.2f}" + ("" if run.get("kept_up") else " (lagged)"),
                bool(run.get("met")),
            )
        )
    return rows


def _rate_page(r: dict[str, Any]) -> list[Row]:
    return [
        (
            "web terminal: press on the rating page → the page showing thanks (over HTTP)",
            f"p99 ≤ {r['target_p99_ms']:.0f} ms",
            _ms(r["p50_ms"]),
            _ms(r["p99_ms"]),
            r["p99_ms"] <= r["target_p99_ms"],
        )
    ]


def _chaos(r: dict[str, Any]) -> list[Row]:
    return [
        (
            f"chaos {r['seconds']:.0f} s: acknowledged / delivered / lost / duplicated / spurious",
            "lost = duplicated = spurious = 0",
            f"{r['acknowledged']} / {r['delivered']} / {r['lost']} / {r['duplicated']} / "
            f"{r['spurious']}",
            "—",
            None,
        )
    ]


BENCHES = [
    Bench("commit_latency", (), _commit),
    Bench("key_to_glass", (), _glass),
    Bench("voice_key_to_glass", (), _voice),
    Bench("evaluator_footprint", (), _footprint),
    Bench("drain", (), _drain),
    Bench("fleet_reconnect", (), _fleet, timeout_s=3600),
    Bench("chaos", ("--seconds", "90"), _chaos),
    Bench("rate_page", (), _rate_page),
]


def run(bench: Bench) -> dict[str, Any] | str:
    """The benchmark's JSON line, or why there is none."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{bench.name}", *bench.args],
            capture_output=True,
            text=True,
            timeout=bench.timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {bench.timeout_s} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return f"no figures (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    return json.loads(lines[-1])


def page(results: dict[str, dict[str, Any] | str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.node()}"
    )
    out = [
        "# Measured figures",
        "",
        f"Written by `python -m bench` on {when}; machine: {machine}. The machine is shared",
        "and noisy: figures vary between runs, medians and p99 are quoted as measured.",
        "",
        "| figure | target | median | p99 | met |",
        "|---|---|---|---|---|",
    ]
    for bench in BENCHES:
        if bench.name not in results:
            continue
        result = results[bench.name]
        if isinstance(result, str):
            out.append(f"| {bench.name} | — | **failed**: {result} | — | no |")
            continue
        for a, b, c, d, met in bench.rows(result):
            ok = result.get("met") if met is None else met
            out.append(f"| {a} | {b} | {c} | {d} | {'yes' if ok else '**no**'} |")
    out += ["", "## Raw lines", ""]
    for name, result in results.items():
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        out += [f"- `{name}`: `{text}`"]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=[b.name for b in BENCHES])
    parser.add_argument("--out", type=Path, default=Path("docs/figures.md"))
    parser.add_argument(
        "--from-log", type=Path, help="write the page from the JSON lines of an earlier run"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, Any] | str] = {}
    if args.from_log:
        for line in args.from_log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                results.update(json.loads(line))
        args.out.write_text(page(results), encoding="utf-8")
        return
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        print(f"running {bench.name} …", file=sys.stderr, flush=True)
        results[bench.name] = run(bench)
        print(json.dumps({bench.name: results[bench.name]}, ensure_ascii=False), flush=True)
    args.out.write_text(page(results), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

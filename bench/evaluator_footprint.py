"""The evaluator's footprint as a process: start to first frame, idle CPU, peak memory.

`python -m bench.evaluator_footprint [--idle-seconds 30]`: starts the real evaluator program
headless (SDL dummy driver) with a keypad on a pty, waits for its first frame, rates 20 cases,
then measures CPU while idle; prints one JSON line.
Targets: first frame <= 1.5 s, idle CPU <= 1 % of one core, peak RSS <= 80 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench.stats import machine
from bench.window_config import TOKEN, window_config
from device.daemon.config import save
from simulator import processes
from simulator.hall import free_port
from simulator.local_client import EvaluatorClient
from simulator.virtual_keypad import VirtualKeypad

TARGETS = {"first_frame_s": 1.5, "idle_cpu_percent": 1.0, "peak_rss_mb": 80.0}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def write_config(root: Path, keypad_port: str) -> tuple[Path, int, str]:
    port = free_port()
    save(window_config(root / "state", keypad_port, port), root / "device.toml")
    return root / "device.toml", port, TOKEN


def run(idle_seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        keypad = VirtualKeypad(link_path=root / "keypad")
        keypad.start()
        config_path, port, token = write_config(root, keypad.port)
        client = EvaluatorClient(f"http://127.0.0.1:{port}/api/v1", token)
        started = time.monotonic()
        process = processes.start_module(
            "device",
            ["run", "--config", str(config_path)],
            root / "evaluator.log",
            processes.device_env(True),
        )
        try:
            client.wait_for(lambda s: s["phase"] != "starting", 30, "first frame")
            first_frame = time.monotonic() - started
            client.session.post(
                f"{client.base_url}/staff/sign-in",
                timeout=5,
                json={"proManagerNo": "0421", "proManager": "王敏"},
            )
            client.wait_for(lambda s: s["phase"] == "idle", 10, "staff signed in")
            for n in range(20):
                client.push_case(
                    {"projectNo": f"FP{n:04d}", "taskCode": "T", "taskName": "居民身份证换领"}
                )
                client.wait_for(
                    lambda s, n=n: s["projectNo"] == f"FP{n:04d}" and s["phase"] == "rating",
                    10,
                    "rating page",
                )
                keypad.press(1)
                client.wait_for(lambda s: s["phase"] == "thanks", 10, "stored")
            time.sleep(4)  # the thanks page ends; the device is idle from here on
            before, t0 = cpu_seconds(process.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle = (cpu_seconds(process.pid) - before) / (time.monotonic() - t0) * 100
            rss = peak_rss_mb(process.pid)
        finally:
            processes.stop(process)
            client.close()
            keypad.stop()
    figures = {
        "first_frame_s": round(first_frame, 3),
        "idle_cpu_percent": round(idle, 3),
        "peak_rss_mb": round(rss, 1),
    }
    return {
        "bench": "evaluator_footprint",
        **figures,
        "targets": TARGETS,
        "met": all(figures[k] <= v for k, v in TARGETS.items()),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(run(args.idle_seconds)))


if __name__ == "__main__":
    main()

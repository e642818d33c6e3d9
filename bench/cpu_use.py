"""CPU use of this process, of another one and of everything else on the machine, sampled on
a thread: the mean over a window and the busiest sampling interval, in percent of one core
(this machine may have several; "others" shows whether something else competed).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    wall: float
    own_s: float  # this process's CPU seconds so far
    other_s: float  # the other process's CPU seconds so far (restarts count from 0 again)
    machine_s: float  # busy CPU seconds of the whole machine so far, every core


def machine_busy_seconds() -> float:
    """Every core's busy time since boot, from /proc/stat (all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICKS


class CpuSampler:
    def __init__(
        self, other_cpu_s: Callable[[], float], interval_s: float = 0.5, limit_s: float = 7200.0
    ) -> None:
        self.other_cpu_s = other_cpu_s
        self.interval_s = interval_s
        self.limit_s = limit_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval_s * 4)
        self.sample()

    def sample(self) -> None:
        own, other = time.process_time(), self.other_cpu_s()
        self.samples.append(Sample(time.time(), own, other, machine_busy_seconds()))

    def _run(self) -> None:
        end = time.monotonic() + self.limit_s
        while not self._stop.wait(self.interval_s) and time.monotonic() < end:
            self.sample()

    def usage(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """{"generator"|"standin"|"others": {"mean_percent", "peak_percent"}} over the samples
        from the last one before *start* to the first one after *end*."""
        first = max((i for i, s in enumerate(self.samples) if s.wall <= start), default=0)
        last = min((i for i, s in enumerate(self.samples) if s.wall >= end), default=None)
        steps = list(itertools.pairwise(self.samples[first : None if last is None else last + 1]))
        return {
            "generator": _percent(steps, _own_used),
            "standin": _percent(steps, _other_used),
            "others": _percent(steps, _others_used),
        }


def _own_used(a: Sample, b: Sample) -> float:
    return b.own_s - a.own_s


def _other_used(a: Sample, b: Sample) -> float:
    """A restarted process counts from zero again."""
    return b.other_s - a.other_s if b.other_s >= a.other_s else b.other_s


def _others_used(a: Sample, b: Sample) -> float:
    return max(0.0, (b.machine_s - a.machine_s) - _own_used(a, b) - _other_used(a, b))


def _percent(
    steps: list[tuple[Sample, Sample]], used: Callable[[Sample, Sample], float]
) -> dict[str, float]:
    spans = [(used(a, b), b.wall - a.wall) for a, b in steps if b.wall > a.wall]
    if not spans:
        return {"mean_percent": 0.0, "peak_percent": 0.0}
    total_cpu = sum(cpu for cpu, _ in spans)
    total_wall = sum(wall for _, wall in spans)
    return {
        "mean_percent": round(100 * total_cpu / total_wall, 1),
        "peak_percent": round(max(100 * cpu / wall for cpu, wall in spans), 1),
    }

"""Key press to glass with the voice on and off: does speaking the prompts delay the key path?

The same measurement as `bench.key_to_glass` (a keypad frame on a real pty → the flip showing
the stored rating), in rounds that alternate a fresh evaluator with the shipped prompts and
one with `[voice] enabled = false`, so both see the same machine. Also timed: each `say()`
on the main loop (it only hands a loaded sound to a mixer channel; SDL mixes on its own
thread). Run headless the mixer uses SDL's dummy audio driver, which still mixes in real time.

`python -m bench.voice_key_to_glass [--presses N] [--rounds R]`; prints one JSON line.
Target: voice on p99 within 2 ms of voice off, and each say() p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from bench.key_to_glass import FlipClock, _step_until
from bench.stats import machine, percentile
from bench.window_config import window_config
from device.daemon.config import VoiceSection
from device.evaluator.app import Evaluator
from device.record.rating import Case, Staff
from simulator.virtual_keypad import VirtualKeypad

TARGET_EXTRA_P99_MS = 2.0
TARGET_SAY_P99_MS = 1.0


@dataclasses.dataclass
class Round:
    glass_ms: list[float] = dataclasses.field(default_factory=list)
    say_ms: list[float] = dataclasses.field(default_factory=list)
    heard: int = 0  # presses after which a prompt was playing


def _timed(say: Callable[[str], None], into: list[float]) -> Callable[[str], None]:
    def timed(name: str) -> None:
        start = time.perf_counter()
        say(name)
        into.append((time.perf_counter() - start) * 1000)

    return timed


def one_round(voice_on: bool, presses: int, first: int) -> Round:
    result = Round()
    with tempfile.TemporaryDirectory() as tmp:
        keypad = VirtualKeypad(link_path=Path(tmp) / "keypad")
        keypad.start()
        config = window_config(Path(tmp) / "state", keypad.port)
        config = dataclasses.replace(config, voice=VoiceSection(enabled=voice_on))
        evaluator = Evaluator(config)
        evaluator.open()
        voice = evaluator.loop.voice
        assert voice is not None
        assert voice.active is voice_on
        voice.say = _timed(voice.say, result.say_ms)  # type: ignore[method-assign]
        inbox = evaluator.inbox
        try:
            with FlipClock() as flips:
                _step_until(evaluator, lambda: inbox.status()["keypadConnected"] is True)
                inbox.sign_in(Staff("0421", "王敏"))
                for n in range(first, first + presses):
                    project_no = f"BENCH{n:06d}"
                    inbox.push_case(Case(project_no, "T", "居民身份证换领"))
                    _step_until(
                        evaluator,
                        lambda p=project_no: (
                            inbox.status()["projectNo"] == p and inbox.status()["phase"] == "rating"
                        ),
                    )
                    seq = inbox.status()["lastSeq"]
                    start = time.perf_counter()
                    keypad.press(1 + n % 3)
                    _step_until(
                        evaluator,
                        lambda seq=seq: (
                            inbox.status()["lastSeq"] > seq and inbox.status()["phase"] == "thanks"
                        ),
                    )
                    result.glass_ms.append((flips.last - start) * 1000)
                    result.heard += voice.playing is not None
        finally:
            evaluator.close()
            keypad.stop()
    return result


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=600, help="per setting, in all rounds")
    parser.add_argument("--rounds", type=int, default=6, help="per setting")
    args = parser.parse_args(argv)
    per_round = max(1, args.presses // args.rounds)
    on, off = Round(), Round()
    for number in range(args.rounds):
        for voice_on, total in ((True, on), (False, off)):
            done = one_round(voice_on, per_round, number * per_round)
            total.glass_ms += done.glass_ms
            total.say_ms += done.say_ms
            total.heard += done.heard
    extra = percentile(on.glass_ms, 99) - percentile(off.glass_ms, 99)
    say_p99 = percentile(on.say_ms, 99)
    print(
        json.dumps(
            {
                "bench": "voice_key_to_glass",
                "presses": len(on.glass_ms),
                "rounds": args.rounds,
                "voice_on": {**_figures(on.glass_ms), "prompts_heard": on.heard},
                "voice_off": {**_figures(off.glass_ms), "prompts_heard": off.heard},
                "extra_p99_ms": round(extra, 3),
                "say_calls": len(on.say_ms),
                "say_p99_ms": round(say_p99, 4),
                "target_extra_p99_ms": TARGET_EXTRA_P99_MS,
                "target_say_p99_ms": TARGET_SAY_P99_MS,
                "met": extra <= TARGET_EXTRA_P99_MS and say_p99 <= TARGET_SAY_P99_MS,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()

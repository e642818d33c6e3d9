"""The scripted demo: the `demo` scenario (one window, three cases, three key presses, one
case rated later on a phone) on a simulated hall, ending with how many ratings the province
verified and accepted.

Everything real: pty keypad, evaluator and sync processes, HTTP on 127.0.0.1, SQLite files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from simulator.hall import Hall
from simulator.province.phone_rating import FIRST_RATING
from simulator.scenario import Runner, Scenario, Tally, load, parse


def demo_scenario() -> Scenario:
    text = resources.files("simulator").joinpath("scenarios/demo.toml").read_text("utf-8")
    return parse(text)


def run_scenario(
    scenario: Scenario, workdir: Path | None, headless: bool, say: Callable[[str], None] = print
) -> tuple[Tally, int]:
    """Run *scenario* on a fresh hall; returns the tally and how many of the ratings (stored on
    a device, or made on a phone) the province holds."""
    with tempfile.TemporaryDirectory(prefix="haochaping-sim-") as tmp:
        root = workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        with Hall(root, scenario.windows, headless=headless) as hall:
            say(
                f"province: stand-in listening on {hall.province.url} "
                f"(officer's page {hall.province.root_url}/)"
            )
            for window in hall.windows:
                assert window.config is not None
                say(
                    f"window {window.window_no}: enrolled as {window.config.province.device_id}, "
                    f"keypad on {window.keypad.port}"
                )
            tally = Runner(hall.windows, hall.province, say).run(scenario)
            for window in hall.windows:
                shots = sorted((window.workdir / "screens").glob("*.png"))
                if shots:
                    say(
                        f"window {window.window_no}: {len(shots)} screenshots in "
                        f"{window.workdir / 'screens'}"
                    )
            held = set(hall.province.store.evaluation_ids())
            accepted = sum(1 for eid in tally.stored.values() if eid in held)
            accepted += sum(
                1 for p in tally.rated_later if hall.province.store.is_rated(p, FIRST_RATING)
            )
        say("stopped: " + ", ".join(f"{k} exit {v}" for k, v in hall.stop_codes.items()))
    return tally, accepted


def run_demo(workdir: Path | None, headless: bool, say: Callable[[str], None] = print) -> bool:
    """Run the demo; True only when the province verified and accepted every rating."""
    tally, accepted = run_scenario(demo_scenario(), workdir, headless, say)
    later = len(tally.rated_later)
    say(
        f"demo: {len(tally.stored)} rated, {later} rated later on a phone, "
        f"{accepted} accepted by province"
    )
    return accepted == len(tally.stored) + later and len(tally.stored) == len(tally.pressed) > 0


def run_file(
    path: Path, workdir: Path | None, headless: bool, say: Callable[[str], None] = print
) -> bool:
    scenario = load(path)
    tally, accepted = run_scenario(scenario, workdir, headless, say)
    say(
        f"{scenario.name}: {len(tally.pressed)} pressed, {len(tally.stored)} stored, "
        f"{accepted} accepted by province"
    )
    return accepted == len(tally.stored) + len(tally.rated_later)

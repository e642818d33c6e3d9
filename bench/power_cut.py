"""Power cuts of the appliance in QEMU: the image booted with a keypad and the stand-in
province, its power cut (SIGKILL of QEMU) at random moments around key presses, during
delivery, during provisioning and during key rotation, booted again each time, and counted.

    python -m bench.power_cut --cuts N [--seed S] [--image DIR] [--workdir DIR]

Each cut: a phase is drawn, the device is driven into it, QEMU is killed after a random
delay, and the device is booted again. After every boot the bench sees whether the device
came up in service (the evaluator took a case) or says why not, reads the ledger in the
guest (`haochaping-evaluator verify-ledger` and the ratings it holds) and, after a cut
rotation or provisioning, runs the technician's command again as the field guide says.
The books (`bench/cut_accounting.py`) give presses, acknowledged (the keypad's confirmation
beep; the bench sets `private_press = false`, so the evaluator beeps only once a rating is
committed and thanked), in the ledger after boot, delivered, lost, duplicated, spurious,
boots in service or saying why, ledgers verified. One JSON line at the end; exit status 0
(`met`) when at least 30 cuts were done without a step of the bench failing, lost =
duplicated = spurious = 0, every boot served or said why and every ledger verified.
Phases are drawn 4:3:2:1 (press, delivery, rotation, provisioning) unless `--phases` names
some. Needs root and QEMU (as `./dev image` does); not part of `python -m bench` nor of the
test suite.

Why `cache=none` (aio=threads) on the virtual disk: QEMU then opens the image with O_DIRECT
and shows the guest a disk with a volatile write cache, so the guest's kernel sends a flush
for every fsync and QEMU turns it into an fdatasync of the image. Killing QEMU throws away
what a power cut throws away: the guest's RAM (its page cache, dirty buffers, everything
not yet submitted), QEMU's requests in flight and qcow2's metadata not yet written (writes
to newly allocated clusters the guest never flushed become unreachable). What the guest
flushed is in the image file. `cache=writeback` would keep completed writes in the host's
page cache, which a QEMU kill does not drop; `cache=unsafe` ignores the guest's flushes, so
even flushed data could be lost should the host go down, which is not the disk a device
has; `cache=directsync` makes every write synchronous, so the guest never has a cache to
flush and the order of its flushes is never put to the test. What this does not model: a
card that tears a sector or lies about flushes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shlex
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import requests

from bench.cut_accounting import Boot, BootOutcome, HeldRating, Observations, count
from simulator.appliance.console import ConsoleTimeoutError, GuestCommandError
from simulator.appliance.image import Image, build_image
from simulator.appliance.machine import Appliance, Wiring
from simulator.appliance.standin import StandIn, running_standin
from simulator.appliance.vm_test import CA_IN_GUEST, init_argv
from simulator.local_client import EvaluatorClient
from simulator.screenshot import SAMPLE_STAFF
from simulator.virtual_keypad import VirtualKeypad

DISK_CACHE = "cache=none,aio=threads"  # see the module's docstring
CONFIG = "/etc/haochaping/device.toml"
PYTHON = "/opt/haochaping/venv/bin/python"
TASK = {"taskCode": "11640100MB1234567X3000111444000", "taskName": "个体工商户设立登记"}
BEST_KEY = 1  # 非常满意 with the default key levels: stored at once, no reasons page
BOOT_TIMEOUT_S = 300
SERVICE_TIMEOUT_S = 240
STEP_TIMEOUT_S = 90
PRESS_WINDOW_S = 0.3  # press to confirmation took 0.1-0.3 s under TCG
CONFIRMATION_DRAIN_S = 0.3  # the keypad's reader takes what reached the pty before the cut


class Phase(Enum):
    PRESS = "around a key press"
    DELIVERY = "during delivery"
    PROVISIONING = "during provisioning"
    ROTATION = "during key rotation"


PHASE_NAMES = {
    "press": Phase.PRESS,
    "delivery": Phase.DELIVERY,
    "provisioning": Phase.PROVISIONING,
    "rotation": Phase.ROTATION,
}
PHASE_WEIGHTS = {Phase.PRESS: 4, Phase.DELIVERY: 3, Phase.ROTATION: 2, Phase.PROVISIONING: 1}


def serving(status: dict[str, Any]) -> bool:
    """The evaluator drew its first frame and has its keypad."""
    return status.get("phase") not in (None, "starting") and status.get("keypadConnected") is True


class BenchError(RuntimeError):
    """The bench itself could not go on (not a finding about the device)."""


class PowerCutAppliance(Appliance):
    """The harness's appliance with the disk cache mode a power cut needs."""

    def command_line(self) -> list[str]:
        args = super().command_line()
        drives = [i for i, arg in enumerate(args) if arg.startswith(f"file={self.disk},")]
        if len(drives) != 1 or "cache=" not in args[drives[0]]:
            raise BenchError(f"cannot find the disk's cache option in {args}")
        args[drives[0]] = re.sub(r"cache=\w+", DISK_CACHE, args[drives[0]])
        return args


# -- what is run in the guest ---------------------------------------------------------------

READ_LEDGER = f"""runuser -u haochaping -- {PYTHON} - <<'PY'
import json
from pathlib import Path
from device.daemon.config import load
from device.ledger.counts import read_ratings
config = load(Path("{CONFIG}"))
path = config.ledger_path
ratings = read_ratings(path) if path.exists() else []
print(json.dumps({{
    "device_id": config.province.device_id,
    "enrolled_key_id": config.province.enrolled_key_id,
    "province_key": config.province.province_key,
    "ledger": str(path),
    "exists": path.exists(),
    "ratings": [[r.evaluation_id, r.project_no, r.assess_number] for r in ratings],
}}))
PY"""

SET_UP_FOR_BENCH = f"""{PYTHON} - <<'PY'
import dataclasses
from pathlib import Path
from device.daemon.config import load, save
path = Path("{CONFIG}")
config = load(path)
config = dataclasses.replace(
    config,
    local_api=dataclasses.replace(config.local_api, bind="0.0.0.0"),
    display=dataclasses.replace(config.display, private_press=False),
)
save(config, path)
PY
chown root:haochaping {CONFIG} {CONFIG}.bak && chmod 640 {CONFIG} {CONFIG}.bak && sync"""


class Bench:
    """One run: the stand-in, the keypad, the current device and the books."""

    def __init__(self, image: Image, workdir: Path, standin: StandIn, seed: int) -> None:
        self.image = image
        self.workdir = workdir
        self.standin = standin
        self.rng = random.Random(seed)
        self.keypad = VirtualKeypad()
        self.keypad.start()
        self.seen = Observations()
        self.devices = 0
        self.appliance = self._new_appliance()
        self.cases = 0
        self.seconds: dict[str, list[float]] = {}
        self.phases: Counter[str] = Counter()
        self.notes: list[str] = []
        self.rotations_finished = 0
        self.provisionings_finished = 0
        self.client: EvaluatorClient | None = None

    # -- time ---------------------------------------------------------------------------

    def timed(self, name: str, started: float) -> None:
        self.seconds.setdefault(name, []).append(round(time.monotonic() - started, 1))

    # -- the device ---------------------------------------------------------------------

    def _new_appliance(self) -> PowerCutAppliance:
        """A device with a blank data partition (a new card), not yet booted."""
        self.devices += 1
        wiring = Wiring(self.keypad.port, self.standin.port, free_port())
        return PowerCutAppliance(self.image, self.workdir / f"device{self.devices}", wiring)

    def run(self, script: str, timeout_s: float = STEP_TIMEOUT_S, check: bool = True) -> str:
        return self.appliance.console.run(script, timeout_s=timeout_s, check=check).output

    def boot(self) -> None:
        started = time.monotonic()
        self.appliance.boot()
        self.appliance.console.wait_ready(BOOT_TIMEOUT_S)
        self.timed("boot_to_console", started)

    def cut(self) -> None:
        self.appliance.power_cut()

    def _exit_ok(self, script: str) -> bool:
        return self.appliance.console.run(script, timeout_s=30, check=False).exit_code == 0

    def init_command(self) -> str:
        token = f"cut-{self.devices}-{self.rng.randrange(10**9)}"
        self.standin.store.add_token(token, 3600, now=time.time())
        return shlex.join(init_argv(self.standin.guest_url, token))

    def trust_standin(self) -> None:
        ca = self.standin.ca_pem.decode()
        self.run(f"install -m 0644 /dev/stdin {CA_IN_GUEST} <<'PEM'\n{ca}PEM\nsync")

    def provision(self) -> None:
        """The technician's init (again, after a cut one), then the bench's settings."""
        started = time.monotonic()
        self.trust_standin()
        init_started = time.monotonic()
        self.run(self.init_command(), timeout_s=300)
        self.timed("init_command", init_started)  # the cuts during provisioning fall in this
        self.run(SET_UP_FOR_BENCH)
        self.run("systemctl restart haochaping-evaluator haochaping-sync", timeout_s=180)
        self.timed("provision", started)

    # -- after a boot -------------------------------------------------------------------

    def connect(self) -> EvaluatorClient:
        """A client of the device's local API, as the business system has it (token and
        pinned certificate from the device), the staff member signed in."""
        client = self.client_for_device()
        client.wait_for(
            serving,
            SERVICE_TIMEOUT_S,
            "first frame with the keypad connected",
        )
        client.sign_in(SAMPLE_STAFF.number, SAMPLE_STAFF.name)
        return client

    def client_for_device(self) -> EvaluatorClient:
        show = self.run("haochaping-provision show")
        pin = re.search(r"certificate:\s+SHA-256 ([0-9A-Fa-f:]+)", show)
        token = re.search(r'^token = "(.*)"$', self.run(f"cat {CONFIG}"), re.MULTILINE)
        if pin is None or token is None:
            raise BenchError(f"no certificate or token on the device:\n{show}")
        port = self.appliance.wiring.local_api_port
        return EvaluatorClient(f"https://127.0.0.1:{port}/api/v1", token.group(1), pin=pin.group(1))

    def why_not_in_service(self) -> str:
        """What the device says about its evaluator when it is not serving: the unit's
        state and the last error it logged; "" when it says nothing."""
        state = self.run(
            "systemctl show -p ActiveState -p ConditionResult -p Result haochaping-evaluator",
            check=False,
        )
        if "ConditionResult=no" in state:
            return f"evaluator not started: no configuration {CONFIG} (provisioning unfinished)"
        errors = self.run(
            "journalctl -b -u haochaping-evaluator -p err --no-pager -q -o cat | tail -n 3",
            check=False,
        ).strip()
        return errors.splitlines()[-1] if errors else ""

    def assess_boot(self) -> EvaluatorClient | None:
        """In service (a client to drive it, staff signed in), or not (the reason the
        device gives recorded); None then."""
        started = time.monotonic()
        try:
            client = self.client_for_device()
            status = client.wait_for(
                lambda s: s.get("phase") not in (None, "starting"),
                SERVICE_TIMEOUT_S,
                "first frame",
            )
            if status.get("outOfService"):
                reason = f"out of service on screen: {status['outOfService']}"
                self.seen.booted(Boot(BootOutcome.NOT_IN_SERVICE_WITH_REASON, reason))
                return None
            try:
                client.wait_for(serving, STEP_TIMEOUT_S, "keypad connected")
            except TimeoutError:
                reason = "keypad not connected (the screen tells the staff)"
                self.seen.booted(Boot(BootOutcome.NOT_IN_SERVICE_WITH_REASON, reason))
                return None
            client.sign_in(SAMPLE_STAFF.number, SAMPLE_STAFF.name)
        except (TimeoutError, RuntimeError, requests.RequestException) as error:
            reason = self.why_not_in_service()
            outcome = BootOutcome.NOT_IN_SERVICE_WITH_REASON if reason else BootOutcome.SILENT
            self.seen.booted(Boot(outcome, reason or str(error)[:200]))
            return None
        self.timed("boot_to_service", started)
        self.seen.booted(Boot(BootOutcome.IN_SERVICE))
        return client

    def read_ledger(self) -> None:
        """The ledger as the guest has it after the boot, and whether it verifies."""
        if not self._exit_ok(f"test -e {CONFIG}"):
            return  # nothing signed without a configuration
        facts = json.loads(self.run(READ_LEDGER).strip().splitlines()[-1])
        if not facts["exists"]:
            return
        device = facts["device_id"]
        held = [HeldRating(eid, (no, n), device) for eid, no, n in facts["ratings"]]
        verify = ["haochaping-evaluator", "verify-ledger", facts["ledger"]]
        if facts["enrolled_key_id"]:
            verify += ["--expect-key-id", facts["enrolled_key_id"]]
        if facts["province_key"]:
            verify += ["--province-key", facts["province_key"]]
        result = self.appliance.console.run(
            "runuser -u haochaping -- " + shlex.join(verify), timeout_s=STEP_TIMEOUT_S, check=False
        )
        finding = "" if result.exit_code == 0 else result.output.strip()[-300:]
        self.seen.ledger_read(device, held, result.exit_code == 0, finding)

    # -- ratings --------------------------------------------------------------------------

    def next_case(self) -> dict[str, Any]:
        self.cases += 1
        return {"projectNo": f"HD20261201{self.cases:06d}", **TASK}

    def rate(self, client: EvaluatorClient, cut_after_s: float | None = None) -> bool:
        """Push a case, press when the rating page is up; with *cut_after_s*, cut the power
        that long after the press. Whether the rater got the confirmation."""
        case = self.next_case()
        client.push_case(case)
        client.wait_for(
            lambda s: s.get("phase") == "rating" and s.get("projectNo") == case["projectNo"],
            STEP_TIMEOUT_S,
            f"rating page for {case['projectNo']}",
        )
        beeps = len(self.keypad.beeps)
        key = (case["projectNo"], 1)
        self.seen.pressed(key)
        pressed_at = time.monotonic()
        self.keypad.press(BEST_KEY)
        deadline = pressed_at + (cut_after_s if cut_after_s is not None else STEP_TIMEOUT_S)
        while time.monotonic() < deadline and len(self.keypad.beeps) == beeps:
            time.sleep(0.005)
        if cut_after_s is not None:
            time.sleep(max(0.0, deadline - time.monotonic()))
            self.cut()
            time.sleep(CONFIRMATION_DRAIN_S)  # a beep the guest sent may still be in the pty
        confirmed = len(self.keypad.beeps) > beeps  # sent before the power went
        if confirmed:
            self.seen.confirmed(key)
            if cut_after_s is None:
                self.timed("press_to_confirmation", pressed_at)
        elif cut_after_s is None:
            raise BenchError(f"no confirmation for {case['projectNo']} in {STEP_TIMEOUT_S} s")
        if cut_after_s is None:  # let the thanks page go before the next case
            client.wait_for(lambda s: s.get("phase") != "thanks", STEP_TIMEOUT_S, "thanks over")
        return confirmed

    # -- the phases -------------------------------------------------------------------------

    def cut_around_press(self, client: EvaluatorClient) -> None:
        """One rating, then a press with the power cut after it: half the time within the
        first PRESS_WINDOW_S (the commit and the confirmation happen there), otherwise
        later, while the thanks page is up."""
        self.rate(client)
        if self.rng.random() < 0.5:
            delay = self.rng.uniform(0.0, PRESS_WINDOW_S)
        else:
            delay = self.rng.uniform(PRESS_WINDOW_S, 1.5)
        self.rate(client, cut_after_s=delay)

    def cut_during_delivery(self, client: EvaluatorClient) -> None:
        for _ in range(self.rng.randint(2, 4)):
            self.rate(client)
        time.sleep(self.rng.uniform(0.0, 4.0))  # the sync sends what was just stored
        self.cut()

    def cut_during_rotation(self) -> None:
        self.run("systemd-run --unit=bench-rotate --collect haochaping-provision rotate-key")
        time.sleep(self.rng.uniform(0.0, self.typical("rotate", 8.0)))
        self.cut()

    def finish_rotation(self) -> None:
        """What the technician does after a rotation was cut: run it again."""
        started = time.monotonic()
        self.run("haochaping-provision rotate-key", timeout_s=180)
        self.rotations_finished += 1
        self.timed("rotate", started)

    def cut_during_provisioning(self) -> None:
        """A new card in a new box (the old one is off): boot it, start init, cut."""
        self.appliance = self._new_appliance()
        self.boot()
        self.trust_standin()
        self.run(f"systemd-run --unit=bench-init --collect {self.init_command()}")
        time.sleep(self.rng.uniform(0.0, self.typical("init_command", 20.0)))
        self.cut()

    def typical(self, name: str, default: float) -> float:
        times = self.seconds.get(name)
        return statistics.median(times) if times else default

    def one_cut(self, phase: Phase) -> None:
        self.phases[phase.value] += 1
        client, self.client = self.client, None
        if phase is Phase.PROVISIONING:
            self.cut()
            self.cut_during_provisioning()
        elif phase is Phase.ROTATION:
            self.cut_during_rotation()
        elif client is None:
            self.notes.append(f"{phase.value}: device not in service before the cut")
            self.cut()
        elif phase is Phase.PRESS:
            self.cut_around_press(client)
        else:
            self.cut_during_delivery(client)
        if client is not None:
            client.close()
        self.boot()
        self.after_cut(phase)

    def after_cut(self, phase: Phase) -> None:
        """The boot assessed (in service, or why not), the ledger read, and the technician's
        command run again if it was the one cut."""
        if self._exit_ok(f"test -e {CONFIG}"):
            if phase is Phase.PROVISIONING and not self._exit_ok(f"grep -q 0.0.0.0 {CONFIG}"):
                # init finished before the cut: the bench's settings, as after any init
                self.run(SET_UP_FOR_BENCH)
                self.run("systemctl restart haochaping-evaluator haochaping-sync", timeout_s=180)
            self.client = self.assess_boot()
        else:
            reason = self.why_not_in_service()
            outcome = BootOutcome.NOT_IN_SERVICE_WITH_REASON if reason else BootOutcome.SILENT
            self.seen.booted(Boot(outcome, reason))
            self.provision()
            self.provisionings_finished += 1
            self.client = self.connect()
        self.read_ledger()
        if phase is Phase.ROTATION:
            self.finish_rotation()  # it restarts the services: staff sign in again
            if self.client is not None:
                self.client.close()
                self.client = self.reconnect()

    def reconnect(self) -> EvaluatorClient | None:
        try:
            return self.connect()
        except (TimeoutError, RuntimeError, requests.RequestException) as error:
            self.notes.append(f"not in service after a restart: {str(error)[:200]}")
            return None

    def recover(self) -> None:
        """After a step that failed: power off and on, and carry on from that boot."""
        if self.client is not None:
            self.client.close()
            self.client = None
        self.cut()
        self.boot()
        self.after_cut(Phase.PRESS)

    def first_device(self) -> None:
        self.boot()
        self.provision()
        started = time.monotonic()
        self.run("haochaping-provision rotate-key", timeout_s=180)  # measured, not cut
        self.timed("rotate", started)
        self.client = self.connect()

    def province_ratings(self) -> list[HeldRating]:
        rows = self.standin.store.rated_cases()
        return [HeldRating(eid, (no, n), device) for eid, no, n, device in rows]

    def settle(self) -> None:
        """The last device serves one more rating and delivers what it holds."""
        if self.client is not None:
            self.rate(self.client)
            self.client.close()
            self.client = None
        self.read_ledger()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            held = {r.case for ratings in self.seen.ledgers.values() for r in ratings}
            if held <= {r.case for r in self.province_ratings()}:
                break
            time.sleep(1)
        self.seen.province = self.province_ratings()

    def close(self) -> None:
        self.cut()
        self.keypad.stop()


RECOVERABLE = (
    BenchError,
    GuestCommandError,
    ConsoleTimeoutError,
    TimeoutError,
    RuntimeError,
    OSError,
    requests.RequestException,
)


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:500]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_bench(
    image: Image,
    workdir: Path,
    cuts: int,
    seed: int,
    log: Callable[[str], None],
    only: list[Phase] | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    errors: list[str] = []
    with running_standin(workdir / "province") as standin:
        bench = Bench(image, workdir, standin, seed)
        done = 0
        try:
            bench.first_device()
            phases = list(only or PHASE_WEIGHTS)
            weights = [PHASE_WEIGHTS[p] for p in phases]
            for n in range(cuts):
                phase = bench.rng.choices(phases, weights)[0]
                cut_started = time.monotonic()
                try:
                    bench.one_cut(phase)
                except RECOVERABLE as error:  # noted, counted as an error; power off and on
                    errors.append(f"cut {n + 1} ({phase.value}): {_said(error)}")
                    bench.recover()
                done += 1
                bench.timed("cycle", cut_started)
                log(f"cut {n + 1}/{cuts} {phase.value}: {json.dumps(count(bench.seen))}")
            bench.settle()
        except RECOVERABLE as error:
            errors.append(f"stopped: {_said(error)}")
        finally:
            bench.seen.province = bench.province_ratings()
            bench.close()
    figures = count(bench.seen)
    result: dict[str, Any] = {
        "bench": "power_cut",
        "cuts_asked": cuts,
        "cuts_done": done,
        "seed": seed,
    }
    result.update(figures)
    result["phases"] = dict(bench.phases)
    result["devices"] = bench.devices
    result["rotations_finished"] = bench.rotations_finished
    result["provisionings_finished"] = bench.provisionings_finished
    result["disk"] = DISK_CACHE
    result["seconds"] = {
        name: {"median": statistics.median(v), "max": max(v), "n": len(v)}
        for name, v in bench.seconds.items()
    }
    result["seconds"]["total"] = round(time.monotonic() - started, 1)
    result["notes"] = bench.notes
    result["errors"] = errors
    result["phases_drawn_from"] = [p.value for p in (only or PHASE_WEIGHTS)]
    result["met"] = bool(figures["met"]) and not errors and done == cuts and cuts >= 30
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.power_cut", description=__doc__)
    parser.add_argument("--cuts", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--image", type=Path, help="a built image folder (default: build or reuse)")
    parser.add_argument("--workdir", type=Path, help="keep the machines' files here")
    parser.add_argument("--progress", type=Path, help="append one line per cut here")
    parser.add_argument(
        "--phases",
        type=lambda text: [PHASE_NAMES[name] for name in text.split(",")],
        help="cut only in these phases: press, delivery, provisioning, rotation (comma-"
        "separated; default all, drawn 4:3:1:2 in that order)",
    )
    args = parser.parse_args(argv)
    image = Image(args.image) if args.image else build_image("amd64").image

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if args.progress:
            with args.progress.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    with tempfile.TemporaryDirectory(prefix="haochaping-cut-") as temp:
        workdir = args.workdir or Path(temp)
        result = run_bench(image, workdir, args.cuts, args.seed, log, args.phases)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())

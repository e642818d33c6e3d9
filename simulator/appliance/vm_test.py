"""The appliance from a blank disk to a delivered rating, in QEMU: build (or reuse) the
image, boot it, provision it with the technician's commands, see `check` pass, reboot and
time the first frame, push a case, press a key on the virtual keypad, see the rating page and
the thanks page on the captured screen, and see the stand-in province take the rating.

    python -m simulator.appliance.vm_test [--image DIR] [--workdir DIR] [--screens DIR]

Prints one JSON line at the end: what it saw and how long each step took. Exit status 0 when
every step passed, 1 when one failed (the JSON says which, under "failed").
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from device.record.rating import Level
from device.screen.layout import Layout
from simulator.appliance.image import Image, build_image
from simulator.appliance.machine import (
    GUEST_HOST_ADDRESS,
    KEYPAD_IN_GUEST,
    SCREEN_SIZE,
    Appliance,
    Wiring,
    netdev_option,
)
from simulator.appliance.screens import Look, look
from simulator.appliance.standin import StandIn, running_standin
from simulator.appliance.timeserver import TimeServer, guest_setup_script
from simulator.local_client import EvaluatorClient
from simulator.province.reports import Reports
from simulator.screenshot import SAMPLE_STAFF, render
from simulator.virtual_keypad import VirtualKeypad

BEST_KEY = 1  # key 1, leftmost: 非常满意 with the default key_levels
CASE = {
    "projectNo": "HD20261201000101",
    "taskCode": "11640100MB1234567X3000111444000",
    "taskName": "个体工商户设立登记",
}
TOUCH_CASE = {**CASE, "projectNo": "HD20261201000102"}
SITE = {"area": "640104", "dept": "11640100MB1234567X", "hall": "H01", "window": "12"}
CA_IN_GUEST = "/etc/haochaping/province-ca.pem"
# [local_api] bind = "0.0.0.0", as the field guide says for a business system on another
# computer (here: the host, through QEMU's forward)
LISTEN_ON_LAN = """f=/etc/haochaping/device.toml
if sed -n '/^\\[local_api\\]/,/^\\[/p' "$f" | grep -q '^bind *='; then
    sed -i '/^\\[local_api\\]/,/^\\[/ s/^bind *=.*/bind = "0.0.0.0"/' "$f"
else
    sed -i '/^\\[local_api\\]/a bind = "0.0.0.0"' "$f"
fi
grep -q '^bind = "0.0.0.0"' "$f"
"""
CAPTURES = 3
PAGE_SIMILARITY = 0.90  # a capture counts as a page when this close to its headless rendering
BOOT_TIMEOUT_S = 300
PAGE_TIMEOUT_S = 120


class StepError(RuntimeError):
    """A step of the run did not see what it had to."""


class Run:
    """One run; `seconds` and `seen` become the JSON line."""

    def __init__(self, workdir: Path, screens_out: Path | None) -> None:
        self.workdir = workdir
        self.screens_out = screens_out
        self.seconds: dict[str, float] = {}
        self.seen: dict[str, Any] = {}
        self.references: dict[str, Path] = {}
        self._shots = 0

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)

    # -- screens ----------------------------------------------------------------------------

    def render_references(self) -> None:
        """The pages as simulator/screenshot.py draws them headless, at the guest's size."""
        folder = self.workdir / "expected"
        for page in ("paused", "idle", "rating", "thanks"):
            body = CASE if page in ("rating", "thanks") else None
            self.references[page] = render(page, body, folder / f"{page}.png", size=SCREEN_SIZE)

    def capture(self, appliance: Appliance, page: str, keep_as: str | None = None) -> Look:
        """Capture the screen while the evaluator says it shows *page*: a few shots, the
        one most like the headless rendering kept (and copied to the screens folder)."""
        best: tuple[Look, Path] | None = None
        for _ in range(CAPTURES):
            self._shots += 1
            shot = appliance.screendump(self.workdir / "shots" / f"{self._shots:04d}.png")
            seen = look(shot, self.references)
            if best is None or seen.scores.get(page, 0.0) > best[0].scores.get(page, 0.0):
                best = (seen, shot)
            time.sleep(0.3)
        assert best is not None
        seen, shot = best
        if keep_as and self.screens_out is not None:
            self.screens_out.mkdir(parents=True, exist_ok=True)
            (self.screens_out / keep_as).write_bytes(shot.read_bytes())
        self.seen[f"screen_{page}"] = {
            "reached_glass": not seen.blank
            and seen.closest == page
            and seen.scores.get(page, 0.0) >= PAGE_SIMILARITY,
            "similarity": seen.scores.get(page, 0.0),
            "closest": seen.closest,
            "brightness": seen.brightness,
            "blank": seen.blank,
            "capture": str(shot),
        }
        return seen


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Decoy:
    """A listener on the host's 127.0.0.1 that is NOT forwarded: the guest must not reach it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def init_argv(province_url: str, token: str) -> list[str]:
    """The field guide's `init --no-input` for this hall's window, every answer given."""
    return [
        "haochaping-provision", "init",
        "--province-url", province_url,
        "--token", token,
        "--area-code", SITE["area"],
        "--dept-code", SITE["dept"],
        "--mode", "window",
        "--hall-code", SITE["hall"],
        "--window-no", SITE["window"],
        "--keypad-port", KEYPAD_IN_GUEST,
        "--rate-later-url", province_url + "/m/rate",
        "--display-size", "native",
        "--ca-bundle", CA_IN_GUEST,
        "--no-input",
    ]  # fmt: skip


def provision(run: Run, appliance: Appliance, standin: StandIn) -> str:
    """The technician's commands of the field guide, run in the guest; returns the local
    API certificate's fingerprint."""
    console = appliance.console
    ca = standin.ca_pem.decode()
    console.run(f"install -m 0644 /dev/stdin {CA_IN_GUEST} <<'PEM'\n{ca}PEM\n")
    with run.step("provision"):
        init = shlex.join(init_argv(standin.guest_url, standin.token))
        result = console.run(init, timeout_s=180)
    run.seen["provision_output"] = result.output.strip().splitlines()[-2:]
    # The business system is on another computer (the host): the field guide's [local_api] bind.
    console.run(LISTEN_ON_LAN)
    with run.step("start_services"):
        console.run("systemctl start haochaping-evaluator haochaping-sync", timeout_s=180)
    with run.step("check"):
        check = console.run("haochaping-provision check", timeout_s=180, check=False)
    run.seen["check_exit"] = check.exit_code
    run.seen["check_lines"] = [line for line in check.output.splitlines() if line.strip()]
    if check.exit_code != 0:
        raise StepError(f"haochaping-provision check failed:\n{check.output}")
    show = console.run("haochaping-provision show").output
    match = re.search(r"certificate:\s+SHA-256 ([0-9A-Fa-f:]+)", show)
    if match is None:
        raise StepError(f"`haochaping-provision show` named no certificate:\n{show}")
    return match.group(1)


def guest_facts(appliance: Appliance, decoy: Decoy) -> dict[str, Any]:
    """What the running guest says about its disks, journal, clock and network."""
    run = appliance.console.run
    facts: dict[str, Any] = {
        "root_options": run("findmnt -no OPTIONS /").output.strip(),
        "data_source": run("findmnt -no SOURCE /var/lib/haochaping").output.strip(),
        "journal_source": run("findmnt -no SOURCE /var/log/journal").output.strip(),
        # every boot kept on the data partition (each boot has its own machine id: the
        # root is read-only, so journalctl is pointed at the whole directory)
        "journal_boots": len(
            run("journalctl -D /var/log/journal --list-boots -q").output.strip().splitlines()
        ),
        "root_write_refused": run("touch /usr/.probe", check=False).exit_code != 0,
        "kms_driver": run("basename $(readlink /sys/class/drm/card0/device/driver)").output.strip(),
    }
    unit_path = "systemctl show -P FragmentPath haochaping-test-console.service"
    facts["test_console_unit"] = run(unit_path).output.strip()
    for unit in ("systemd-timesyncd", "haochaping-evaluator", "haochaping-sync"):
        facts[unit] = run(f"systemctl is-active {unit}", check=False).output.strip()
    probe = f"timeout 5 bash -c 'exec 3<>/dev/tcp/{GUEST_HOST_ADDRESS}/{decoy.port}'"
    facts["unforwarded_host_port_reached"] = (
        run(probe, check=False).exit_code == 0 or decoy.accepted > 0
    )
    outside = "timeout 5 bash -c 'exec 3<>/dev/tcp/192.0.2.1/80'"  # TEST-NET-1: must not go out
    facts["outside_reached"] = run(outside, check=False).exit_code == 0
    return facts


def journal_tail(appliance: Appliance) -> list[str]:
    """The services' last journal lines, to say why a run failed (empty if the guest
    cannot answer)."""
    units = "-u haochaping-evaluator -u haochaping-sync"
    try:
        out = appliance.console.run(f"journalctl -b {units} -n 40 --no-pager", 30, check=False)
    except Exception:
        return []
    return out.output.splitlines()


def device_token(appliance: Appliance) -> str:
    out = appliance.console.run(
        "sed -n 's/^token = \"\\(.*\\)\"$/\\1/p' /etc/haochaping/device.toml"
    )
    token = out.output.strip().splitlines()
    if not token:
        raise StepError("no [local_api] token in /etc/haochaping/device.toml")
    return token[0]


def local_api(appliance: Appliance, token: str, pin: str) -> EvaluatorClient:
    """The business system's client: HTTPS through the forwarded port, pinning the device
    certificate."""
    port = appliance.wiring.local_api_port
    return EvaluatorClient(f"https://127.0.0.1:{port}/api/v1", token, pin=pin)


def first_frame(run: Run, appliance: Appliance, token: str, pin: str) -> None:
    """Power on a provisioned device and wait until the evaluator reports its first page
    drawn (status phase past "starting"), polling the local API from the host."""
    client = local_api(appliance, token, pin)
    try:
        with run.step("boot_to_first_frame"):
            appliance.boot()
            status = client.wait_for(
                lambda s: s.get("phase") not in (None, "starting"), BOOT_TIMEOUT_S, "first page"
            )
        run.seen["first_page"] = status.get("phase")
        run.capture(appliance, str(status.get("phase")), keep_as="vm-paused.png")
    finally:
        client.close()


def province_ratings(standin: StandIn) -> list[str]:
    """The evaluationIds the stand-in holds, read as its officer page reads them."""
    with Reports(standin.db_path) as reports:
        return [row.record["evaluationId"] for row in reports.latest_ratings()]


def rate_and_deliver(
    run: Run,
    appliance: Appliance,
    keypad: VirtualKeypad,
    standin: StandIn,
    token: str,
    pin: str,
) -> None:
    """Sign staff in and push a case as the business system would (HTTPS to the forwarded
    local API, pinning the certificate `show` printed), press the best key, and follow the
    rating from the screen to the province."""
    client = local_api(appliance, token, pin)
    try:
        client.sign_in(SAMPLE_STAFF.number, SAMPLE_STAFF.name)
        client.wait_for(lambda s: s.get("keypadConnected") is True, 60, "keypad connected")
        with run.step("push_to_page"):
            client.push_case(dict(CASE))
            client.wait_for(lambda s: s.get("phase") == "rating", PAGE_TIMEOUT_S, "rating page")
        run.capture(appliance, "rating", keep_as="vm-rating.png")
        run.seen["keypad_lights_on_rating"] = keypad.lights
        with run.step("press_to_thanks"):
            keypad.press(BEST_KEY)
            client.wait_for(lambda s: s.get("phase") == "thanks", PAGE_TIMEOUT_S, "thanks page")
        run.capture(appliance, "thanks", keep_as="vm-thanks.png")
        status = client.wait_for(lambda s: s.get("lastSeq", 0) >= 1, 30, "rating stored")
    finally:
        client.close()
    evaluation_id = status.get("lastEvaluationId")
    run.seen["rated"] = {"lastSeq": status.get("lastSeq"), "lastEvaluationId": evaluation_id}
    with run.step("delivery"):
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        while not (stored := province_ratings(standin)):
            if time.monotonic() > deadline:
                raise StepError("the stand-in province never received the rating")
            time.sleep(0.5)
    run.seen["province_evaluations"] = stored
    if stored != [evaluation_id]:
        raise StepError(f"the province holds {stored}, the device rated {evaluation_id}")


def rate_by_touch(run: Run, appliance: Appliance, standin: StandIn, token: str, pin: str) -> None:
    """A second case rated with a finger: the usb-tablet taps 非常满意 where the page draws
    it, the evaluator reads the tap from evdev, and the province gets a rating whose source
    is the touchscreen."""
    left, top, width, height = dict(Layout(*SCREEN_SIZE, False).buttons())[Level.VERY_SATISFIED]
    centre = (left + width // 2, top + height // 2)
    client = local_api(appliance, token, pin)
    try:
        client.push_case(dict(TOUCH_CASE))
        client.wait_for(lambda s: s.get("phase") == "rating", PAGE_TIMEOUT_S, "rating page")
        with run.step("tap_to_thanks"):
            appliance.tap(*centre)
            client.wait_for(lambda s: s.get("phase") == "thanks", PAGE_TIMEOUT_S, "thanks page")
        status = client.wait_for(lambda s: s.get("lastSeq", 0) >= 2, 30, "touch rating stored")
    finally:
        client.close()
    evaluation_id = status.get("lastEvaluationId")
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while evaluation_id not in province_ratings(standin):
        if time.monotonic() > deadline:
            raise StepError("the stand-in province never received the touch rating")
        time.sleep(0.5)
    with Reports(standin.db_path) as reports:
        record = next(
            row.record
            for row in reports.latest_ratings()
            if row.record["evaluationId"] == evaluation_id
        )
    run.seen["touch_rating"] = {
        "tapped_at": list(centre),
        "satisfaction": record.get("satisfaction"),
        "source": record.get("source"),
        "projectNo": record.get("projectNo"),
    }


def run_vm_test(
    image: Image, workdir: Path, screens_out: Path | None
) -> tuple[bool, dict[str, Any]]:
    """The whole run; returns (passed, the JSON object)."""
    run = Run(workdir, screens_out)
    run.render_references()
    failed: str | None = None
    appliance: Appliance | None = None
    keypad = VirtualKeypad()
    decoy = Decoy()
    time_server = TimeServer(free_port(socket.SOCK_DGRAM))
    try:
        with running_standin(workdir / "province") as standin:
            keypad.start()
            time_server.start()
            wiring = Wiring(keypad.port, standin.port, free_port(), time_server.netdev_option())
            run.seen["network"] = netdev_option(wiring)
            appliance = Appliance(image, workdir / "machine", wiring)
            with run.step("boot_to_console"):
                appliance.boot()
                appliance.console.wait_ready(BOOT_TIMEOUT_S)
            with run.step("clock_sync"):
                appliance.console.run(guest_setup_script(), timeout_s=90)
            pin = provision(run, appliance, standin)
            token = device_token(appliance)
            # A provisioned device powered off and on: it must come up by itself.
            with run.step("power_off"):
                run.seen["clean_power_off"] = appliance.power_off()
            first_frame(run, appliance, token, pin)
            appliance.console.wait_ready(BOOT_TIMEOUT_S)
            appliance.console.run(guest_setup_script(), timeout_s=90)
            run.seen["guest"] = guest_facts(appliance, decoy)
            rate_and_deliver(run, appliance, keypad, standin, token, pin)
            rate_by_touch(run, appliance, standin, token, pin)
    except Exception as error:
        failed = f"{type(error).__name__}: {error}"
        if appliance is not None and appliance.running:
            run.seen["journal_tail"] = journal_tail(appliance)
    finally:
        if appliance is not None:
            run.seen["serial_log"] = str(appliance.serial_log)
            appliance.power_cut()
        keypad.stop()
        decoy.close()
        time_server.stop()
    result: dict[str, Any] = {"bench": "vm_test", "passed": failed is None, "failed": failed}
    result["seconds"] = run.seconds
    result["seen"] = run.seen
    return failed is None, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.appliance.vm_test", description=__doc__
    )
    parser.add_argument("--image", type=Path, help="a built image folder (default: build or reuse)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the run's files here (default: a temp dir)"
    )
    parser.add_argument("--screens", type=Path, help="copy the captured pages here (PNG)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    build: dict[str, Any] = {}
    if args.image is not None:
        image = Image(args.image)
    else:
        built = build_image("amd64")
        image = built.image
        build = {"image_build": round(built.seconds, 1), "image_cached": built.cached}
    with tempfile.TemporaryDirectory(prefix="haochaping-vm-") as temp:
        workdir = args.workdir or Path(temp)
        passed, result = run_vm_test(image, workdir, args.screens)
    result["image"] = {"folder": str(image.folder), **image.info, **build}
    result["seconds"]["total"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

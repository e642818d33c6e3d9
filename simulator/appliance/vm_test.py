"""The appliance from a blank card to a retired one and its replacement, in QEMU, by the
field guide's own commands (guide_run.py): build (or reuse) the image, write it to a card
file with the guide's `dd`, boot it, log in over real ssh as `technician` (key only; password
and root logins refused), provision, check (the screen, touch and key test done as someone at
the device), power off and on (same host key, same machine id), push a case, press a key and
tap the glass, see the pages on the captured screen and the ratings at the stand-in province,
read the logs, work through the faults' commands, decommission, and bring up the new device
from a second card with `init` answered at its questions.

    python -m simulator.appliance.vm_test [--image DIR] [--workdir DIR] [--screens DIR]

Prints one JSON line at the end: what it saw, how long each step took, and under "guide"
each guide command run (exit status, seconds, how it was run if not as typed) and each not
run with the reason. Exit status 0 when every step passed, 1 when one failed (the JSON says
which, under "failed").
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shlex
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.record.rating import Level
from device.screen.layout import Layout
from simulator.appliance.guide_run import GuideRun, Phase
from simulator.appliance.image import (
    BuiltImage,
    Image,
    build_command,
    build_image,
    technician_key,
)
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
from simulator.appliance.technician import ALIAS, Technician
from simulator.appliance.timeserver import SERVER_IP as NTP_SERVER_IN_GUEST
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
PROVISION_BY_OPTIONS = (
    "sudo haochaping-provision init --no-input --province-url <PROVINCE_URL> --token <TOKEN> "
    "--mode window --area-code <AREA_CODE> --dept-code <DEPT_CODE> --hall-code <HALL_CODE> "
    "--window-no <WINDOW_NO> --keypad-port <KEYPAD_PORT> --rate-later-url <RATE_LATER_URL> "
    "--display-size native"
)
START_SERVICES = "sudo systemctl start haochaping-evaluator haochaping-sync"
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


def province_values(standin: StandIn) -> dict[str, str]:
    """The guide's values this run fills in for provisioning."""
    return {
        "PROVINCE_URL": standin.guest_url,
        "TOKEN": standin.token,
        "AREA_CODE": SITE["area"],
        "DEPT_CODE": SITE["dept"],
        "HALL_CODE": SITE["hall"],
        "WINDOW_NO": SITE["window"],
        "KEYPAD_PORT": KEYPAD_IN_GUEST,
        "KEYPAD_TTY": KEYPAD_IN_GUEST,
        "RATE_LATER_URL": standin.guest_url + "/m/rate",
        "NTP_SERVER": NTP_SERVER_IN_GUEST,
        "CA_BUNDLE_IN_GUEST": CA_IN_GUEST,
    }


def provision(run: Run, appliance: Appliance, guide: GuideRun, standin: StandIn) -> str:
    """Provision with the field guide's commands, as `technician` over ssh; returns the
    local API token `grep` showed."""
    ca = standin.ca_pem.decode()
    put_ca = f"sudo install -m 0644 /dev/stdin {CA_IN_GUEST}"
    if guide.technician.run(put_ca, 60, stdin=ca).exit_code != 0:
        raise StepError(f"could not copy the stand-in's CA to {CA_IN_GUEST}")
    with run.step("provision"):
        outcomes = guide.phase(Phase.PROVISION)
    run.seen["provision_output"] = outcomes[0].output.strip().splitlines()[-2:]
    failed = [o for o in outcomes if not o.as_expected]
    if failed:
        first = failed[0]
        raise StepError(f"provisioning failed at line {first.command.line}:\n{first.output}")
    token = guide.values.get("LOCAL_API_TOKEN")
    if token is None:
        raise StepError("`sudo grep '^token' /etc/haochaping/device.toml` showed no token")
    # The business system is on another computer (the host): the field guide's [local_api]
    # bind (said in its prose, no command of its own), then the restart it asks for.
    appliance.console.run(LISTEN_ON_LAN)
    appliance.console.run("systemctl restart haochaping-evaluator", timeout_s=120)
    return token


def check(run: Run, guide: GuideRun) -> str:
    """The guide's checks (§1 clock, §2 certificate, §3, the label, §4's status); returns
    the local API certificate's fingerprint `show` printed."""
    with run.step("check"):
        guide.phase(Phase.CHECK)
    check_out = guide.output_of("sudo haochaping-provision check")
    run.seen["check_exit"] = next(
        o.exit_code for o in guide.outcomes if o.command.text == "sudo haochaping-provision check"
    )
    run.seen["check_lines"] = [line for line in check_out.splitlines() if line.strip()]
    if run.seen["check_exit"] != 0:
        raise StepError(f"haochaping-provision check failed:\n{check_out}")
    show = guide.output_of("sudo haochaping-provision show --label /tmp/label.png")
    match = re.search(r"certificate:\s+SHA-256 ([0-9A-Fa-f:]+)", show)
    if match is None:
        raise StepError(f"`haochaping-provision show` named no certificate:\n{show}")
    enrolled = re.search(r"enrolled key:\s+(\S+)", show)
    if enrolled:
        guide.values["ENROLLED_KEY_ID"] = enrolled.group(1)
    pin = match.group(1)
    run.seen["openssl_fingerprint_is_shows"] = (
        guide.facts.get("openssl_fingerprint") or ""
    ).upper() == pin.upper()
    return pin


def technician_access(appliance: Appliance, technician: Technician) -> dict[str, Any]:
    """What the technician's ssh access is and refuses, and the device's identity."""
    run = technician.run
    sudo = run("sudo -n id -u", 30)
    facts: dict[str, Any] = {
        "sudo_uid": sudo.stdout.strip() if sudo.exit_code == 0 else f"failed: {sudo.stderr}",
        "host_key": technician.host_key_fingerprint(),
        "machine_id": run("cat /etc/machine-id", 30).stdout.strip(),
    }
    password = technician.refused(
        "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password,keyboard-interactive",
    )  # fmt: skip
    facts["password_login"] = {"exit": password.exit_code, "said": password.stderr.strip()[-200:]}
    root = technician.refused("-l", "root")
    facts["root_login"] = {"exit": root.exit_code, "said": root.stderr.strip()[-200:]}
    sshd = run("sudo sshd -T", 30).stdout
    settings = dict(line.split(" ", 1) for line in sshd.splitlines() if " " in line)
    facts["sshd"] = {
        name: settings.get(name)
        for name in (
            "permitrootlogin",
            "passwordauthentication",
            "kbdinteractiveauthentication",
            "authenticationmethods",
            "allowusers",
            "hostkey",
        )
    }
    return facts


def guest_facts(appliance: Appliance, decoy: Decoy) -> dict[str, Any]:
    """What the running guest says about its disks, journal, clock and network."""
    run = appliance.console.run
    facts: dict[str, Any] = {
        "root_options": run("findmnt -no OPTIONS /").output.strip(),
        "data_source": run("findmnt -no SOURCE /var/lib/haochaping").output.strip(),
        "journal_source": run("findmnt -no SOURCE /var/log/journal").output.strip(),
        # every boot kept on the data partition, under the one machine id it keeps there
        "journal_boots": len(run("journalctl --list-boots -q").output.strip().splitlines()),
        "journal_folders": run("ls /var/log/journal").output.split(),
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


def province_records(standin: StandIn) -> list[dict[str, Any]]:
    """The ratings the stand-in holds, newest first, read as its officer page reads them."""
    with Reports(standin.db_path) as reports:
        return [row.record for row in reports.latest_ratings()]


def province_ratings(standin: StandIn) -> list[str]:
    """The evaluationIds the stand-in holds, newest first."""
    return [record["evaluationId"] for record in province_records(standin)]


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
    while True:
        held = {r["evaluationId"]: r for r in province_records(standin)}
        if (record := held.get(evaluation_id)) is not None:
            break
        if time.monotonic() > deadline:
            raise StepError("the stand-in province never received the touch rating")
        time.sleep(0.5)
    run.seen["touch_rating"] = {
        "tapped_at": list(centre),
        "satisfaction": record.get("satisfaction"),
        "source": record.get("source"),
        "projectNo": record.get("projectNo"),
    }


@dataclass
class Hall:
    """What the appliance is wired to on the host for one run."""

    standin: StandIn
    keypad: VirtualKeypad
    decoy: Decoy
    wiring: Wiring
    technician: Technician
    appliance: Appliance | None = None  # once made: to be switched off whatever happens


@dataclass(frozen=True)
class PersonAtDevice:
    """Eyes, a finger and a key press at this run's appliance (at_the_device.Hands)."""

    appliance: Appliance
    keypad: VirtualKeypad

    def screendump(self, dest: Path) -> Path:
        return self.appliance.screendump(dest)

    def tap(self, x: int, y: int) -> None:
        self.appliance.tap(x, y)

    def press(self, key: int) -> None:
        self.keypad.press(key)


def new_guide(built: BuiltImage, workdir: Path, hall: Hall) -> GuideRun:
    """The field guide's commands with this run's values."""
    image = built.image
    values = {
        **province_values(hall.standin),
        "IMAGE": str(image.disk),
        "SD_CARD": str(workdir / "card.img"),
        "TECHNICIAN_KEY": str(built.key.private),
        "DEVICE": ALIAS,
    }
    assert hall.wiring.local_api_port is not None
    guide = GuideRun(hall.technician, workdir, values, hall.wiring.local_api_port)
    guide.made_key = built.key.made_now
    guide.image_command = shlex.join(build_command("amd64", image.folder.parent, built.key))
    guide.image_seconds = built.seconds
    return guide


def first_boot(run: Run, built: BuiltImage, guide: GuideRun, hall: Hall) -> Appliance:
    """§1 on the workstation (the card written from the image), the card booted, the
    technician logged in over ssh."""
    with run.step("flash"):
        guide.phase(Phase.WORKSTATION)
    card = Path(guide.values["SD_CARD"])
    if not card.is_file() or card.stat().st_size != built.image.disk.stat().st_size:
        raise StepError(f"dd left no whole card at {card}")
    appliance = Appliance(built.image, run.workdir / "machine", hall.wiring, card=card)
    hall.appliance = appliance
    guide.hands = PersonAtDevice(appliance, hall.keypad)
    with run.step("boot_to_console"):
        appliance.boot()
        appliance.console.wait_ready(BOOT_TIMEOUT_S)
    with run.step("clock_sync"):
        appliance.console.run(guest_setup_script(), timeout_s=90)
    with run.step("ssh_login"):
        hall.technician.wait_ready(BOOT_TIMEOUT_S)
        guide.phase(Phase.LOGIN)
    run.seen["access"] = technician_access(appliance, hall.technician)
    return appliance


def reboot(run: Run, appliance: Appliance, hall: Hall, token: str, pin: str) -> None:
    """Power off a provisioned device and on: it comes up by itself, with the same host key
    (ssh accepts only the key it saw) and machine id."""
    hall.technician.close()
    with run.step("power_off"):
        run.seen["clean_power_off"] = appliance.power_off()
    first_frame(run, appliance, token, pin)
    appliance.console.wait_ready(BOOT_TIMEOUT_S)
    appliance.console.run(guest_setup_script(), timeout_s=90)
    hall.technician.wait_ready(BOOT_TIMEOUT_S)
    strict = hall.technician.strict()
    run.seen["after_reboot"] = {
        "same_host_key_login": strict.exit_code == 0,
        "said": strict.stderr.strip()[-300:],
        "machine_id": hall.technician.run("cat /etc/machine-id", 30).stdout.strip(),
    }
    run.seen["guest"] = guest_facts(appliance, hall.decoy)


def enrolled_as(output: str) -> str | None:
    """The device id `init` printed."""
    match = re.search(r"enrolled as (\S+)", output)
    return match.group(1) if match else None


def new_device(run: Run, built: BuiltImage, guide: GuideRun, hall: Hall) -> None:
    """§9's new device: the old one switched off for good, a second card flashed with the
    same image (a copy-on-write copy of what dd wrote), a new token, `init` answered at its
    questions, started, checked. It has its own host key, machine id and device id."""
    old = hall.appliance
    assert old is not None
    old_id = enrolled_as(guide.output_of(PROVISION_BY_OPTIONS))
    hall.technician.close()
    with run.step("old_device_off"):
        run.seen["old_device_off"] = old.power_off()
    token = "vm-" + secrets.token_hex(8)
    hall.standin.store.add_token(token, 3600, now=time.time())
    guide.values["TOKEN"] = token
    card = Path(guide.values["SD_CARD"])
    new = Appliance(built.image, run.workdir / "new-machine", hall.wiring, card=card)
    hall.appliance = new
    guide.hands = PersonAtDevice(new, hall.keypad)
    assert hall.wiring.ssh_port is not None
    # another device: its own host key (a known-hosts file of its own, as at its own address)
    hall.technician = Technician(built.key.private, hall.wiring.ssh_port, run.workdir / "ssh-new")
    guide.technician = hall.technician
    with run.step("new_device_boot"):
        new.boot()
        new.console.wait_ready(BOOT_TIMEOUT_S)
        new.console.run(guest_setup_script(), timeout_s=90)
        hall.technician.wait_ready(BOOT_TIMEOUT_S)
    put_ca = f"sudo install -m 0644 /dev/stdin {CA_IN_GUEST}"
    if hall.technician.run(put_ca, 60, stdin=hall.standin.ca_pem.decode()).exit_code != 0:
        raise StepError(f"could not copy the stand-in's CA to {CA_IN_GUEST} on the new device")
    with run.step("new_device_provision"):
        (init,) = guide.phase(Phase.NEW_DEVICE)
        note = "on the replacement device"
        start = guide.again("2. Provision", START_SERVICES, note)
        check_again = guide.again("3. Check", "sudo haochaping-provision check", note)
    run.seen["new_device"] = {
        "init_exit": init.exit_code,
        "questions_answered": guide.facts.get("interactive_init_questions"),
        "device_id": enrolled_as(init.output),
        "old_device_id": old_id,
        "start_exit": start.exit_code,
        "check_exit": check_again.exit_code,
        "host_key": hall.technician.host_key_fingerprint(),
        "machine_id": hall.technician.run("cat /etc/machine-id", 30).stdout.strip(),
    }


def guided(run: Run, built: BuiltImage, guide: GuideRun, hall: Hall) -> None:
    """From the blank card to the retired device, the guide's commands in their phases."""
    appliance = first_boot(run, built, guide, hall)
    token = provision(run, appliance, guide, hall.standin)
    pin = check(run, guide)
    reboot(run, appliance, hall, token, pin)
    rate_and_deliver(run, appliance, hall.keypad, hall.standin, token, pin)
    guide.values["EVALUATION_ID"] = run.seen["rated"]["lastEvaluationId"]
    rate_by_touch(run, appliance, hall.standin, token, pin)
    with run.step("guide_after_rating"):
        guide.phase(Phase.AFTER_RATING)
    run.seen["guide_facts"] = guide.facts
    with run.step("replace"):
        guide.phase(Phase.REPLACE)
    run.seen["retired"] = retired(hall.technician)
    new_device(run, built, guide, hall)
    unexpected = guide.record()["unexpected"]
    if unexpected:
        raise StepError(f"guide commands at lines {unexpected} did not do what the guide says")


def run_vm_test(
    built: BuiltImage, workdir: Path, screens_out: Path | None
) -> tuple[bool, dict[str, Any]]:
    """The whole run; returns (passed, the JSON object)."""
    run = Run(workdir, screens_out)
    run.render_references()
    failed: str | None = None
    guide: GuideRun | None = None
    keypad = VirtualKeypad()
    decoy = Decoy()
    time_server = TimeServer(free_port(socket.SOCK_DGRAM))
    hall: Hall | None = None
    try:
        with running_standin(workdir / "province") as standin:
            keypad.start()
            time_server.start()
            wiring = Wiring(
                keypad.port,
                standin.port,
                free_port(),
                time_server.netdev_option(),
                ssh_port=free_port(),
            )
            run.seen["network"] = netdev_option(wiring)
            assert wiring.ssh_port is not None
            technician = Technician(built.key.private, wiring.ssh_port, workdir / "ssh")
            hall = Hall(standin, keypad, decoy, wiring, technician)
            guide = new_guide(built, workdir, hall)
            guided(run, built, guide, hall)
    except Exception as error:
        failed = f"{type(error).__name__}: {error}"
        if hall is not None and hall.appliance is not None and hall.appliance.running:
            run.seen["journal_tail"] = journal_tail(hall.appliance)
    finally:
        if hall is not None:
            hall.technician.close()
            if hall.appliance is not None:
                run.seen["serial_log"] = str(hall.appliance.serial_log)
                hall.appliance.power_cut()
        keypad.stop()
        decoy.close()
        time_server.stop()
        (workdir / "card.img").unlink(missing_ok=True)  # 2 GB: the run's files stay small
    result: dict[str, Any] = {"bench": "vm_test", "passed": failed is None, "failed": failed}
    result["seconds"] = run.seconds
    result["seen"] = run.seen
    result["guide"] = guide.record() if guide is not None else None
    return failed is None, result


def retired(technician: Technician) -> dict[str, Any]:
    """After §9's decommission: the configuration renamed, the services not running."""
    ls = technician.run("sudo ls /etc/haochaping/", 30).stdout.split()
    active = technician.run("systemctl is-active haochaping-evaluator haochaping-sync", 30)
    return {
        "config_files": ls,
        "services": active.stdout.split(),
        "ledger_kept": technician.run("sudo test -s /var/lib/haochaping/ledger.db", 30).exit_code
        == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.appliance.vm_test", description=__doc__
    )
    parser.add_argument(
        "--image",
        type=Path,
        help="an image folder built before with the harness's key (default: build or reuse)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the run's files here (default: a temp dir)"
    )
    parser.add_argument("--screens", type=Path, help="copy the captured pages here (PNG)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    build: dict[str, Any] = {}
    if args.image is not None:  # an image built before, e.g. by an earlier run
        built = BuiltImage(Image(args.image.resolve()), 0.0, True, technician_key())
    else:
        built = build_image("amd64")
    image = built.image
    build = {"image_build": round(built.seconds, 1), "image_cached": built.cached}
    with tempfile.TemporaryDirectory(prefix="haochaping-vm-") as temp:
        workdir = args.workdir or Path(temp)
        passed, result = run_vm_test(built, workdir, args.screens)
    result["image"] = {"folder": str(image.folder), **image.info, **build}
    result["seconds"]["total"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

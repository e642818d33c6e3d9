"""Every command of docs/field-guide.md, run against the appliance in QEMU, or named with the
reason it is not: the guide's commands are taken from the guide itself (the extractor in
tests/support/field_guide.py), so the guide and this run cannot part.

`PLAN` says, for each command (by its section and text), where and when it runs: on the
device over ssh as `technician`, on the workstation (this host), or not at all and why. A
command in the guide that the plan does not know, or a plan entry the guide no longer has,
fails the run: a new command in the guide must be given a way to run here.

Commands run as typed, with the run's values in place of the `<NAME>`s. Where the run must
change a command (`sudo` on a workstation where we are root already; ssh's options file for
the forwarded port; an editor no one types into), the JSON line says so under `ran_as`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from simulator.appliance.at_the_device import Hands, Person, answers, converse
from simulator.appliance.image import KEYGEN
from simulator.appliance.technician import Done, Technician
from tests.support.field_guide import GuideCommand, commands


class Phase(Enum):
    """When in the run a command is run (the run calls these in this order)."""

    WORKSTATION = "workstation"  # on the host, before the device is switched on
    LOGIN = "login"  # the first ssh login
    PROVISION = "provision"  # init, start, the local API token
    CHECK = "check"  # the province's certificate, checks, label, the local API
    AFTER_RATING = "after_rating"  # reading the logs, faults, keypad, local changes
    REPLACE = "replace"  # retiring the device
    NEW_DEVICE = "new_device"  # its replacement, from a new card


class Where(Enum):
    DEVICE = "device"
    WORKSTATION = "workstation"


@dataclass(frozen=True)
class Run:
    """Run the command in *phase*, on *where*; *expect* is the exit status it must give."""

    phase: Phase
    where: Where = Where.DEVICE
    expect: int = 0
    why_expected: str = ""  # when *expect* is not 0: why the guide's command must fail here
    special: str = ""  # a handler name in GuideRun.SPECIAL


@dataclass(frozen=True)
class NotRun:
    reason: str


Plan = Run | NotRun

PI_OS = "not run: pi-os (Raspberry Pi OS only; this run boots the amd64 Debian image)"
PI_HARDWARE = "not run: Raspberry Pi hardware (the Bluetooth UART on GPIO 14/15); none in QEMU"
GM = (
    "not run: needs a 国密 province (SOAP, SM2); the stand-in province of this run is the "
    "REST one (tests/test_gm_provision.py runs gm-enroll against the 国密 stand-in)"
)
SELF_SERVICE = (
    "not run: this device is a window evaluator; a self-service terminal is a second device "
    "with its own token (tests/test_provision_init.py provisions one with these options)"
)
ARM64 = (
    "not run: an arm64 image is built under qemu-user emulation, far beyond this run's time; "
    "the run boots the amd64 image"
)

W, D = Where.WORKSTATION, Where.DEVICE
IMAGE = "The appliance image"
RPI = "Instead of the image: Raspberry Pi OS"
LOCAL_API = "The local API (for the counter's business system)"
GM_SECTION = "A 国密 province (SOAP, SM2/SM3/SM4)"
LABEL = "The asset label"
RAISED = "not quarantined: the rating was accepted, so there is nothing to send again"

PLAN: dict[tuple[str, str], Plan] = {
    ("1. Flash the card", "lsblk -d -o NAME,SIZE,MODEL"): Run(Phase.WORKSTATION, W),
    (
        "1. Flash the card",
        "sudo dd if=<IMAGE> of=<SD_CARD> bs=4M conv=fsync status=progress",
    ): Run(Phase.WORKSTATION, W),
    (IMAGE, "ssh-keygen -t ed25519 -f <TECHNICIAN_KEY>"): Run(
        Phase.WORKSTATION, W, special="keygen"
    ),
    (IMAGE, "sudo ./dev image --arch arm64 --authorized-keys <TECHNICIAN_KEY>.pub"): NotRun(
        ARM64
    ),
    (IMAGE, "sudo ./dev image --arch amd64 --authorized-keys <TECHNICIAN_KEY>.pub"): Run(
        Phase.WORKSTATION, W, special="image"
    ),
    (IMAGE, "sudo mount -o remount,rw /"): Run(Phase.CHECK),
    (
        IMAGE,
        "printf '[Time]\\nNTP=%s\\n' <NTP_SERVER> "
        "| sudo tee /etc/systemd/timesyncd.conf.d/hall.conf",
    ): Run(Phase.CHECK),
    (IMAGE, "sudo mount -o remount,ro /"): Run(Phase.CHECK),
    (IMAGE, "sudo systemctl restart systemd-timesyncd"): Run(Phase.CHECK),
    (IMAGE, "timedatectl timesync-status"): Run(Phase.CHECK, special="timesync"),
    (IMAGE, "ssh -i <TECHNICIAN_KEY> technician@<DEVICE>"): Run(Phase.LOGIN, W, special="login"),
    (RPI, "sudo systemctl set-default multi-user.target"): NotRun(PI_OS),
    (RPI, "sudo reboot"): NotRun(PI_OS),
    (RPI, "sudo <SOURCE>/systemd/install.sh --dry-run"): NotRun(PI_OS),
    (RPI, "sudo <SOURCE>/systemd/install.sh"): NotRun(PI_OS),
    (RPI, "sudo systemctl restart haochaping-evaluator haochaping-sync"): NotRun(PI_OS),
    ("2. Provision", "sudo haochaping-provision init"): Run(
        Phase.NEW_DEVICE, special="interactive_init"
    ),
    (
        "2. Provision",
        "sudo haochaping-provision init --no-input --province-url <PROVINCE_URL> --token <TOKEN> "
        "--mode window --area-code <AREA_CODE> --dept-code <DEPT_CODE> --hall-code <HALL_CODE> "
        "--window-no <WINDOW_NO> --keypad-port <KEYPAD_PORT> --rate-later-url <RATE_LATER_URL> "
        "--display-size native",
    ): Run(Phase.PROVISION, special="init"),
    (
        "2. Provision",
        "sudo haochaping-provision init --no-input --province-url <PROVINCE_URL> --token <TOKEN> "
        "--mode self_service --area-code <AREA_CODE> --dept-code <DEPT_CODE> --hall-code "
        "<HALL_CODE> --terminal-no <TERMINAL_NO> --rate-later-url <RATE_LATER_URL> "
        "--display-size native",
    ): NotRun(SELF_SERVICE),
    ("2. Provision", "sudo systemctl start haochaping-evaluator haochaping-sync"): Run(
        Phase.PROVISION
    ),
    (
        GM_SECTION,
        "sudo haochaping-provision gm-enroll --gateway-url <GM_GATEWAY_URL> --base-url "
        "<GM_BASE_URL> --app-key <APP_KEY> --province-key <PROVINCE_SM2_KEY> --device-no "
        "<DEVICE_NO> --area-code <AREA_CODE> --dept-code <DEPT_CODE> --hall-code <HALL_CODE> "
        "--window-no <WINDOW_NO>",
    ): NotRun(GM),
    (
        GM_SECTION,
        "sudo haochaping-evaluator verify-ledger /var/lib/haochaping/ledger.db "
        "--province-sm2-key <PROVINCE_SM2_KEY>",
    ): NotRun(GM),
    (LOCAL_API, "sudo grep '^token' /etc/haochaping/device.toml"): Run(
        Phase.PROVISION, special="token"
    ),
    (
        LOCAL_API,
        "openssl s_client -connect <DEVICE>:8470 </dev/null 2>/dev/null | openssl x509 -noout "
        "-fingerprint -sha256",
    ): Run(Phase.CHECK, W, special="openssl"),
    (LOCAL_API, "sudo haochaping-provision certificate"): Run(Phase.CHECK),
    (LOCAL_API, "sudo systemctl restart haochaping-evaluator"): Run(Phase.CHECK),
    ("3. Check", "sudo haochaping-provision check"): Run(Phase.CHECK),
    ("3. Check", "sudo haochaping-provision check --no-province"): Run(Phase.CHECK),
    ("3. Check", "sudo systemctl stop haochaping-evaluator"): Run(Phase.CHECK),
    ("3. Check", "sudo haochaping-provision check --screen 5 --touch 15 --keypad 15"): Run(
        Phase.CHECK, special="person_check"
    ),
    ("3. Check", "sudo systemctl start haochaping-evaluator"): Run(Phase.CHECK),
    (LABEL, "sudo haochaping-provision show --label /tmp/label.png"): Run(Phase.CHECK),
    (LABEL, "scp -i <TECHNICIAN_KEY> technician@<DEVICE>:/tmp/label.png ."): Run(
        Phase.CHECK, W, special="scp"
    ),
    (
        "4. The first rating",
        'curl -s -H "Authorization: Bearer <LOCAL_API_TOKEN>" http://127.0.0.1:8470/api/v1/status',
    ): Run(Phase.PROVISION, special="status"),  # before [local_api] bind is changed
    (
        "4. The first rating",
        'curl -sk -H "Authorization: Bearer <LOCAL_API_TOKEN>" https://127.0.0.1:8470/api/v1/status',
    ): Run(Phase.CHECK, special="status"),
    (
        "4. The first rating",
        'sudo journalctl -u haochaping-evaluator -b --no-pager --grep "rating stored"',
    ): Run(Phase.AFTER_RATING),
    ("4. The first rating", "sudo haochaping-sync status"): Run(Phase.AFTER_RATING),
    (
        "5. Reading the logs",
        "systemctl status haochaping-evaluator haochaping-sync --no-pager",
    ): Run(Phase.AFTER_RATING),
    ("5. Reading the logs", "sudo journalctl -u haochaping-evaluator -b -n 50 --no-pager"): Run(
        Phase.AFTER_RATING
    ),
    ("5. Reading the logs", "sudo journalctl -u haochaping-sync --since today --no-pager"): Run(
        Phase.AFTER_RATING
    ),
    ("5. Reading the logs", "sudo journalctl --list-boots --no-pager"): Run(Phase.AFTER_RATING),
    ("5. Reading the logs", "journalctl --disk-usage"): Run(Phase.AFTER_RATING),
    ("5. Reading the logs", "sudo haochaping-sync status"): Run(Phase.AFTER_RATING),
    ("5. Reading the logs", "sudo haochaping-sync quarantine list"): Run(Phase.AFTER_RATING),
    ("5. Reading the logs", "sudo haochaping-sync identity-lost"): Run(Phase.AFTER_RATING),
    (
        "5. Reading the logs",
        "sudo haochaping-evaluator verify-ledger /var/lib/haochaping/ledger.db --expect-key-id "
        "<ENROLLED_KEY_ID>",
    ): Run(Phase.AFTER_RATING),
    (
        "5. Reading the logs",
        "sudo journalctl -b --no-pager -o short-iso > /tmp/device-journal.log",
    ): Run(Phase.AFTER_RATING),
    ("5. Reading the logs", "sudo journalctl -u haochaping-evaluator -f"): Run(
        Phase.AFTER_RATING, expect=124, why_expected="followed for 5 s, then stopped (Ctrl-C)",
        special="follow",
    ),
    ("5. Reading the logs", "sudo haochaping-sync quarantine requeue <EVALUATION_ID>"): Run(
        Phase.AFTER_RATING, expect=1, why_expected=RAISED
    ),
    ("6. Keypad", "ls -l /dev/serial/by-id/"): Run(Phase.AFTER_RATING),
    ("6. Keypad", "udevadm info --query=property --name=<KEYPAD_TTY>"): Run(
        Phase.AFTER_RATING, special="keypad_ids"
    ),
    ("6. Keypad", "sudo mount -o remount,rw /"): Run(Phase.AFTER_RATING),
    (
        "6. Keypad",
        "sudo cp /usr/local/lib/udev/rules.d/99-haochaping-keypad.rules /etc/udev/rules.d/",
    ): Run(Phase.AFTER_RATING),
    ("6. Keypad", "sudo nano /etc/udev/rules.d/99-haochaping-keypad.rules"): Run(
        Phase.AFTER_RATING, special="edit_rule"
    ),
    ("6. Keypad", "sudo mount -o remount,ro /"): Run(Phase.AFTER_RATING),
    ("6. Keypad", "sudo udevadm control --reload"): Run(Phase.AFTER_RATING),
    ("6. Keypad", "sudo udevadm trigger --subsystem-match=tty"): Run(Phase.AFTER_RATING),
    ("6. Keypad", "ls -l /dev/haochaping-keypad"): Run(Phase.AFTER_RATING, special="settle"),
    ("6. Keypad", "sudo systemctl disable hciuart"): NotRun(PI_HARDWARE),
    ("6. Keypad", "ls -l /dev/ttyAMA0"): NotRun(PI_HARDWARE),
    ("7. Faults", "timedatectl status"): Run(Phase.AFTER_RATING),
    ("7. Faults", "timedatectl timesync-status"): Run(Phase.AFTER_RATING),
    ("7. Faults", "sudo timedatectl set-ntp true"): Run(Phase.AFTER_RATING),
    ("7. Faults", "sudo systemctl restart systemd-timesyncd"): Run(Phase.AFTER_RATING),
    ("7. Faults", "df -h /var/lib/haochaping"): Run(Phase.AFTER_RATING),
    ("7. Faults", "sudo journalctl --vacuum-size=50M"): Run(Phase.AFTER_RATING),
    ("7. Faults", "sudo dmesg --level=err,warn"): Run(Phase.AFTER_RATING),
    ("7. Faults", "sudo cp -a /var/lib/haochaping /data/haochaping-evidence"): Run(
        Phase.AFTER_RATING
    ),
    ("7. Faults", "sudo ls -l /var/lib/haochaping"): Run(Phase.AFTER_RATING),
    ("8. Local changes to the services", "sudo mount -o remount,rw /"): Run(Phase.AFTER_RATING),
    ("8. Local changes to the services", "sudo systemctl edit haochaping-evaluator"): Run(
        Phase.AFTER_RATING, special="systemctl_edit"
    ),
    ("8. Local changes to the services", "sudo mount -o remount,ro /"): Run(Phase.AFTER_RATING),
    ("8. Local changes to the services", "sudo systemctl restart haochaping-evaluator"): Run(
        Phase.AFTER_RATING
    ),
    ("8. Local changes to the services", "systemctl cat haochaping-evaluator"): Run(
        Phase.AFTER_RATING, special="drop_in"
    ),
    ("9. Replace a broken device", "sudo systemctl stop haochaping-evaluator haochaping-sync"): Run(
        Phase.REPLACE
    ),
    ("9. Replace a broken device", "sudo haochaping-sync once"): Run(Phase.REPLACE),
    ("9. Replace a broken device", "sudo haochaping-sync status"): Run(Phase.REPLACE),
    ("9. Replace a broken device", "sudo haochaping-sync quarantine list"): Run(Phase.REPLACE),
    ("9. Replace a broken device", "sudo haochaping-provision decommission --yes"): Run(
        Phase.REPLACE
    ),
}  # fmt: skip

# What a person at an editor would type: the drop-in of the guide's own example (§8)
DROP_IN = "[Service]\nDeviceAllow=/dev/ttyS0 rw\n"
# systemctl edit opens a file whose lines below its marker are thrown away: type above it
EDITOR_SCRIPT = """#!/bin/sh
marker='^### Lines below this comment will be discarded'
if grep -q "$marker" "$1"; then
    sed -i -e "/$marker/i [Service]" -e "/$marker/i DeviceAllow=/dev/ttyS0 rw" "$1"
else
    printf '[Service]\\nDeviceAllow=/dev/ttyS0 rw\\n' >>"$1"
fi
"""
EDITOR_IN_GUEST = "/tmp/haochaping-editor"  # noqa: S108 (the guest's own tmpfs, this run's)
FOLLOW_S = 5


class GuideDriftError(RuntimeError):
    """The guide and PLAN no longer name the same commands."""


@dataclass
class Outcome:
    """One guide command: run (exit status, seconds) or not run (reason)."""

    command: GuideCommand
    ran: bool
    exit_code: int | None = None
    seconds: float = 0.0
    ran_as: str = ""
    expected: int = 0
    note: str = ""
    reason: str = ""
    output: str = ""

    @property
    def as_expected(self) -> bool:
        return not self.ran or self.exit_code == self.expected

    def record(self) -> dict[str, Any]:
        base: dict[str, Any] = {"line": self.command.line, "command": self.command.text}
        if not self.ran:
            return {**base, "reason": self.reason}
        base.update(exit=self.exit_code, seconds=round(self.seconds, 1))
        if self.expected:
            base["expected"] = self.expected
        if not self.as_expected:
            base["unexpected"] = True
            base["output_tail"] = self.output[-600:]
        if self.ran_as:
            base["ran_as"] = self.ran_as
        if self.note:
            base["note"] = self.note
        return base


def planned(guide: list[GuideCommand]) -> list[tuple[GuideCommand, Plan]]:
    """Each guide command with its plan; raises GuideDriftError when the two do not match."""
    keys = [(c.section, c.text) for c in guide]
    unknown = [
        f"line {c.line} ({c.section}): {c.text}" for c in guide if (c.section, c.text) not in PLAN
    ]
    stale = [f"{section}: {text}" for section, text in PLAN if (section, text) not in keys]
    if unknown or stale:
        raise GuideDriftError(
            "the field guide and the VM test's plan differ; "
            f"commands with no plan: {unknown}; plan entries not in the guide: {stale}"
        )
    return [(c, PLAN[(c.section, c.text)]) for c in guide]


@dataclass
class GuideRun:
    """Runs the guide's commands phase by phase; `outcomes` become the JSON line."""

    technician: Technician
    workdir: Path
    values: dict[str, str]
    local_api_port: int
    facts: dict[str, Any] = field(default_factory=dict)  # what special steps saw
    outcomes: list[Outcome] = field(default_factory=list)
    hands: Hands | None = None  # someone at the device (screen, touch, keypad)
    made_key: bool = False  # the keygen step made the key in this run
    image_command: str = ""
    image_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.steps = planned(commands())
        for command, plan in self.steps:
            if isinstance(plan, NotRun):
                self.outcomes.append(Outcome(command, ran=False, reason=plan.reason))

    # -- running ----------------------------------------------------------------------------

    def phase(self, phase: Phase) -> list[Outcome]:
        """Run every command of *phase* in the guide's order."""
        done: list[Outcome] = []
        for command, plan in self.steps:
            if isinstance(plan, Run) and plan.phase is phase:
                outcome = self._one(command, plan)
                self.outcomes.append(outcome)
                done.append(outcome)
        return done

    def _one(self, command: GuideCommand, plan: Run) -> Outcome:
        handler = getattr(self, f"_special_{plan.special}", None) if plan.special else None
        outcome = Outcome(command, ran=True, expected=plan.expect, note=plan.why_expected)
        if handler is not None:
            handler(command, outcome)
            return outcome
        text = command.filled(self.values)
        if plan.where is Where.DEVICE:
            done = self.technician.run(text, timeout_s=240)
        else:
            text, outcome.ran_as = self._on_workstation(text)
            done = self.technician.local(text, timeout_s=600, cwd=self.workdir)
        self._finish(outcome, done)
        return outcome

    @staticmethod
    def _finish(outcome: Outcome, done: Done) -> None:
        outcome.exit_code = done.exit_code
        outcome.seconds = done.seconds
        outcome.output = done.output

    def _on_workstation(self, text: str) -> tuple[str, str]:
        """The command as this host runs it; the second part says what changed, if anything."""
        if text.startswith("sudo ") and os.geteuid() == 0:
            return text[len("sudo ") :], "without sudo (this run is root already)"
        return text, ""

    def output_of(self, line_text: str) -> str:
        """The output of the last command run whose text is *line_text*."""
        for outcome in reversed(self.outcomes):
            if outcome.ran and outcome.command.text == line_text:
                return outcome.output
        return ""

    # -- special steps -----------------------------------------------------------------------

    def _special_keygen(self, command: GuideCommand, outcome: Outcome) -> None:
        if self.made_key:
            outcome.exit_code = 0
            outcome.ran_as = (
                f"{shlex.join(KEYGEN)} <TECHNICIAN_KEY> (-N '': no passphrase, nobody types "
                "one in a test)"
            )
            outcome.note = "made in this run, before the image was built"
        else:
            outcome.ran = False
            outcome.reason = (
                "not run in this run: the key it made in an earlier run is used again (its "
                "public half is one of the cached image's inputs)"
            )

    def _special_image(self, command: GuideCommand, outcome: Outcome) -> None:
        outcome.exit_code, outcome.seconds = 0, self.image_seconds
        outcome.ran_as = self.image_command
        outcome.note = (
            "what ./dev image runs after its own set-up (Debian packages, the venv); "
            "a cached image is named at once"
        )

    def _special_login(self, command: GuideCommand, outcome: Outcome) -> None:
        words = shlex.split(command.filled(self.values))
        argv = [words[0], "-F", str(self.technician.config), *words[1:]]
        done = self.technician.local(argv, 120, stdin="sudo -n true && exit\n")
        self._finish(outcome, done)
        outcome.ran_as = (
            f"{shlex.join(argv)} (the run's ssh options: the forwarded port, known hosts); "
            "typed: sudo -n true && exit"
        )

    def _special_scp(self, command: GuideCommand, outcome: Outcome) -> None:
        words = shlex.split(command.filled(self.values))
        argv = [words[0], "-F", str(self.technician.config), *words[1:]]
        done = self.technician.local(argv, 120, cwd=self.workdir)
        self._finish(outcome, done)
        outcome.ran_as = shlex.join(argv) + " (the run's ssh options)"
        label = self.workdir / "label.png"
        png = label.is_file() and label.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        self.facts["label_copied"] = png

    def _special_openssl(self, command: GuideCommand, outcome: Outcome) -> None:
        text = command.filled({**self.values, "DEVICE": "127.0.0.1"})
        text = text.replace("127.0.0.1:8470", f"127.0.0.1:{self.local_api_port}")
        done = self.technician.local(text, 60)
        self._finish(outcome, done)
        outcome.ran_as = text + " (the device's 8470 as QEMU forwards it to this host)"
        match = re.search(r"Fingerprint=([0-9A-F:]+)", done.stdout)
        self.facts["openssl_fingerprint"] = match.group(1) if match else None

    def _special_init(self, command: GuideCommand, outcome: Outcome) -> None:
        ca = self.values["CA_BUNDLE_IN_GUEST"]
        text = command.filled(self.values) + f" --ca-bundle {ca}"
        self._finish(outcome, self.technician.run(text, timeout_s=240))
        outcome.ran_as = (
            f"... --ca-bundle {ca} (the guide's option for a province whose certificate is "
            "not from a public CA: the stand-in's own CA)"
        )

    def _special_timesync(self, command: GuideCommand, outcome: Outcome) -> None:
        # the restart above: give timesyncd a moment to ask the hall's server
        done = self.technician.run(command.text, 30)
        for _ in range(20):
            if "Packet count: 0" not in done.stdout and "Server:" in done.stdout:
                break
            time.sleep(1)
            done = self.technician.run(command.text, 30)
        self._finish(outcome, done)
        match = re.search(r"Server:\s*(\S+)", done.stdout)
        self.facts["ntp_server"] = match.group(1) if match else None

    def _special_follow(self, command: GuideCommand, outcome: Outcome) -> None:
        text = f"timeout -s INT {FOLLOW_S} {command.text}"
        self._finish(outcome, self.technician.run(text, FOLLOW_S + 30))
        outcome.ran_as = f"{text} (Ctrl-C after {FOLLOW_S} s)"

    def _special_keypad_ids(self, command: GuideCommand, outcome: Outcome) -> None:
        done = self.technician.run(command.filled(self.values), 30)
        self._finish(outcome, done)
        ids = dict(re.findall(r"^(ID_VENDOR_ID|ID_MODEL_ID)=(\w+)$", done.stdout, re.M))
        self.facts["keypad_ids"] = ids

    def _special_edit_rule(self, command: GuideCommand, outcome: Outcome) -> None:
        """What the technician does in the editor: the ids `udevadm info` showed in place of
        the first placeholder pair."""
        ids = self.facts.get("keypad_ids", {})
        vendor, model = ids.get("ID_VENDOR_ID", ""), ids.get("ID_MODEL_ID", "")
        if not (vendor and model):
            outcome.exit_code = 1
            outcome.output = "udevadm info showed no ID_VENDOR_ID / ID_MODEL_ID"
            return
        path = shlex.split(command.text)[-1]
        edit = (
            f'sudo sed -i \'0,/ATTRS{{idVendor}}=="2e8a", ATTRS{{idProduct}}=="000a"/'
            f's//ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{model}"/\' {path}'
        )
        self._finish(outcome, self.technician.run(edit, 30))
        outcome.ran_as = f"{edit} (the edit a person makes in nano)"

    def _special_settle(self, command: GuideCommand, outcome: Outcome) -> None:
        done = self.technician.run("sudo udevadm settle --timeout=20 && " + command.text, 40)
        self._finish(outcome, done)
        outcome.ran_as = "udevadm settle first (the trigger's events are handled in the background)"

    def _special_systemctl_edit(self, command: GuideCommand, outcome: Outcome) -> None:
        editor = f"cat >{EDITOR_IN_GUEST} && chmod 755 {EDITOR_IN_GUEST}"
        prepared = self.technician.run(editor, 30, stdin=EDITOR_SCRIPT)
        if prepared.exit_code != 0:
            self._finish(outcome, prepared)
            return
        text = command.text.replace("sudo ", f"sudo SYSTEMD_EDITOR={EDITOR_IN_GUEST} ", 1)
        self._finish(outcome, self.technician.run(text, 60, tty=True))
        outcome.ran_as = (
            f"{text} (on a terminal, ssh -tt; the editor types the guide's example drop-in: "
            f"{DROP_IN!r})"
        )

    def _special_token(self, command: GuideCommand, outcome: Outcome) -> None:
        """grep: the token it shows is <LOCAL_API_TOKEN> from here on."""
        done = self.technician.run(command.text, 30)
        self._finish(outcome, done)
        match = re.search(r'^token = "(.+)"$', done.stdout, re.M)
        if match is None:
            outcome.exit_code = outcome.exit_code or 1
            outcome.note = "it showed no token"
        else:
            self.values["LOCAL_API_TOKEN"] = match.group(1)

    def _special_status(self, command: GuideCommand, outcome: Outcome) -> None:
        """curl: exit 0 is not enough, the answer must be the device's state."""
        done = self.technician.run(command.filled(self.values), 60)
        self._finish(outcome, done)
        try:
            state = json.loads(done.stdout)
        except ValueError:
            state = None
        if not isinstance(state, dict) or "phase" not in state:
            outcome.exit_code = outcome.exit_code or 1
            outcome.note = "the answer was not the device's state (JSON with a phase)"
        self.facts.setdefault("status_phases", []).append(
            state.get("phase") if isinstance(state, dict) else None
        )

    def _special_person_check(self, command: GuideCommand, outcome: Outcome) -> None:
        if self.hands is None:
            outcome.exit_code, outcome.output = 1, "nobody at the device in this run"
            return
        person = Person(self.hands, self.workdir / "at-the-device")
        argv = [*self.technician.ssh(), "--", command.filled(self.values)]
        said = converse(argv, person.rules(), tick=person.tick)
        outcome.exit_code, outcome.seconds, outcome.output = (
            said.exit_code,
            said.seconds,
            said.output,
        )
        outcome.ran_as = (
            "with someone at the device: the number read off QEMU's capture of the screen and "
            "typed back, each corner's target tapped with the usb-tablet, each key asked for "
            "pressed on the virtual keypad"
        )
        # (a verdict may follow the number's prompt on its line: what is typed is not echoed)
        verdict = r"\b(PASS|FAIL|SKIP)\s+(screen|touch|keypad)\b"
        items = re.findall(verdict, said.output)
        self.facts["at_the_device"] = {
            "items": {name: verdict for verdict, name in items},
            "numbers_read": person.numbers_read,
            "typed": said.typed,
            "taps": person.taps,
            "presses": person.presses,
        }

    def _special_interactive_init(self, command: GuideCommand, outcome: Outcome) -> None:
        """`init` asking its questions, the technician answering with the hall's values."""
        v = self.values
        by_question = {
            "Province base URL": v["PROVINCE_URL"],
            "Enrolment token": v["TOKEN"],
            "Mode (window / self_service)": "window",
            "Area code": v["AREA_CODE"],
            "Department code": v["DEPT_CODE"],
            "Hall code": v["HALL_CODE"],
            "Window number": v["WINDOW_NO"],
            "Keypad port": v["KEYPAD_PORT"],
            "Rate-later phone page": v["RATE_LATER_URL"],
            "Screen size": "native",
        }
        ca = v["CA_BUNDLE_IN_GUEST"]
        text = f"{command.text} --ca-bundle {ca}"
        said = converse([*self.technician.ssh(), "--", text], answers(by_question))
        outcome.exit_code, outcome.seconds, outcome.output = (
            said.exit_code,
            said.seconds,
            said.output,
        )
        outcome.ran_as = (
            f"{text} (the stand-in's CA, as for the other init); the questions answered with "
            "the hall's values, as typed: "
            + " | ".join("<token>" if t == v["TOKEN"] else t for t in said.typed)
        )
        self.facts["interactive_init_questions"] = len(said.typed)

    def again(self, section: str, text: str, note: str) -> Outcome:
        """Run a guide command once more (e.g. on the replacement device)."""
        command, plan = next(
            (c, p) for c, p in self.steps if (c.section, c.text) == (section, text)
        )
        assert isinstance(plan, Run)
        outcome = self._one(command, plan)
        outcome.note = note
        self.outcomes.append(outcome)
        return outcome

    def _special_drop_in(self, command: GuideCommand, outcome: Outcome) -> None:
        done = self.technician.run(command.text, 30)
        self._finish(outcome, done)
        self.facts["drop_in_applied"] = "DeviceAllow=/dev/ttyS0 rw" in done.stdout

    # -- the JSON -------------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        ran = [o.record() for o in sorted(self.outcomes, key=lambda o: o.command.line) if o.ran]
        not_run = [
            o.record() for o in sorted(self.outcomes, key=lambda o: o.command.line) if not o.ran
        ]
        unexpected = [o.command.line for o in self.outcomes if not o.as_expected]
        missing = [
            c.line
            for c, plan in self.steps
            if isinstance(plan, Run) and not any(o.command is c for o in self.outcomes)
        ]
        return {
            "commands": len(self.steps),
            "ran": ran,
            "not_run": not_run,
            "unexpected": unexpected,
            "never_reached": missing,
        }

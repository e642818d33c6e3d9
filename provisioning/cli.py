"""`haochaping-provision`: set up, test, identify, re-key and retire a device on site."""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click

from device.daemon.cli_options import DEFAULT_CONFIG, config_option, verbose_option
from device.daemon.config import Config, RateLaterSection, load
from device.daemon.logsetup import configure
from device.errors import HaochapingError
from device.flow.mode import Mode
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.store import Ledger, LedgerError
from device.screen.fonts import FontError
from provisioning.certificate import certificate_fingerprint, make_certificate
from provisioning.checks import Outcome, run_all
from provisioning.decommission import decommission
from provisioning.display_question import ask_display
from provisioning.gm_enroll import gm_enroll_cmd, show_lines
from provisioning.interview import interview, question_options
from provisioning.keypad_check import check_keypad
from provisioning.label import label_text, write_label
from provisioning.questions import QUESTIONS, Here
from provisioning.rotate import rotate_key
from provisioning.screen_check import check_screen
from provisioning.serial_ports import BY_ID
from provisioning.setup_device import display_of, hand_over, provision, site_of, summary
from provisioning.touch_check import check_touch

SERVICES = ("haochaping-evaluator", "haochaping-sync")


def _prompt_or_refuse(no_input: bool) -> Callable[[str, str], str]:
    """click's prompt, or, with --no-input, a refusal naming the missing option."""

    def refuse(question: str, default: str) -> str:
        raise click.UsageError(f"--no-input: missing --display-kind or --return-url ({question})")

    return refuse if no_input else click.prompt


def _config(config_path: Path) -> Config:
    try:
        return load(config_path)
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc


def _restart_services() -> None:
    """Restart running services so they use the new key; say so when that is not possible."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        click.echo("restart the evaluator and the sync so they use the new key")
        return
    result = subprocess.run(  # noqa: S603 (systemctl from PATH, fixed arguments)
        [systemctl, "try-restart", *SERVICES],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        click.echo(
            f"could not restart the services ({result.stderr.strip()}); "
            f"run: systemctl restart {' '.join(SERVICES)}"
        )


@click.group()
@verbose_option
def main(verbose: bool) -> None:
    """Provision and test 好差评 evaluators in the field."""
    configure(verbose)


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Where to write the configuration.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default="/var/lib/haochaping",
    show_default=True,
    help="Ledger, keys and other state.",
)
@question_options(QUESTIONS)
@click.option(
    "--ca-bundle",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA bundle that signs the province's certificate (if not a public CA).",
)
@click.option("--local-api-port", default=8470, show_default=True, help="Local API port.")
@click.option(
    "--no-input",
    is_flag=True,
    help="Ask nothing: every answer comes from its option (scripts); a missing one is an error.",
)
@click.option(
    "--serial-by-id",
    type=click.Path(path_type=Path),
    default=str(BY_ID),
    show_default=True,
    help="Where to look for serial ports (the keypad).",
)
@click.option(
    "--display-kind",
    type=click.Choice(["screen", "web"]),
    default=None,
    help="Self-service: the evaluator's own screen, or the rating page in the terminal's "
    "browser (asked when not given).",
)
@click.option(
    "--return-url",
    "return_urls",
    multiple=True,
    help="Web terminal: an address the rating page may send the browser back to (repeat).",
)
def init(
    config_path: Path,
    state_dir: Path,
    ca_bundle: str | None,
    local_api_port: int,
    no_input: bool,
    serial_by_id: Path,
    display_kind: str | None,
    return_urls: tuple[str, ...],
    **given: str | None,
) -> None:
    """Ask where the device stands, check each answer, then generate the device key here,
    enrol it with the province and write the configuration (full screen, or the rating page
    in a self-service terminal's browser)."""
    answers = interview(QUESTIONS, given, Here(by_id=serial_by_id), ask=not no_input)
    display, rate_page = ask_display(
        Mode(answers["mode"]), display_kind, return_urls, _prompt_or_refuse(no_input)
    )
    display = replace(display_of(answers), kind=display.kind)
    for line in summary(answers):
        click.echo(line)
    click.echo(f"display:    {display.kind.value}")
    try:
        config = provision(
            config_path=config_path,
            state_dir=state_dir,
            province_url=answers["province_url"],
            token=answers["token"],
            site=site_of(answers),
            ca_bundle=ca_bundle,
            keypad_port=answers.get("keypad_port"),
            local_api_port=local_api_port,
            display=display,
            rate_later=RateLaterSection(url_template=answers["rate_later_url"]),
            rate_page=rate_page,
        )
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"enrolled as {config.province.device_id} (key {config.province.key_id}); "
        f"configuration written to {config_path}"
    )
    click.echo(f"local API certificate SHA-256: {certificate_fingerprint(config.state_dir)}")


@main.command()
@config_option
@click.option("--no-province", is_flag=True, help="Skip the province check (offline install).")
@click.option(
    "--screen",
    "screen_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Show a test pattern with a number for this many seconds, then ask for the number.",
)
@click.option(
    "--touch",
    "touch_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Ask for a tap on a target in each corner, waiting this many seconds for each.",
)
@click.option(
    "--keypad",
    "keypad_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Ask for keys 1-5, waiting this many seconds for each.",
)
@click.option(
    "--no-input",
    is_flag=True,
    help="Nobody at the device: the screen test shows its pattern and reports it skipped.",
)
def check(
    config_path: Path,
    no_province: bool,
    screen_s: float | None,
    touch_s: float | None,
    keypad_s: float | None,
    no_input: bool,
) -> None:
    """Self-test: one PASS/FAIL/SKIP line per item, with what to do about each failure.

    The screen, touch and key tests need someone at the device (and the evaluator stopped:
    it holds the screen and the keypad); left out, they are reported as skipped."""

    def read_back() -> str | None:
        if no_input:
            return None
        try:
            return str(
                click.prompt("type the number the screen showed", default="", show_default=False)
            )
        except click.Abort:
            return ""  # the input ended: nothing was typed

    def screen(config: Config) -> Outcome:
        click.echo(f"look at the screen: a test pattern with a number, for {screen_s:g} s")
        return check_screen(config, screen_s or 0.0, read_back)

    def touch(config: Config) -> Outcome:
        return check_touch(config, click.echo, touch_s or 15.0)

    def keypad(config: Config) -> Outcome:
        return check_keypad(config, click.echo, keypad_s or 15.0)

    failed, skipped = 0, []
    for outcome in run_all(
        config_path,
        province=not no_province,
        screen=screen if screen_s is not None else None,
        touch=touch if touch_s is not None else None,
        keypad=keypad if keypad_s is not None else None,
    ):
        click.echo(outcome.line())
        failed += outcome.ok is False
        if outcome.ok is None:
            skipped.append(outcome.name)
    untested = f"; not tested: {', '.join(skipped)}" if skipped else ""
    if failed:
        click.echo(f"{failed} check(s) failed{untested}")
    else:
        click.echo(("all checks passed" if not skipped else "no check failed") + untested)
    sys.exit(1 if failed else 0)


@main.command()
@config_option
@click.option(
    "--label",
    "--qr",
    "qr_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the asset label (text beside a QR code, 62 mm tape, 300 dpi) to this PNG.",
)
def show(config_path: Path, qr_path: Path | None) -> None:
    """Device id, key fingerprint, site and backlog."""
    config = _config(config_path)
    try:
        key = DeviceKey.load(config.key_path)
        fingerprint = hashlib.sha256(key.public_raw).hexdigest()
    except KeyFileError as exc:
        fingerprint = f"unavailable ({exc})"
    backlog = "no ledger yet"
    if config.ledger_path.exists():
        try:
            with Ledger(config.ledger_path) as ledger:
                backlog = f"{ledger.backlog()} unsent, {ledger.quarantined()} quarantined"
        except LedgerError as exc:
            backlog = f"unreadable ({exc})"
    site = config.site
    place = (
        f"window {site.window_no}"
        if config.device.mode == "window"
        else (f"terminal {site.terminal_no}")
    )
    click.echo(f"device id:    {config.province.device_id}")
    click.echo(f"key id:       {config.province.key_id}")
    enrolled = config.province.enrolled_key_id or "(not recorded)"
    click.echo(f"enrolled key: {enrolled} (haochaping-evaluator verify-ledger --expect-key-id)")
    click.echo(f"fingerprint:  {' '.join(fingerprint[i : i + 8] for i in range(0, 64, 8))}")
    click.echo(
        f"site:         area {site.area_code}, dept {site.dept_code}, hall "
        f"{site.hall_code or '-'}, {place} (pf {site.pf})"
    )
    click.echo(f"province:     {config.province.base_url}")
    pinned = config.province.province_key_id
    if config.sync.adapter != "gm-soap":  # a 国密 province's keys: show_lines below
        click.echo(
            f"province key: {pinned} (pinned at enrolment; receipts checked)"
            if pinned
            else "province key: none (version-1 province: deliveries unproven)"
        )
    api = config.local_api
    scheme = "https" if api.serves_tls else "http (loopback only)"
    click.echo(f"local API:    {api.bind}:{api.port}, {scheme}, token ********")
    pin = certificate_fingerprint(config.state_dir)
    pin = f"SHA-256 {pin}" if pin else "none: make one with `haochaping-provision certificate`"
    click.echo(f"certificate:  {pin}")
    for line in show_lines(config):
        click.echo(line)
    click.echo(f"ratings:      {backlog}")
    if qr_path:
        try:
            write_label(config, qr_path)
        except FontError as exc:
            raise click.ClickException(f"label not written: {exc}") from exc
        click.echo(f"label:        {qr_path} (62 mm tape, 300 dpi; QR: {label_text(config)})")


@main.command("certificate")
@config_option
@click.option("--renew", is_flag=True, help="Replace the certificate there is (clients re-pin).")
def certificate_cmd(config_path: Path, renew: bool) -> None:
    """Make the local API's HTTPS certificate (devices provisioned without one)."""
    config = _config(config_path)
    pin = certificate_fingerprint(config.state_dir)
    if pin is not None and not renew:
        click.echo(f"certificate there already (--renew replaces it); SHA-256: {pin}")
        return
    pin = make_certificate(config.state_dir, config.province.device_id)
    hand_over(config, config_path, "haochaping")
    click.echo(f"local API certificate SHA-256: {pin}")
    click.echo("pin this fingerprint in the business system; restart the evaluator to use it")


@main.command("rotate-key")
@config_option
def rotate_key_cmd(config_path: Path) -> None:
    """Enrol a new device key with the province; earlier ratings stay verifiable."""
    config = _config(config_path)
    try:
        old, new = rotate_key(config, config_path)
    except (HaochapingError, ValueError) as exc:
        raise click.ClickException(f"key not rotated: {exc}") from exc
    click.echo(f"key rotated: {old} -> {new}")
    _restart_services()


@main.command("decommission")
@config_option
@click.option("--force", is_flag=True, help="Even with ratings not yet delivered (they are lost).")
@click.confirmation_option(prompt="Wipe this device's keys and personal data?")
def decommission_cmd(config_path: Path, force: bool) -> None:
    """Retire the device: wipe keys and personal data; keep the signed ledger as evidence."""
    config = _config(config_path)
    try:
        done = decommission(config, config_path, force)
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc
    if done.undelivered:
        click.echo(f"warning: {done.undelivered} undelivered ratings left behind (--force)")
    click.echo(
        f"wiped: {', '.join(done.files_wiped) or 'no key files'}; "
        f"personal data of {done.identities_wiped} ratings removed; "
        f"ledger kept at {config.ledger_path}"
    )


main.add_command(gm_enroll_cmd)

if __name__ == "__main__":
    main()

"""`haochaping-provision`: set up, test, identify, re-key and retire a device on site."""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import click

from device.daemon.cli_options import DEFAULT_CONFIG, config_option, verbose_option
from device.daemon.config import Config, load
from device.daemon.logsetup import configure
from device.errors import HaochapingError
from device.flow.mode import Mode
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.store import Ledger, LedgerError
from provisioning.certificate import certificate_fingerprint, make_certificate
from provisioning.checks import Outcome, run_all
from provisioning.decommission import decommission
from provisioning.display_question import ask_display
from provisioning.keypad_check import check_keypad
from provisioning.label import label_text, write_label
from provisioning.rotate import rotate_key
from provisioning.setup_device import SiteAnswers, hand_over, provision

SERVICES = ("haochaping-evaluator", "haochaping-sync")


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
@click.option(
    "--province-url", prompt="Province base URL", help="e.g. https://hcp.example.gov.cn/api/v1"
)
@click.option("--token", prompt="Enrolment token", hide_input=True, help="Issued by the province.")
@click.option("--area-code", prompt="Area code (行政区划代码)", help="6-12 digits.")
@click.option("--dept-code", prompt="Department code (统一社会信用代码)", help="18 characters.")
@click.option(
    "--mode",
    type=click.Choice(["window", "self_service"]),
    default="window",
    show_default=True,
    help="Window evaluator (pf 4) or self-service terminal (pf 5).",
)
@click.option("--hall-code", default=None, help="Service hall code.")
@click.option("--window-no", default=None, help="Window number (window mode).")
@click.option("--terminal-no", default=None, help="Terminal number (self-service mode).")
@click.option("--ca-bundle", default=None, help="CA bundle that signs the province's certificate.")
@click.option("--keypad-port", default=None, help="Keypad device path or pyserial URL.")
@click.option("--local-api-port", default=8470, show_default=True, help="Local API port.")
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
    province_url: str,
    token: str,
    area_code: str,
    dept_code: str,
    mode: str,
    hall_code: str | None,
    window_no: str | None,
    terminal_no: str | None,
    ca_bundle: str | None,
    keypad_port: str | None,
    local_api_port: int,
    display_kind: str | None,
    return_urls: tuple[str, ...],
) -> None:
    """Generate the device key here, enrol it with the province, write the configuration."""
    display, rate_page = ask_display(Mode(mode), display_kind, return_urls, click.prompt)
    site = SiteAnswers(
        area_code=area_code,
        dept_code=dept_code,
        mode=Mode(mode),
        hall_code=hall_code,
        window_no=window_no,
        terminal_no=terminal_no,
    )
    try:
        config = provision(
            config_path=config_path,
            state_dir=state_dir,
            province_url=province_url,
            token=token,
            site=site,
            ca_bundle=ca_bundle,
            keypad_port=keypad_port,
            local_api_port=local_api_port,
            display=display,
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
    type=float,
    default=0.0,
    help="Show a test pattern for this many seconds.",
)
@click.option(
    "--keypad",
    "keypad_timeout",
    type=float,
    default=None,
    help="Ask for keys 1-5, waiting this many seconds for each.",
)
def check(
    config_path: Path, no_province: bool, screen_s: float, keypad_timeout: float | None
) -> None:
    """Self-test: one PASS/FAIL line per item, with what to do about each failure."""

    def keypad(config: Config) -> Outcome:
        return check_keypad(config, click.echo, keypad_timeout or 15.0)

    failed = 0
    for outcome in run_all(
        config_path,
        province=not no_province,
        screen_s=screen_s,
        keypad=keypad if keypad_timeout is not None else None,
    ):
        click.echo(outcome.line())
        failed += outcome.ok is False
    click.echo("all checks passed" if not failed else f"{failed} check(s) failed")
    sys.exit(1 if failed else 0)


@main.command()
@config_option
@click.option(
    "--qr",
    "qr_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write an asset label (QR code) to this PNG file.",
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
    click.echo(f"ratings:      {backlog}")
    if qr_path:
        write_label(config, qr_path)
        click.echo(f"label:        {qr_path} ({label_text(config)})")


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


if __name__ == "__main__":
    main()

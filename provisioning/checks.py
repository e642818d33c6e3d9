"""`haochaping-provision check`: the technician's self-test, one line per item with pass or
fail and, on failure, what to do about it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from device.daemon.clock import SystemClock
from device.daemon.config import Config, ConfigError, load
from device.keys.identity_vault import IdentityVault, VaultError
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.identity_key import key_problem
from device.ledger.store import Ledger, LedgerError
from device.ledger.verify import verify_ledger
from device.record import tag_catalog
from device.screen.fonts import FontError, load_font
from device.screen.texts import Texts
from provisioning.answers import keypad_url, placeholder_problem
from provisioning.serial_ports import port_problem
from sync.jobs import heartbeat_body
from sync.province_client import ProvinceClient, ProvinceError

BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        text = f"{mark}  {self.name:<20} {self.detail}"
        return text + (f"\n      -> {self.fix}" if self.fix and not self.ok else "")


def check_config(path: Path) -> tuple[Outcome, Config | None]:
    try:
        config = load(path)
    except ConfigError as exc:
        return Outcome(
            "configuration",
            False,
            str(exc),
            "correct the file, or run haochaping-provision init again",
        ), None
    return Outcome("configuration", True, str(path)), config


def check_key(config: Config) -> Outcome:
    try:
        key = DeviceKey.load(config.key_path)
        IdentityVault.load(config.identity_key_path)
    except (KeyFileError, VaultError) as exc:
        return Outcome(
            "device key",
            False,
            str(exc),
            "restore the key file or re-provision (a new key must be enrolled)",
        )
    mode = config.identity_key_path.stat().st_mode & 0o777
    if mode & 0o077:
        return Outcome(
            "device key",
            False,
            f"identity key mode {mode:o}",
            f"chmod 600 {config.identity_key_path}",
        )
    wrong = _identity_key_problem(config)
    if wrong is not None:
        return Outcome(
            "device key",
            False,
            wrong,
            f"put back the {config.identity_key_path.name} that sealed the raters' personal "
            "data (from the backup); do not make a new one and do not delete anything",
        )
    if key.key_id != config.province.key_id:
        return Outcome(
            "device key",
            False,
            f"key {key.key_id} is not the enrolled key {config.province.key_id}",
            "run haochaping-provision rotate-key, or restore the enrolled key",
        )
    return Outcome("device key", True, f"key {key.key_id}, mode 600")


def _identity_key_problem(config: Config) -> str | None:
    """Whether identity.key is the key that sealed the personal data held in the ledger."""
    if not config.ledger_path.exists():
        return None
    try:
        with Ledger(config.ledger_path) as ledger:
            return key_problem(ledger, config.identity_key_path)
    except LedgerError:
        return None  # the ledger line says what is wrong with it


def check_ledger(config: Config) -> Outcome:
    if not config.ledger_path.exists():
        return Outcome("ledger", True, "no ratings yet")
    anchor = config.province.enrolled_key_id or None
    report = verify_ledger(
        config.ledger_path,
        IdentityVault.load(config.identity_key_path),
        expect_key_id=anchor,
        province_sm2_key=config.gm.province_sm2_key if config.sync.adapter == "gm-soap" else None,
    )
    bad = report.first_bad  # None exactly when the report is ok
    if bad is not None:
        where = f"at seq {bad.seq}: " if bad.seq else ""
        more = f" (and {len(report.findings) - 1} more)" if len(report.findings) > 1 else ""
        return Outcome(
            "ledger",
            False,
            f"bad {where}{bad.problem}{more}",
            "do not delete anything; keep the file and report it (it is evidence)",
        )
    anchored = f", keys certified from {anchor}" if anchor else ""
    if report.notes:
        anchored += f"; {report.sent_without_identity} sent without personal data (identity lost)"
    return Outcome("ledger", True, f"{report.rows} ratings, signatures and chain intact{anchored}")


STUCK_AFTER = timedelta(hours=24)


def check_backlog(config: Config, now: datetime | None = None) -> Outcome:
    """Ratings waiting to leave: a backlog is normal during an outage, one older than a day
    means deliveries are stuck."""
    if not config.ledger_path.exists():
        return Outcome("deliveries", True, "no ratings yet")
    with Ledger(config.ledger_path) as ledger:
        waiting = ledger.outbox.backlog()
        oldest = ledger.outbox.oldest_unsent_assess_time()
        quarantined = ledger.outbox.quarantined()
    if waiting == 0 or oldest is None:
        return Outcome("deliveries", True, f"nothing waiting ({quarantined} quarantined)")
    since = datetime.strptime(oldest, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    stuck = (now or datetime.now(UTC)) - since > STUCK_AFTER
    detail = f"{waiting} waiting since {oldest} (Beijing time), {quarantined} quarantined"
    if stuck:
        return Outcome(
            "deliveries",
            False,
            detail,
            "haochaping-sync status; check the network and the province",
        )
    return Outcome("deliveries", True, detail)


def check_province(config: Config) -> Outcome:
    p = config.province
    key = DeviceKey.load(config.key_path)
    client = ProvinceClient(
        p.base_url, p.device_id, key, ca_bundle=p.ca_bundle, connect_timeout_s=5, read_timeout_s=10
    )
    try:
        with Ledger(config.ledger_path) as ledger:
            body = heartbeat_body(config, ledger)
        client.call("POST", f"/devices/{p.device_id}/heartbeat", body)
    except ProvinceError as exc:
        return Outcome(
            "province",
            False,
            str(exc),
            "check the network, the CA bundle and that the device is enrolled",
        )
    except LedgerError as exc:
        return Outcome("province", False, str(exc), "see the ledger line")
    finally:
        client.close()
    return Outcome("province", True, f"{p.base_url} accepts this device's signature")


def ntp_enabled() -> bool | None:
    """Whether systemd-timesyncd is switched on (`timedatectl show`); None when not known."""
    timedatectl = shutil.which("timedatectl")
    if timedatectl is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 (timedatectl from PATH, fixed arguments)
            [timedatectl, "show", "--property=NTP", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = result.stdout.strip()
    return {"yes": True, "no": False}.get(answer) if result.returncode == 0 else None


def check_clock(
    synced: Callable[[], bool] | None = None, ntp: Callable[[], bool | None] = ntp_enabled
) -> Outcome:
    """Synchronised as the kernel says (adjtimex); when not, the fix for why."""
    if (synced or SystemClock().synced)():
        return Outcome("clock", True, "synchronised (NTP)")
    detail = "not synchronised: ratings would be marked clockSynced=false"
    if ntp() is False:
        return Outcome(
            "clock",
            False,
            detail + "; time synchronisation is switched off",
            "enable systemd-timesyncd: sudo timedatectl set-ntp true; then wait for "
            "'System clock synchronized: yes' in timedatectl status",
        )
    return Outcome(
        "clock",
        False,
        detail + "; no NTP server answered yet",
        "the NTP server must be reachable: timedatectl timesync-status shows the server tried; "
        "a hall that blocks internet NTP needs its own server as NTP= in "
        "/etc/systemd/timesyncd.conf, then sudo systemctl restart systemd-timesyncd "
        "(and sudo timedatectl set-ntp true if it is off)",
    )


def check_keypad_fitted(config: Config) -> Outcome:
    """A window evaluator has its keypad configured and here; a terminal is touch only."""
    port = config.keypad.port
    if not config.device.mode.takes_keys:
        return Outcome("keypad", True, "none: a self-service terminal is touch only")
    if not port:
        return Outcome(
            "keypad",
            False,
            "a window evaluator without a keypad: raters could not press a key",
            "plug the keypad in and set [keypad] port (haochaping-provision init finds it "
            'under /dev/serial/by-id), e.g. port = "/dev/haochaping-keypad"',
        )
    if keypad_url(port):
        return Outcome("keypad", True, f"{port} (a serial URL: tried by the key test only)")
    problem = port_problem(port)
    if problem is not None:
        return Outcome(
            "keypad",
            False,
            problem,
            "check the keypad's cable; ls -l /dev/serial/by-id/ shows the ports there "
            "and [keypad] port must name one",
        )
    return Outcome("keypad", True, f"{port} present")


def check_rate_later(config: Config) -> Outcome:
    """The rate-later code must lead to the province's real phone page."""
    template = config.rate_later.url_template
    page = template.split("?", 1)[0]
    problem = placeholder_problem(template)
    if problem is not None:
        return Outcome(
            "rate later",
            False,
            f"the address {page or '(empty)'} {problem}: raters' codes would lead nowhere",
            "ask the province for its phone rating page and set [rate_later] url_template "
            "(or provision again: haochaping-provision init asks for it)",
        )
    return Outcome("rate later", True, page)


def check_disk(config: Config) -> Outcome:
    stats = os.statvfs(config.state_dir)
    free_mb = stats.f_bavail * stats.f_frsize // (1024 * 1024)
    needed = config.device.min_free_mb * 4
    if free_mb < needed:
        return Outcome(
            "disk",
            False,
            f"{free_mb} MB free in {config.state_dir}",
            f"free at least {needed} MB (the device stops below {config.device.min_free_mb} MB)",
        )
    return Outcome("disk", True, f"{free_mb} MB free")


def check_font(config: Config) -> Outcome:
    strings = [
        *Texts(config.display.language).all_strings(),
        *tag_catalog.load(config.state_dir).labels(),
    ]
    try:
        import pygame.freetype  # noqa: PLC0415 (only the font check needs it)

        pygame.freetype.init()
        chain = load_font(config.display.font, strings, config.display.fallback_fonts)
    except FontError as exc:
        return Outcome("CJK font", False, str(exc), "apt-get install fonts-wqy-microhei")
    coverage = chain.coverage()
    drawn = "".join(k for k, ok in coverage.items() if ok) or "none"
    if not all(coverage.values()):
        return Outcome(
            "CJK font",
            False,
            f"rare characters in names draw as 〓: CJK extensions covered: {drawn} of ABCDEF",
            "apt-get install fonts-hanazono (or set [display] fallback_fonts)",
        )
    return Outcome("CJK font", True, f"{config.display.font} has every glyph; extensions {drawn}")


Test = Callable[[Config], Outcome]


def run_all(
    config_path: Path,
    *,
    province: bool = True,
    screen: Test | None = None,
    touch: Test | None = None,
    keypad: Test | None = None,
) -> Iterator[Outcome]:
    """Every check in turn; the ones a person takes part in (screen, touch, keys) only when
    given, and otherwise reported as skipped, never as passed."""
    outcome, config = check_config(config_path)
    yield outcome
    if config is None:
        return
    key = check_key(config)
    yield key
    yield check_ledger(config) if key.ok else Outcome("ledger", None, "needs the key")
    if province and key.ok and config.sync.adapter == "gm-soap":
        from provisioning.gm_enroll import check_gm_province  # noqa: PLC0415 (no cycle)

        yield check_gm_province(config)
    elif province and key.ok:
        yield check_province(config)
    else:
        yield Outcome("province", None, "skipped" if key.ok else "needs the key")
    yield check_backlog(config) if key.ok else Outcome("deliveries", None, "needs the key")
    yield check_clock()
    yield check_disk(config)
    yield check_font(config)
    yield check_rate_later(config)
    fitted = check_keypad_fitted(config)
    yield fitted
    yield screen(config) if screen else Outcome("screen", None, "skipped (--screen SECONDS)")
    yield touch(config) if touch else Outcome("touch", None, "skipped (--touch SECONDS)")
    if keypad is not None and fitted.ok and config.keypad.port:
        yield keypad(config)
    else:
        why = "needs the keypad" if keypad is not None else "skipped (--keypad SECONDS)"
        yield Outcome("keypad keys", None, why)


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()

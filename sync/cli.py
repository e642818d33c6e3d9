"""`haochaping-sync`: run the delivery daemon, deliver once, show status, handle quarantine."""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from device.daemon.cli_options import config_option, verbose_option
from device.daemon.config import Config, load
from device.daemon.logsetup import configure
from device.errors import HaochapingError
from device.keys.identity_vault import VaultError
from device.keys.signing import DeviceKey
from device.ledger.identity_key import key_problem, open_vault
from device.ledger.store import Ledger
from sync.adapter import Adapter
from sync.backoff import Backoff
from sync.daemon import SyncDaemon
from sync.event_delivery import EventOutbox, EventRounds, ProvinceEventAdapter
from sync.export_adapter import MonthlyExport
from sync.gm.adapter import GmSoapAdapter
from sync.gm.setup import gm_client
from sync.jobs import Jobs
from sync.province_adapter import ProvinceAdapter
from sync.province_client import ProvinceClient
from sync.sender import Sender
from sync.status import render_text, sync_status

log = logging.getLogger(__name__)


def _client(config: Config, key: DeviceKey) -> ProvinceClient:
    return ProvinceClient(
        config.province.base_url,
        config.province.device_id,
        key,
        ca_bundle=config.province.ca_bundle,
        connect_timeout_s=config.sync.connect_timeout_s,
        read_timeout_s=config.sync.read_timeout_s,
    )


def adapter_for(config: Config, key: DeviceKey) -> Adapter:
    if config.sync.adapter == "monthly-export":
        return MonthlyExport(Path(config.sync.export_dir or config.state_dir / "exports"))
    if config.sync.adapter == "gm-soap":
        return GmSoapAdapter(gm_client(config))
    return ProvinceAdapter(_client(config, key), config.province.pinned_key)


def carries_events(config: Config) -> bool:
    """Only the province adapter delivers case events; an export keeps them on the device."""
    return config.sync.adapter == "province-v1"


def event_rounds(config: Config, key: DeviceKey, ledger: Ledger) -> EventRounds | None:
    if not carries_events(config):
        return None
    adapter = ProvinceEventAdapter(_client(config, key), config.province.pinned_key)
    sender = Sender(ledger, adapter, None, config.sync.batch_size, outbox=EventOutbox(ledger))
    return EventRounds(ledger, sender)


def build(config: Config) -> SyncDaemon:
    key = DeviceKey.load(config.key_path)
    ledger = Ledger(config.ledger_path)
    try:  # never a new identity key, nor another one, while data sealed with it is held
        vault = open_vault(ledger, config.identity_key_path)
    except VaultError as exc:
        _remember_refusal(ledger, exc)
        ledger.close()
        raise
    sender = Sender(ledger, adapter_for(config, key), vault, config.sync.batch_size, key=key)
    backoff = Backoff(config.sync.backoff_base_s, config.sync.backoff_cap_s)
    return SyncDaemon(
        ledger,
        sender,
        idle_poll_s=config.sync.poll_seconds,
        backoff=backoff,
        events=event_rounds(config, key, ledger),
    )


def _remember_refusal(ledger: Ledger, exc: VaultError) -> None:
    """Keep why the sync does not start (nothing is sent) as its last error, for `status`;
    once per cause, as systemd starts it again every few seconds."""
    try:
        if ledger.sync_state.read().last_error != str(exc):
            ledger.sync_state.failed(str(exc), datetime.now(UTC).isoformat(timespec="seconds"))
    except HaochapingError as failed:
        log.warning("%s", failed)


def _load(config_path: Path) -> Config:
    try:
        return load(config_path)
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc


def _daemon(config: Config) -> SyncDaemon:
    try:
        return build(config)
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc


def _ledger(config: Config) -> Ledger:
    try:
        return Ledger(config.ledger_path)
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@verbose_option
def main(verbose: bool) -> None:
    """Deliver the evaluator's ratings to the provincial 好差评 system."""
    configure(verbose)


@main.command()
@config_option
def run(config_path: Path) -> None:
    """Deliver continuously until SIGTERM, with heartbeat, tag refresh and retention jobs."""
    config = _load(config_path)
    daemon = _daemon(config)
    jobs = Jobs(config, DeviceKey.load(config.key_path))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        daemon.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    jobs.start()
    try:
        daemon.run()
    finally:
        jobs.stop()
        daemon.sender.close()
        daemon.sender.adapter.close()
        if daemon.events is not None:
            daemon.events.close()


@main.command()
@config_option
@click.option("--timeout", default=60.0, show_default=True, help="Give up after this many seconds.")
def once(config_path: Path, timeout: float) -> None:
    """Deliver the whole backlog and exit: 0 when nothing is left to send."""
    daemon = _daemon(_load(config_path))
    left = daemon.run_until_empty(timeout)
    if left:
        click.echo(
            f"{left} ratings and case events still undelivered: {daemon.last_error or 'timed out'}",
            err=True,
        )
        sys.exit(1)
    click.echo("backlog delivered")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def status(config_path: Path, as_json: bool) -> None:
    """Backlog, oldest unsent, last success and error, quarantined count, receipts (ratings
    and case events), and whether the identity key opens the personal data held."""
    config = _load(config_path)
    with _ledger(config) as ledger:
        figures = sync_status(
            ledger,
            datetime.now(UTC),
            config.province.province_key_id,
            events_delivered=carries_events(config),
            gm_province=config.sync.adapter == "gm-soap",
            identity_key_problem=key_problem(ledger, config.identity_key_path),
        )
    click.echo(json.dumps(figures, ensure_ascii=False) if as_json else render_text(figures))


@main.command("identity-lost")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of text.")
def identity_lost(config_path: Path, as_json: bool) -> None:
    """Ratings sent without the rater's personal data because it could not be restored:
    when it was found, why, the key that signed what was sent, whether it was delivered."""
    with _ledger(_load(config_path)) as ledger:
        entries = ledger.identity_losses.entries()
    if not entries and not as_json:
        click.echo("no rating lost its personal data")
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry.as_json(), ensure_ascii=False))
            continue
        click.echo(
            f"seq {entry.seq}  {entry.evaluation_id}  case {entry.project_no}  "
            f"noted {entry.noted_at}: {entry.reason_text}; re-signed by key {entry.key_id}; "
            f"{entry.state}"
        )


@main.group()
def quarantine() -> None:
    """Ratings the province rejected: never resent blindly, never deleted."""


@quarantine.command("list")
@config_option
def quarantine_list(config_path: Path) -> None:
    """List quarantined ratings with the province's code and message."""
    with _ledger(_load(config_path)) as ledger:
        rows = ledger.outbox.quarantined_ratings()
    if not rows:
        click.echo("no quarantined ratings")
    for row in rows:
        click.echo(
            f"seq {row.seq}  {row.evaluation_id}  case {row.project_no}  {row.code}: {row.message}"
        )


@quarantine.command("requeue")
@config_option
@click.argument("evaluation_id")
def quarantine_requeue(config_path: Path, evaluation_id: str) -> None:
    """Send EVALUATION_ID again, once the cause was fixed at the province."""
    with _ledger(_load(config_path)) as ledger:
        if not ledger.outbox.requeue(evaluation_id):
            raise click.ClickException(f"{evaluation_id} is not in quarantine")
    click.echo(f"{evaluation_id} requeued")


if __name__ == "__main__":
    main()

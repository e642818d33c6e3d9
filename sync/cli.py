"""`haochaping-sync`: run the delivery daemon, or deliver the backlog once and exit."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from device.cli_options import config_option, verbose_option
from device.config import Config, ConfigError, load
from device.identity_vault import IdentityVault, VaultError
from device.ledger import Ledger, LedgerError
from device.logsetup import configure
from device.signing import DeviceKey, KeyFileError
from sync.daemon import SyncDaemon
from sync.province_client import ProvinceClient
from sync.sender import Sender


def build(config: Config) -> SyncDaemon:
    key = DeviceKey.load(config.key_path)
    vault = IdentityVault.load_or_create(config.identity_key_path)
    ledger = Ledger(config.ledger_path)
    client = ProvinceClient(
        config.province.base_url,
        config.province.device_id,
        key,
        ca_bundle=config.province.ca_bundle,
        connect_timeout_s=config.sync.connect_timeout_s,
        read_timeout_s=config.sync.read_timeout_s,
    )
    sender = Sender(ledger, client, vault, config.sync.batch_size)
    return SyncDaemon(ledger, sender, idle_poll_s=config.sync.poll_seconds)


def _daemon(config_path: Path) -> SyncDaemon:
    try:
        return build(load(config_path))
    except (ConfigError, KeyFileError, LedgerError, VaultError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@verbose_option
def main(verbose: bool) -> None:
    """Deliver the evaluator's ratings to the provincial 好差评 system."""
    configure(verbose)


@main.command()
@config_option
def run(config_path: Path) -> None:
    """Deliver continuously until SIGTERM, retrying through any outage."""
    daemon = _daemon(config_path)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        daemon.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    daemon.run()


@main.command()
@config_option
@click.option("--timeout", default=60.0, show_default=True, help="Give up after this many seconds.")
def once(config_path: Path, timeout: float) -> None:
    """Deliver the whole backlog and exit: 0 when nothing is left to send."""
    daemon = _daemon(config_path)
    left = daemon.run_until_empty(timeout)
    if left:
        click.echo(
            f"{left} ratings still undelivered: {daemon.last_error or 'timed out'}", err=True
        )
        sys.exit(1)
    click.echo("backlog delivered")

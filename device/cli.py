"""`haochaping-evaluator`: run the evaluator, and re-check a ledger's signatures and chain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from device.daemon.cli_options import config_option, verbose_option
from device.daemon.config import load
from device.daemon.logsetup import configure
from device.errors import HaochapingError
from device.keys.identity_vault import IdentityVault
from device.ledger.verify import verify_ledger


@click.group()
@verbose_option
def main(verbose: bool) -> None:
    """The 好差评 window evaluator."""
    configure(verbose)


@main.command()
@config_option
def run(config_path: Path) -> None:
    """Run the evaluator: screen, keypad and local API, until SIGTERM."""
    from device.evaluator.app import Evaluator  # noqa: PLC0415 (pygame only when needed)

    try:
        Evaluator(load(config_path)).run()
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("verify-ledger")
@click.argument("ledger", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--identity-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Identity key, to re-check ratings whose personal data is still held.",
)
def verify_ledger_cmd(ledger: Path, identity_key: Path | None) -> None:
    """Re-check every seal, signature and chain link of LEDGER; name the first bad row."""
    try:
        vault = IdentityVault.load(identity_key) if identity_key else None
        report = verify_ledger(ledger, vault)
    except (FileNotFoundError, HaochapingError) as exc:
        raise click.ClickException(str(exc)) from exc
    if report.first_bad is None:
        click.echo(
            f"ledger OK: {report.rows} ratings, chain intact, "
            f"{report.fully_verified} with the province signature re-checked"
        )
        return
    bad = report.first_bad
    if bad.seq == 0:
        click.echo(f"ledger BAD: {bad.problem}", err=True)
        sys.exit(1)
    click.echo(
        f"ledger BAD at seq {bad.seq}: {bad.problem} ({report.rows - 1} ratings before it verify)",
        err=True,
    )
    sys.exit(1)

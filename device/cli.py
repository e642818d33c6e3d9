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
    "--expect-key-id",
    help="The enrolled key id (from `haochaping-provision show`, the asset label or the "
    "province's key list): trust only keys certified in a chain from it.",
)
@click.option(
    "--identity-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Identity key, to re-check ratings whose personal data is still held.",
)
@click.option(
    "--province-key",
    metavar="B64",
    help="The province's public key (province_key in the configuration, or from the "
    "province): every delivered rating and case event must carry a receipt that verifies "
    "under it.",
)
@click.option(
    "--province-sm2-key",
    metavar="HEX",
    help="A 国密 province's SM2 public key ([gm] province_sm2_key): every delivered rating "
    "must be acknowledged by an answer kept in the ledger and signed by it.",
)
def verify_ledger_cmd(
    ledger: Path,
    expect_key_id: str | None,
    identity_key: Path | None,
    province_key: str | None,
    province_sm2_key: str | None,
) -> None:
    """Re-check the keys, every seal, signature and chain link of LEDGER, and the province's
    receipts; name every bad row."""
    try:
        vault = IdentityVault.load(identity_key) if identity_key else None
        report = verify_ledger(
            ledger,
            vault,
            expect_key_id=expect_key_id,
            province_key=province_key,
            province_sm2_key=province_sm2_key,
        )
    except (FileNotFoundError, HaochapingError) as exc:
        raise click.ClickException(str(exc)) from exc
    anchor = (
        f"anchored at key {expect_key_id}"
        if expect_key_id
        else "only self-consistent: without --expect-key-id a ledger forged and re-signed "
        "with another key would pass too"
    )
    anchor += (
        "; every delivered rating's and case event's receipt checked under the province key"
        if report.receipts_checked
        else "; receipts not checked (no --province-key): a delivered mark set by hand "
        "would pass too"
    )
    for note in report.notes:
        click.echo(f"note at seq {note.seq}: {note.problem}")
    without = (
        f", {report.sent_without_identity} sent without personal data (identity lost)"
        if report.notes
        else ""
    )
    if report.ok:
        click.echo(
            f"ledger OK: {report.rows} ratings, chain intact, "
            f"{report.fully_verified} with the province signature re-checked{without}; {anchor}"
        )
        return
    for finding in report.findings:
        where = f" at seq {finding.seq}" if finding.seq else ""
        click.echo(f"ledger BAD{where}: {finding.problem}", err=True)
    bad_rows = len({f.seq for f in report.findings if f.seq})
    click.echo(
        f"{len(report.findings)} findings, {bad_rows} of {report.rows} ratings bad; {anchor}",
        err=True,
    )
    sys.exit(1)

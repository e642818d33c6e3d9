"""`haochaping-sim`: the whole device on a desktop, with a stand-in province."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from device.cli_options import verbose_option
from device.logsetup import configure
from simulator.demo import run_demo


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@click.group(invoke_without_command=True)
@verbose_option
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Run the evaluator, keypad, sync and a stand-in province on this machine.

    With no command, runs the demo (headless when there is no display)."""
    configure(verbose)
    if not verbose:  # the demo narrates; the stand-in's own log lines would drown it
        logging.getLogger("simulator").setLevel(logging.WARNING)
    if ctx.invoked_subcommand is None:
        ctx.invoke(demo, headless=not _has_display(), workdir=None)


@main.command()
@click.option("--headless", is_flag=True, help="No window: SDL's dummy video driver.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep all files (ledger, logs, province database) here.",
)
def demo(headless: bool, workdir: Path | None) -> None:
    """Three cases pushed, three keys pressed, three ratings delivered and verified."""
    ok = run_demo(workdir, headless or not _has_display(), say=click.echo)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

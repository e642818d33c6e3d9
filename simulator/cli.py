"""`haochaping-sim`: the whole device on a desktop, with a stand-in province."""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
import webbrowser

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import sys
from pathlib import Path

import click

from device.daemon.cli_options import verbose_option
from device.daemon.logsetup import configure
from device.errors import HaochapingError
from device.screen.texts import LANGUAGES
from simulator.console import Console
from simulator.demo import run_demo, run_file
from simulator.hall import Hall, StandInProvince
from simulator.screenshot import SCREENS, load_case, render
from simulator.terminal import SelfServiceTerminal


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@click.group(invoke_without_command=True)
@verbose_option
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Run the evaluator, keypad, sync and a stand-in province on this machine.

    With no command: with a display, a hall with one evaluator window and the counter console
    in the browser; without one, the scripted demo, headless."""
    configure(verbose)
    if not verbose:  # the demo narrates; the stand-in's own log lines would drown it
        logging.getLogger("simulator").setLevel(logging.WARNING)
    if ctx.invoked_subcommand is None:
        if _has_display():
            ctx.invoke(hall, windows=1, headless=False, workdir=None, console_port=0, duration=None)
        else:
            ctx.invoke(demo, headless=True, workdir=None)


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


@main.command()
@click.option(
    "--windows",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="How many evaluators.",
)
@click.option("--headless", is_flag=True, help="No evaluator windows: SDL's dummy driver.")
@click.option(
    "--workdir", type=click.Path(path_type=Path, file_okay=False), help="Keep all files here."
)
@click.option("--console-port", default=0, show_default=True, help="Port of the console page.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
def hall(
    windows: int, headless: bool, workdir: Path | None, console_port: int, duration: float | None
) -> None:
    """A whole hall on this machine until Ctrl-C: evaluators at their real resolution, the
    stand-in province, the sync, and a counter console page to drive them."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="haochaping-hall-") as tmp:
        root = workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        with Hall(root, windows, headless=headless) as running:
            console = Console(running, console_port)
            console.start()
            click.echo(f"counter console:  {console.url}")
            click.echo(f"officer's page:   {running.province.root_url}/")
            click.echo(f"files:            {root}")
            click.echo("Ctrl-C to stop")
            if not headless:
                webbrowser.open(console.url)
            stop.wait(duration)
            console.stop()
    click.echo("hall stopped")


@main.command()
@click.option(
    "--workdir", type=click.Path(path_type=Path, file_okay=False), help="Keep all files here."
)
@click.option("--language", type=click.Choice(LANGUAGES), default="zh-Hans", show_default=True)
@click.option("--no-browser", is_flag=True, help="Print the address; open no browser.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
def terminal(workdir: Path | None, language: str, no_browser: bool, duration: float | None) -> None:
    """A self-service terminal until Ctrl-C: the evaluator with no window of its own, the
    stand-in province, the sync, and the terminal's application page, which finishes a
    transaction and opens the rating page in the browser."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="haochaping-terminal-") as tmp:
        root = workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        province = StandInProvince(root)
        province.start()
        running = SelfServiceTerminal(root / "terminal", province, language=language)
        try:
            running.start()
            click.echo(f"terminal application: {running.app.origin}/")
            click.echo(f"officer's page:       {province.root_url}/")
            click.echo(f"files:                {root}")
            click.echo("Ctrl-C to stop")
            if not no_browser and _has_display():
                webbrowser.open(running.app.origin + "/")
            stop.wait(duration)
        finally:
            running.stop()
            province.close()
    click.echo("terminal stopped")


@main.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--headless", is_flag=True, help="No windows: SDL's dummy video driver.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep all files (ledgers, logs, province database) here.",
)
def scenario(path: Path, headless: bool, workdir: Path | None) -> None:
    """Run a scenario file (see simulator/scenarios/) on a simulated hall."""
    try:
        ok = run_file(path, workdir, headless or not _has_display(), say=click.echo)
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("screen", type=click.Choice(SCREENS))
@click.option(
    "--case",
    "case_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A case as pushed to the local API (JSON).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="PNG file to write.",
)
@click.option("--size", default="800x480", show_default=True, help="WIDTHxHEIGHT in pixels.")
@click.option(
    "--mode", type=click.Choice(["window", "self_service"]), default="window", show_default=True
)
@click.option("--language", type=click.Choice(LANGUAGES), default="zh-Hans", show_default=True)
@click.option("--large-type", is_flag=True, help="Larger text for elderly raters.")
def screenshot(
    screen: str,
    case_file: Path | None,
    out: Path,
    size: str,
    mode: str,
    language: str,
    large_type: bool,
) -> None:
    """Render one evaluator SCREEN to a PNG, headless."""
    try:
        width, height = (int(v) for v in size.lower().split("x"))
        body = load_case(case_file) if case_file else None
        render(
            screen,
            body,
            out,
            size=(width, height),
            mode=mode,
            language=language,
            large_type=large_type,
        )
    except (ValueError, HaochapingError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()

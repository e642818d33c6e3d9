"""Options shared by the device's command-line programs."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_CONFIG = "/etc/haochaping/device.toml"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Device configuration file.",
)

verbose_option = click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")

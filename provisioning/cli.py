"""`haochaping-provision`: set up a device on site (key, enrolment, configuration)."""

from __future__ import annotations

from pathlib import Path

import click

from device.cli_options import DEFAULT_CONFIG, verbose_option
from device.config import ConfigError
from device.logsetup import configure
from device.signing import KeyFileError
from provisioning.enroll import EnrollError
from provisioning.setup_device import SiteAnswers, provision


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
) -> None:
    """Generate the device key here, enrol it with the province, write the configuration."""
    site = SiteAnswers(
        area_code=area_code,
        dept_code=dept_code,
        mode=mode,
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
        )
    except (ConfigError, EnrollError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"enrolled as {config.province.device_id} (key {config.province.key_id}); "
        f"configuration written to {config_path}"
    )


if __name__ == "__main__":
    main()

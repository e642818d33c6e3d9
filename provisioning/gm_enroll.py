"""Provisioning for a 国密 province (`[sync] adapter = "gm-soap"`): the device's Ed25519
evidence key and its SM2 key made here (mode 0600; neither leaves the device), the device
registered with `registerDevice`, the credentials the province issued (appKey, appSecret,
its SM2 public key) kept in the configuration (mode 0600/0640, appSecret masked in `show`).

Nothing half-done is left behind: a failed registration removes both new keys again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

from device import __version__
from device.daemon.cli_options import DEFAULT_CONFIG
from device.daemon.config import (
    Config,
    ConfigError,
    DeviceSection,
    GmSection,
    LocalApiSection,
    ProvinceSection,
    SyncSection,
    save,
)
from device.errors import HaochapingError
from device.flow.mode import Mode
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.keys.sm2 import Sm2Key
from provisioning.certificate import make_certificate
from provisioning.checks import Outcome
from provisioning.setup_device import SiteAnswers, hand_over
from sync.gm import calls
from sync.gm.client import GmClient, GmCredentials
from sync.jobs import heartbeat_body
from sync.province_client import ProvinceClock, RetryableError

T = TypeVar("T")


@dataclass(frozen=True)
class GmIssued:
    """What the province issued out of band for this device."""

    gateway_url: str
    base_url: str
    app_key: str
    app_secret: str
    province_sm2_key: str
    device_no: str


def provision_gm(
    *,
    config_path: Path,
    state_dir: Path,
    issued: GmIssued,
    site: SiteAnswers,
    ca_bundle: str | None = None,
    local_api_port: int = 8470,
    service_user: str | None = "haochaping",
) -> Config:
    gm = GmSection(
        gateway_url=issued.gateway_url,
        app_key=issued.app_key,
        app_secret=issued.app_secret,
        province_sm2_key=issued.province_sm2_key,
        device_sm2_key="",
    )
    draft = Config(
        device=DeviceSection(
            state_dir=str(state_dir), mode=site.mode, firmware_version=__version__
        ),
        site=site.section(),
        province=ProvinceSection(
            base_url=issued.base_url, device_id=issued.device_no, key_id="-", ca_bundle=ca_bundle
        ),
        local_api=LocalApiSection(token=secrets.token_urlsafe(24), port=local_api_port),
        sync=SyncSection(adapter="gm-soap", batch_size=100),
    )
    for section in (draft.device, draft.site, draft.province, draft.local_api):
        section.check()
    if not issued.device_no or len(issued.device_no) > 64:
        raise ConfigError("--device-no is required (1-64 characters)")
    key = DeviceKey.generate()
    sm2_key = Sm2Key.generate()
    # checked as the configuration will be, before anything is sent
    GmSection(**{**gm.__dict__, "device_sm2_key": sm2_key.public_hex}).check()
    key.save(draft.key_path)
    sm2_key.save(draft.sm2_key_path)
    client = GmClient(
        GmCredentials(
            issued.gateway_url,
            issued.base_url,
            issued.app_key,
            issued.app_secret,
            issued.province_sm2_key,
            issued.device_no,
            sm2_key,
        ),
        ca_bundle=ca_bundle,
        clock=ProvinceClock(),  # its own: a clock learnt here is not the sync's business
    )
    try:
        _clock_corrected(lambda: calls.register(client, key.public_b64, _site(site)))
    except BaseException:
        draft.key_path.unlink(missing_ok=True)
        draft.sm2_key_path.unlink(missing_ok=True)
        raise
    finally:
        client.close()
    IdentityVault.load_or_create(draft.identity_key_path)
    make_certificate(state_dir, issued.device_no)
    config = Config(
        device=draft.device,
        site=draft.site,
        province=ProvinceSection(
            base_url=issued.base_url,
            device_id=issued.device_no,
            key_id=key.key_id,
            ca_bundle=ca_bundle,
            enrolled_key_id=key.key_id,
        ),
        local_api=draft.local_api,
        sync=draft.sync,
        gm=GmSection(**{**gm.__dict__, "device_sm2_key": sm2_key.public_hex}),
    )
    save(config, config_path)
    hand_over(config, config_path, service_user)
    if service_user is not None:
        _hand_over_sm2(config, service_user)
    return config


def _clock_corrected(call: Callable[[], T]) -> T:
    """*call*, made once more when the province refused our clock (40101) and told its own."""
    try:
        return call()
    except RetryableError as exc:
        if exc.code != "40101":
            raise
    return call()


def _hand_over_sm2(config: Config, user: str) -> None:
    import os  # noqa: PLC0415
    import pwd  # noqa: PLC0415

    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return
    os.chown(config.sm2_key_path, entry.pw_uid, entry.pw_gid)


def _site(site: SiteAnswers) -> dict[str, str | None]:
    return {
        "areaCode": site.area_code,
        "hallCode": site.hall_code,
        "windowNo": site.window_no,
        "deptCode": site.dept_code,
        "terminalNo": site.terminal_no,
    }


def show_lines(config: Config) -> list[str]:
    """What `show` says of a 国密 province; the appSecret masked."""
    if config.sync.adapter != "gm-soap":
        return []
    gm = config.gm
    return [
        f"gm gateway:   {gm.gateway_url}",
        f"gm appKey:    {gm.app_key}, appSecret ********",
        f"gm keys:      province SM2 {gm.province_sm2_key[:18]}…, "
        f"device SM2 {gm.device_sm2_key[:18]}… ({config.sm2_key_path}, mode 600)",
    ]


def check_gm_province(config: Config) -> Outcome:
    """A token from the gateway and a signed heartbeat answered, its SM2 signature verified."""
    from device.ledger.store import Ledger  # noqa: PLC0415
    from sync.gm.setup import gm_client  # noqa: PLC0415

    try:
        client = gm_client(config)
    except HaochapingError as exc:
        return Outcome("province", False, str(exc), "restore gm-sm2.key or run gm-enroll again")
    client.clock = ProvinceClock()
    try:
        _clock_corrected(client.token)
        with Ledger(config.ledger_path) as ledger:
            body = heartbeat_body(config, ledger)
        server_time = _clock_corrected(lambda: calls.heartbeat(client, body))
    except HaochapingError as exc:
        return Outcome(
            "province",
            False,
            str(exc),
            "check the network, the gateway URL and the credentials the province issued",
        )
    finally:
        client.close()
    return Outcome(
        "province",
        True,
        f"token from {config.gm.gateway_url}; signed heartbeat answered and its SM2 signature "
        f"verified (province time {server_time})",
    )


@click.command("gm-enroll")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Where to write the configuration.",
)
@click.option(
    "--state-dir", type=click.Path(path_type=Path), default="/var/lib/haochaping", show_default=True
)
@click.option("--adapter", type=click.Choice(["gm-soap"]), default="gm-soap", show_default=True)
@click.option("--gateway-url", required=True, help="The token gateway ({gateway}/oauth/token).")
@click.option(
    "--base-url", required=True, help="Where EvaluationService is ({base}/EvaluationService)."
)
@click.option("--app-key", required=True, help="appKey, as the province issued it.")
@click.option("--app-secret", prompt="appSecret", hide_input=True, help="32 hex characters.")
@click.option("--province-key", required=True, help="The province's SM2 public key (130 hex).")
@click.option("--device-no", required=True, help="This device's number at the province.")
@click.option("--area-code", required=True)
@click.option("--dept-code", required=True)
@click.option("--hall-code", default=None)
@click.option("--window-no", default=None)
@click.option(
    "--terminal-no",
    default=None,
    help="A self-service terminal's number (终端机编号): provisions a terminal, not a window.",
)
@click.option("--ca-bundle", default=None)
@click.option("--local-api-port", default=8470, show_default=True)
def gm_enroll_cmd(
    config_path: Path,
    state_dir: Path,
    adapter: str,
    gateway_url: str,
    base_url: str,
    app_key: str,
    app_secret: str,
    province_key: str,
    device_no: str,
    area_code: str,
    dept_code: str,
    hall_code: str | None,
    window_no: str | None,
    terminal_no: str | None,
    ca_bundle: str | None,
    local_api_port: int,
) -> None:
    """Provision for a 国密 province: make the SM2 and evidence keys here, registerDevice."""
    del adapter  # the one adapter this command sets up
    issued = GmIssued(gateway_url, base_url, app_key, app_secret, province_key, device_no)
    try:
        config = provision_gm(
            config_path=config_path,
            state_dir=state_dir,
            issued=issued,
            site=SiteAnswers(
                area_code,
                dept_code,
                mode=Mode.SELF_SERVICE if terminal_no else Mode.WINDOW,
                hall_code=hall_code,
                window_no=window_no,
                terminal_no=terminal_no,
            ),
            ca_bundle=ca_bundle,
            local_api_port=local_api_port,
        )
    except HaochapingError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"registered as {config.province.device_id} with the 国密 province "
        f"(SM2 key {config.gm.device_sm2_key[:18]}…, evidence key {config.province.key_id}); "
        f"configuration written to {config_path}"
    )

"""A GmClient made from the device's configuration and its SM2 key file."""

from __future__ import annotations

from device.daemon.config import Config
from device.keys.sm2 import Sm2Error, Sm2Key
from sync.gm.client import GmClient, GmCredentials


def credentials(config: Config) -> GmCredentials:
    """The [gm] section and the device's SM2 key; Sm2Error when the key file is missing or
    is not the key registered with the province."""
    key = Sm2Key.load(config.sm2_key_path)
    if key.public_hex != config.gm.device_sm2_key:
        raise Sm2Error(
            f"{config.sm2_key_path} is not the SM2 key registered with the province "
            "([gm] device_sm2_key): restore it, or run haochaping-provision gm-enroll again"
        )
    gm = config.gm
    return GmCredentials(
        gateway_url=gm.gateway_url,
        base_url=config.province.base_url,
        app_key=gm.app_key,
        app_secret=gm.app_secret,
        province_key=gm.province_sm2_key,
        device_no=config.province.device_id,
        device_key=key,
    )


def gm_client(config: Config) -> GmClient:
    return GmClient(
        credentials(config),
        ca_bundle=config.province.ca_bundle,
        connect_timeout_s=config.sync.connect_timeout_s,
        read_timeout_s=config.sync.read_timeout_s,
    )

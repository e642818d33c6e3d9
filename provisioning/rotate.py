"""Key rotation: a new key generated on the device and registered with the province by a
request signed with the current key (extension `POST /devices/{id}/keys`); ratings signed
before stay verifiable, locally (the ledger keeps every public key) and at the province."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from device.daemon.config import Config, save
from device.keys.private_file import write_private
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from sync.province_client import ProvinceClient

log = logging.getLogger(__name__)


def rotate_key(config: Config, config_path: Path) -> tuple[str, str]:
    """Returns (old key id, new key id). Nothing changes locally unless the province took
    the new key; the new key file then replaces the old one in one rename."""
    old = DeviceKey.load(config.key_path)
    new = DeviceKey.generate()
    p = config.province
    client = ProvinceClient(p.base_url, p.device_id, old, ca_bundle=p.ca_bundle)
    try:
        answer = client.call("POST", f"/devices/{p.device_id}/keys", {"publicKey": new.public_b64})
    finally:
        client.close()
    if answer.get("keyId") != new.key_id:
        raise ValueError("the province answered with another key id")
    with Ledger(config.ledger_path) as ledger:
        ledger.add_keys(old, new)  # both public keys stay, so every rating verifies
    staged = config.key_path.with_name(config.key_path.name + ".new")
    staged.unlink(missing_ok=True)
    new.save(staged)
    staged.replace(config.key_path)  # atomic: the old key or the new one, never neither
    save(
        dataclasses.replace(config, province=dataclasses.replace(p, key_id=new.key_id)), config_path
    )
    log.info("key rotated: %s -> %s", old.key_id, new.key_id)
    return old.key_id, new.key_id


def wipe(path: Path) -> bool:
    """Overwrite a secret file with zeros, sync, remove it. False if it was not there."""
    if not path.exists():
        return False
    write_private(path, b"\0" * max(64, path.stat().st_size))
    path.unlink()
    return True

"""Key rotation: a new key generated on the device, certified by the current key and
registered with the province by a request signed with the current key (`POST
/devices/{id}/keys`, spec v1.1 key history). Ratings signed before stay verifiable, locally
(the ledger keeps every key with its certificate) and at the province."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

from device.daemon.config import Config, save
from device.keys.key_history import KeyEntry, certify
from device.keys.private_file import fsync_folder, replace_durably, shred
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.store import Ledger
from sync.province_client import ProvinceClient

log = logging.getLogger(__name__)


def rotate_key(config: Config, config_path: Path) -> tuple[str, str]:
    """Returns (old key id, new key id). The key in use changes only once the province
    took the new key; the new key file then replaces the old one in one rename.

    The new key is on disk (`device.key.new`, synced) before the province hears of it: a
    power cut after the province took it but before the rename leaves that staged key, and
    the next rotation sends the same key again (the province answers 201 for a key it has)
    instead of a key the province never saw, so the device is never locked out."""
    if config.sync.adapter == "gm-soap":
        raise ValueError(
            "a 国密 province has no call to certify a new evidence key: provision the device "
            "again with gm-enroll (a new deviceNo) to change keys"
        )
    old = DeviceKey.load(config.key_path)
    staged = config.key_path.with_name(config.key_path.name + ".new")
    retired = config.key_path.with_name(config.key_path.name + ".old")
    new = _staged_key(staged, old)
    p = config.province
    entry = certify(old, new, p.device_id, int(time.time()))
    body = {
        "publicKey": entry.public_b64,
        "previousKeyId": old.key_id,
        "issuedAt": entry.issued_at,
        "certificate": entry.certificate,
    }
    client = ProvinceClient(p.base_url, p.device_id, old, ca_bundle=p.ca_bundle)
    try:
        answer = client.call("POST", f"/devices/{p.device_id}/keys", body)
    finally:
        client.close()
    if answer.get("keyId") != new.key_id:
        raise ValueError("the province answered with another key id")
    with Ledger(config.ledger_path) as ledger:  # both keys stay, so every rating verifies
        ledger.record_key(KeyEntry(old.key_id, old.public_b64), p.device_id)
        ledger.record_key(entry, p.device_id)
    _drop_retired(retired, config.key_path)  # left by a rotation cut short
    os.link(config.key_path, retired)  # keeps the old key's blocks reachable to shred them
    replace_durably(staged, config.key_path)  # the old key or the new one, never neither
    shred(retired)
    save(
        dataclasses.replace(config, province=dataclasses.replace(p, key_id=new.key_id)), config_path
    )
    log.info("key rotated: %s -> %s", old.key_id, new.key_id)
    return old.key_id, new.key_id


def _drop_retired(retired: Path, key_path: Path) -> None:
    """Remove an old key's second name left by a rotation cut short: shredded when it is a
    key no longer in use, only unlinked when the cut came before the rename (it is then
    the key in use, and shredding it would destroy the device's key)."""
    if not retired.exists():
        return
    if key_path.exists() and os.path.samefile(retired, key_path):
        retired.unlink()
        fsync_folder(retired.parent)
    else:
        shred(retired)


def _staged_key(staged: Path, current: DeviceKey) -> DeviceKey:
    """The key a rotation cut short left staged, if whole and not the one in use; otherwise
    a new key, saved (synced) as the staged key before anyone is told of it."""
    if staged.exists():
        try:
            leftover = DeviceKey.load(staged)
        except KeyFileError as exc:
            log.warning("dropping a staged key that cannot be read: %s", exc)
        else:
            if leftover.key_id != current.key_id:
                log.info("resuming a rotation cut short: key %s", leftover.key_id)
                return leftover
        shred(staged)
    new = DeviceKey.generate()
    new.save(staged)
    return new


def wipe(path: Path) -> bool:
    """Overwrite a secret file with zeros in place, sync, remove it. False if it was not there."""
    return shred(path)

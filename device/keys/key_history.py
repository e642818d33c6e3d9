"""The device's key history: the enrolled key, then each rotated key certified by the one before.

Pure. A ledger (or the province's `GET /devices/{id}/keys`) lists keys; `anchored_chain` accepts
them only as a chain that starts at a key id known from outside the file (the enrolled key) and
where every later key carries a certificate signed by the previous key (spec v1.1).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from device.keys.signing import DeviceKey, key_id_of, public_key_from_b64, verify
from device.record.canonical import canonical_json


@dataclass(frozen=True)
class KeyEntry:
    """One public key as a ledger or the province lists it."""

    key_id: str
    public_b64: str
    previous_key_id: str | None = None
    issued_at: int | None = None
    certificate: str | None = None


@dataclass(frozen=True)
class KeyChain:
    """The keys accepted in order (oldest first) and what was wrong with the others."""

    keys: tuple[KeyEntry, ...]
    problems: tuple[str, ...]

    def public_keys(self) -> dict[str, str]:
        return {key.key_id: key.public_b64 for key in self.keys}


def certificate_bytes(
    device_id: str, new_key_id: str, new_public_b64: str, previous_key_id: str, issued_at: int
) -> bytes:
    """What the previous key signs when it hands over to a new key (spec v1.1, key history)."""
    return canonical_json(
        {
            "deviceId": device_id,
            "newKeyId": new_key_id,
            "newPublicKey": new_public_b64,
            "previousKeyId": previous_key_id,
            "issuedAt": issued_at,
        }
    )


def certify(previous: DeviceKey, new: DeviceKey, device_id: str, issued_at: int) -> KeyEntry:
    """The entry for `new`, with its certificate signed by `previous`."""
    payload = certificate_bytes(device_id, new.key_id, new.public_b64, previous.key_id, issued_at)
    return KeyEntry(new.key_id, new.public_b64, previous.key_id, issued_at, previous.sign(payload))


def key_id_matches(entry: KeyEntry) -> bool:
    """A key id is the hash of its public key; an entry whose id does not match is forged."""
    try:
        raw = base64.b64decode(entry.public_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 32 and key_id_of(raw) == entry.key_id


def _certified_by(entry: KeyEntry, previous: KeyEntry, device_id: str) -> bool:
    if entry.previous_key_id != previous.key_id or entry.issued_at is None:
        return False
    if not entry.certificate:
        return False
    payload = certificate_bytes(
        device_id, entry.key_id, entry.public_b64, previous.key_id, entry.issued_at
    )
    try:
        return verify(public_key_from_b64(previous.public_b64), entry.certificate, payload)
    except ValueError:
        return False


def anchored_chain(entries: list[KeyEntry], anchor_key_id: str, device_id: str) -> KeyChain:
    """Follow certificates from the anchor. Keys off the chain are reported, never trusted."""
    problems: list[str] = []
    valid = []
    for entry in entries:
        if key_id_matches(entry):
            valid.append(entry)
        else:
            problems.append(f"key {entry.key_id!r} does not match its public key")
    by_id = {entry.key_id: entry for entry in valid}
    anchor = by_id.get(anchor_key_id)
    if anchor is None and not entries:
        # A new ledger: no key recorded because nothing was signed yet. Nothing is trusted
        # either, so any rating or event in the file fails on its unknown key.
        return KeyChain((), tuple(problems))
    if anchor is None:
        problems.append(f"the expected key {anchor_key_id} is not in the ledger")
        return KeyChain((), tuple(problems))
    chain = [anchor]
    remaining = [entry for entry in valid if entry.key_id != anchor_key_id]
    while True:
        successors = [e for e in remaining if _certified_by(e, chain[-1], device_id)]
        if not successors:
            break
        if len(successors) > 1:
            problems.append(f"key {chain[-1].key_id} certified more than one successor")
        chain.append(successors[0])
        remaining = [e for e in remaining if e.key_id != successors[0].key_id]
    problems.extend(
        f"key {entry.key_id} is not certified by the chain from {anchor_key_id}"
        for entry in remaining
    )
    return KeyChain(tuple(chain), tuple(problems))


def self_consistent(entries: list[KeyEntry]) -> KeyChain:
    """Without an anchor: every key whose id matches its public key (proves nothing about
    who made the file)."""
    good = tuple(entry for entry in entries if key_id_matches(entry))
    problems = tuple(
        f"key {entry.key_id!r} does not match its public key"
        for entry in entries
        if entry not in good
    )
    return KeyChain(good, problems)

"""The stand-in province's signed receipts (spec v1.1): the province key that signs them, the
one function that signs a receipt, and the wrong receipts an attack test asks for.

Ratings and case events are acknowledged the same way: build a `Receipt`, sign it here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from device.keys.signing import DeviceKey
from device.record.canonical import sha256_hex
from device.record.receipt import Receipt

# The province key is an Ed25519 key like a device's; it lives with the province's database.
ProvinceKey = DeviceKey


class ApiVersion(StrEnum):
    """Which interface the stand-in speaks: version 1 has no province key and no receipts."""

    V1 = "1"
    V1_1 = "1.1"


class WrongReceipt(StrEnum):
    """What the `bad_receipt` fault puts in an `accepted`/`duplicate` answer instead."""

    MISSING = "missing"  # no receipt at all
    FOREIGN_KEY = "foreign_key"  # signed by a key that is not the province's
    OTHER_BYTES = "other_bytes"  # a valid signature over the hash of other bytes


def sign_receipt(key: ProvinceKey, receipt: Receipt) -> str:
    """The province key's signature (standard base64) over the receipt's canonical JSON."""
    return key.sign(receipt.signed_bytes())


def receipt_fields(
    key: ProvinceKey, receipt: Receipt, wrong: WrongReceipt | None = None
) -> dict[str, Any]:
    """`receivedAt` and `receipt` as a result carries them; *wrong* spoils the receipt."""
    fields: dict[str, Any] = {"receivedAt": receipt.received_at}
    if wrong is WrongReceipt.MISSING:
        return fields
    if wrong is WrongReceipt.FOREIGN_KEY:
        key = ProvinceKey.generate()
    elif wrong is WrongReceipt.OTHER_BYTES:
        other = sha256_hex(receipt.record_hash.encode("ascii"))
        receipt = Receipt(
            receipt.kind,
            receipt.device_id,
            receipt.record_id,
            receipt.seq,
            other,
            receipt.status,
            receipt.received_at,
        )
    fields["receipt"] = sign_receipt(key, receipt)
    return fields

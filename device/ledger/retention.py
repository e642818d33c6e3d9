"""Retention: delivered ratings leave the device after a configured number of days.

Only a prefix of the chain is removed (oldest first, stopping at the first rating not yet
delivered, too recent, or whose delivery mark is not proven), and the last removed row's seq
and hash are kept, sealed by the device key, so the rest of the ledger still verifies from
there. With the province key pinned a mark is proven only by the province's receipt for that
row (`delivery_proof`); a mark set by hand never lets a rating be erased and sealed over.
"""

from __future__ import annotations

import logging

from device.keys.signing import DeviceKey
from device.ledger.delivery_proof import DeliveryMark, mark_problem
from device.ledger.store import Ledger
from device.record.canonical import canonical_json
from device.record.receipt import RecordKind

log = logging.getLogger(__name__)


def base_bytes(seq: int, record_hash: str) -> bytes:
    return canonical_json({"recordHash": record_hash, "seq": seq})


def prune_delivered(
    ledger: Ledger,
    key: DeviceKey,
    delivered_before: str,
    *,
    province_key: str | None,
    device_id: str,
    limit: int = 5000,
) -> int:
    """Remove delivered ratings acknowledged before *delivered_before* (ISO time, same form
    as delivered_at) from the front of the chain; returns how many were removed.

    *province_key* (base64, pinned at enrolment; None for a version-1 province) and
    *device_id* decide which marks are proven; the prefix ends at the first that is not."""
    rows = ledger.conn.execute(
        "SELECT seq, evaluation_id, record_hash, delivery, delivered_at, receipt, received_at"
        " FROM ratings ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()
    prefix = []
    for seq, evaluation_id, record_hash, delivery, delivered_at, receipt, received_at in rows:
        if delivery is None or delivered_at is None or delivered_at >= delivered_before:
            break
        mark = DeliveryMark(
            RecordKind.RATING, evaluation_id, seq, record_hash, delivery, receipt, received_at
        )
        problem = mark_problem(mark, device_id, province_key)
        if problem is not None:
            log.warning("retention stops at seq %d: %s", seq, problem)
            break
        prefix.append((seq, record_hash))
    if not prefix:
        return 0
    last_seq, last_hash = prefix[-1]
    seal = key.sign(base_bytes(last_seq, last_hash))
    with ledger.writing("retention not applied"):
        ledger.conn.execute("DELETE FROM rater_identities WHERE seq <= ?", (last_seq,))
        ledger.conn.execute("DELETE FROM web_reactions WHERE seq <= ?", (last_seq,))
        ledger.conn.execute("DELETE FROM ratings WHERE seq <= ?", (last_seq,))
        ledger.conn.execute(
            "INSERT INTO ledger_base (id, seq, record_hash, key_id, seal) VALUES (1, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq,"
            " record_hash = excluded.record_hash, key_id = excluded.key_id, seal = excluded.seal",
            (last_seq, last_hash, key.key_id, seal),
        )
    log.info("retention removed %d delivered ratings (up to seq %d)", len(prefix), last_seq)
    return len(prefix)


def prune_outcomes(ledger: Ledger, ended_before: str) -> int:
    """Remove case outcome events older than *ended_before* (`yyyy-MM-dd HH:mm:ss`)."""
    with ledger.writing("retention not applied"):
        return ledger.conn.execute(
            "DELETE FROM case_outcomes WHERE json_extract(event, '$.endedAt') < ?",
            (ended_before,),
        ).rowcount

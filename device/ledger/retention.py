"""Retention: delivered ratings leave the device after a configured number of days.

Only a prefix of the chain is removed (oldest first, stopping at the first rating not yet
delivered, too recent, or whose delivery mark is not proven), and the last removed row's seq
and hash are kept, sealed by the device key, so the rest of the ledger still verifies from
there. With the province key pinned a mark is proven only by the province's receipt for that
row (`delivery_proof`); a mark set by hand never lets a rating be erased and sealed over.
A rating sent without the personal data it lost is proven by the receipt for the bytes sent
in its place; its entry in `identity_losses` leaves with it.
"""

from __future__ import annotations

import logging

from device.keys.signing import DeviceKey
from device.ledger.delivery_proof import DeliveryMark, GmProof, mark_problem
from device.ledger.gm_answers import kept_answers
from device.ledger.loss_verify import SentInstead
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
    province_sm2_key: str | None = None,
) -> int:
    """Remove delivered ratings acknowledged before *delivered_before* (ISO time, same form
    as delivered_at) from the front of the chain; returns how many were removed.

    *province_key* (base64, pinned at enrolment; None for a version-1 province) and
    *device_id* decide which marks are proven, or for a 国密 province *province_sm2_key* and
    the answers kept; the prefix ends at the first that is not."""
    gm = GmProof(province_sm2_key, kept_answers(ledger.conn)) if province_sm2_key else None
    rows = ledger.conn.execute(
        "SELECT r.seq, r.evaluation_id, r.record_hash, r.delivery, r.delivered_at, r.receipt,"
        " r.received_at, r.record, l.key_id, l.signature, l.reason"
        " FROM ratings r LEFT JOIN identity_losses l ON l.seq = r.seq ORDER BY r.seq LIMIT ?",
        (limit,),
    ).fetchall()
    prefix = []
    for row in rows:
        seq, evaluation_id, record_hash, delivery, delivered_at, receipt, received_at = row[:7]
        if delivery is None or delivered_at is None or delivered_at >= delivered_before:
            break
        sent = record_hash if row[8] is None else SentInstead(*row[8:11]).sent_hash(row[7])
        mark = DeliveryMark(
            RecordKind.RATING, evaluation_id, seq, sent, delivery, receipt, received_at
        )
        problem = mark_problem(mark, device_id, province_key, gm)
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
        ledger.conn.execute("DELETE FROM identity_losses WHERE seq <= ?", (last_seq,))
        ledger.conn.execute("DELETE FROM web_reactions WHERE seq <= ?", (last_seq,))
        ledger.conn.execute("DELETE FROM ratings WHERE seq <= ?", (last_seq,))
        ledger.conn.execute(  # a 国密 province's answers that no kept rating names any more
            "DELETE FROM gm_answers WHERE digest NOT IN (SELECT substr(receipt, -64) FROM "
            "ratings WHERE receipt LIKE 'gm-sm2:%')"
        )
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

"""The audit of a device's seq/prevHash chain: gaps, late arrivals and forks become flags.

Pure logic: the store loads the stretch of the chain a batch touches and stores the flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device.record.canonical import ZERO_HASH

if TYPE_CHECKING:
    from simulator.province.ratings import CheckedRecord


@dataclass(frozen=True)
class AuditFlag:
    kind: str  # seq_gap, seq_out_of_order, seq_fork, prev_hash_fork
    seq: int
    evaluation_id: str
    detail: str


@dataclass(frozen=True)
class _Link:
    evaluation_id: str
    record_hash: str
    prev_hash: str


class ChainView:
    """The part of one device's seq/prevHash chain a batch touches, updated as it is stored.

    Records may arrive out of order after a retry, so each record is checked against its
    stored predecessor (seq-1) and against a stored successor (seq+1) that arrived earlier.
    """

    def __init__(self, max_seq: int, links: Iterable[tuple[int, str, str, str]]) -> None:
        self.max_seq = max_seq
        self.by_seq: dict[int, list[_Link]] = {}
        for seq, evaluation_id, record_hash, prev_hash in links:
            self.by_seq.setdefault(seq, []).append(_Link(evaluation_id, record_hash, prev_hash))

    def add(self, record: CheckedRecord) -> list[AuditFlag]:
        seq, eid = record.seq, record.evaluation_id
        flags: list[AuditFlag] = []
        same = self.by_seq.get(seq, [])
        if same:
            held = same[0].evaluation_id
            flags.append(AuditFlag("seq_fork", seq, eid, f"seq {seq} is already held by {held}"))
        elif seq < self.max_seq:
            detail = f"seq {seq} arrived after seq {self.max_seq}"
            flags.append(AuditFlag("seq_out_of_order", seq, eid, detail))
        if seq > self.max_seq + 1:
            detail = f"seq {seq} arrived while seq {self.max_seq + 1}–{seq - 1} were missing"
            flags.append(AuditFlag("seq_gap", seq, eid, detail))
        flags.extend(self._check_predecessor(record))
        if not same:
            flags.extend(self._check_successors(record))
        self.by_seq.setdefault(seq, []).append(_Link(eid, record.record_hash, record.prev_hash))
        self.max_seq = max(self.max_seq, seq)
        return flags

    def _check_predecessor(self, record: CheckedRecord) -> list[AuditFlag]:
        seq, eid = record.seq, record.evaluation_id
        if seq == 1:
            if record.prev_hash == ZERO_HASH:
                return []
            return [AuditFlag("prev_hash_fork", 1, eid, "seq 1 must have a prevHash of 64 zeros")]
        before = self.by_seq.get(seq - 1, [])
        if not before or any(link.record_hash == record.prev_hash for link in before):
            return []
        detail = f"prevHash does not match seq {seq - 1} ({before[0].evaluation_id})"
        return [AuditFlag("prev_hash_fork", seq, eid, detail)]

    def _check_successors(self, record: CheckedRecord) -> list[AuditFlag]:
        return [
            AuditFlag(
                "prev_hash_fork",
                record.seq + 1,
                link.evaluation_id,
                f"prevHash does not match seq {record.seq} ({record.evaluation_id}), "
                "which arrived later",
            )
            for link in self.by_seq.get(record.seq + 1, [])
            if link.prev_hash != record.record_hash
        ]

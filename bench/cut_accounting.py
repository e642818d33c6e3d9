"""The power-cut benchmark's books, pure: from what the host observed (presses sent on the
virtual keypad, confirmations the rater got, each ledger read after a boot, the stand-in
province's ratings, each boot's outcome) the counts that say whether a cut lost, doubled or
invented a rating.

A rating is known by its case (`projectNo`, `assessNumber`): the bench pushes each case
once and presses once for it, so a case is rated at most once by a correct device.

- acknowledged: cases whose rating the rater was told was taken (the keypad's confirmation
  beep, which the evaluator sounds only once the rating is committed and thanked);
- lost: acknowledged cases that neither the last ledger read nor the province holds;
- duplicated: ratings of a case beyond its first (two evaluation ids for one case, in a
  ledger, at the province or across devices), and an evaluation id held twice by one store;
- spurious: ratings (ledger or province) of a case nobody pressed a key for;
- a boot is in service when the evaluator took a case after it; otherwise it must have said
  why (an out-of-service reason, or the provisioning it waits for): a boot that neither
  served nor said why is counted apart, and fails the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Case = tuple[str, int]  # (projectNo, assessNumber)


@dataclass(frozen=True)
class HeldRating:
    """One rating as a ledger or the province holds it."""

    evaluation_id: str
    case: Case
    device_id: str


class BootOutcome(Enum):
    IN_SERVICE = "in service"
    NOT_IN_SERVICE_WITH_REASON = "not in service, said why"
    SILENT = "neither in service nor saying why"


@dataclass(frozen=True)
class Boot:
    outcome: BootOutcome
    reason: str = ""  # what the device said when not in service


@dataclass
class Observations:
    """Everything the host saw, appended as the run goes."""

    presses: list[Case] = field(default_factory=list)
    acknowledged: list[Case] = field(default_factory=list)
    # the last read of each device's ledger (device id -> ratings), replaced at every read
    ledgers: dict[str, list[HeldRating]] = field(default_factory=dict)
    ledgers_read: int = 0
    ledgers_verified: int = 0
    ledger_findings: list[str] = field(default_factory=list)
    province: list[HeldRating] = field(default_factory=list)
    boots: list[Boot] = field(default_factory=list)

    def pressed(self, case: Case) -> None:
        self.presses.append(case)

    def confirmed(self, case: Case) -> None:
        self.acknowledged.append(case)

    def ledger_read(
        self, device_id: str, ratings: Iterable[HeldRating], verified: bool, finding: str = ""
    ) -> None:
        self.ledgers[device_id] = list(ratings)
        self.ledgers_read += 1
        if verified:
            self.ledgers_verified += 1
        elif finding:
            self.ledger_findings.append(finding)

    def booted(self, boot: Boot) -> None:
        self.boots.append(boot)


def _extra_per_case(ratings: Iterable[HeldRating]) -> int:
    """Ratings beyond the first for a case, counting each evaluation id once."""
    ids_per_case: dict[Case, set[str]] = {}
    for rating in ratings:
        ids_per_case.setdefault(rating.case, set()).add(rating.evaluation_id)
    return sum(len(ids) - 1 for ids in ids_per_case.values())


def _repeated_ids(ratings: Iterable[HeldRating]) -> int:
    counts = Counter(rating.evaluation_id for rating in ratings)
    return sum(n - 1 for n in counts.values() if n > 1)


def count(seen: Observations) -> dict[str, Any]:
    """The figures of the run; `met` when nothing was lost, doubled or invented, every boot
    served or said why, and every ledger read verified."""
    pressed = set(seen.presses)
    acknowledged = set(seen.acknowledged)
    in_ledgers = [rating for ratings in seen.ledgers.values() for rating in ratings]
    ledger_cases = {rating.case for rating in in_ledgers}
    province_cases = {rating.case for rating in seen.province}
    held_cases = ledger_cases | province_cases
    every_held = {rating.evaluation_id: rating for rating in [*in_ledgers, *seen.province]}
    duplicated = (
        _extra_per_case(every_held.values())  # two evaluation ids for one case, anywhere
        + sum(_repeated_ids(ratings) for ratings in seen.ledgers.values())
        + _repeated_ids(seen.province)
    )
    lost = sorted(acknowledged - held_cases)
    spurious = sorted(held_cases - pressed)
    outcomes = Counter(boot.outcome for boot in seen.boots)
    figures: dict[str, Any] = {
        "presses": len(seen.presses),
        "acknowledged": len(acknowledged),
        "in_ledger_after_boot": len(ledger_cases),
        "delivered": len(acknowledged & province_cases),
        "at_province": len(seen.province),
        "lost": len(lost),
        "duplicated": duplicated,
        "spurious": len(spurious),
        "acknowledged_twice": len(seen.acknowledged) - len(acknowledged),
        "boots": len(seen.boots),
        "boots_in_service": outcomes[BootOutcome.IN_SERVICE],
        "boots_not_in_service_with_reason": outcomes[BootOutcome.NOT_IN_SERVICE_WITH_REASON],
        "boots_silent": outcomes[BootOutcome.SILENT],
        "reasons_given": sorted({b.reason for b in seen.boots if b.reason}),
        "ledgers_read": seen.ledgers_read,
        "ledgers_verified": seen.ledgers_verified,
        "ledger_findings": seen.ledger_findings[:10],
        "lost_cases": [f"{no}#{n}" for no, n in lost[:10]],
        "spurious_cases": [f"{no}#{n}" for no, n in spurious[:10]],
    }
    figures["met"] = (
        figures["lost"] == figures["duplicated"] == figures["spurious"] == 0
        and figures["acknowledged_twice"] == 0
        and figures["boots_silent"] == 0
        and seen.ledgers_read == seen.ledgers_verified
    )
    return figures

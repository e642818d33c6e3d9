"""The `gm-soap` adapter: ratings to a 国密 province (SOAP over a token gateway, SM4-sealed
payloads, SM2 signatures), behind the same interface as `province-v1`.

A batch is split by age on the province's clock: ratings up to 24 h old go through
`saveEvaluation`, older ones through `supplementEvaluation` (补报); a `saveEvaluation`
refused with 42202 all the same is sent again, as a new call, through `supplementEvaluation`.
A result counts as a delivery only inside an answer whose SM2 signature verifies under the
province key held, and only with the province's own id (`evaluateUnid`), kept as the receipt
together with the signed answer itself (once per call), so the mark can be proven later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from device.record.gm_answer import GM_RECEIPT_PREFIX, answer_digest, gm_receipt
from device.record.rating import BEIJING
from sync.adapter import Delivery, DeliveryStatus, OutgoingRecord
from sync.gm import payloads
from sync.gm.client import GmClient, LateRatingError, RequestTooLargeError, UnprovenAnswerError
from sync.gm.xmltext import XmlError
from sync.province_client import RetryableError

log = logging.getLogger(__name__)

MAX_EVALUATIONS = 100
LATE_AFTER_S = 24 * 3600 - 600  # ten minutes early: supplementEvaluation takes any age
RECEIPT_PREFIX = GM_RECEIPT_PREFIX  # the receipt column: the province's id, the answer's digest
SAVE, SUPPLEMENT = "saveEvaluation", "supplementEvaluation"


class GmSoapAdapter:
    name = "gm-soap"
    max_records = MAX_EVALUATIONS
    # canonical bytes per call: the XML repeats each field and carries the record in base64,
    # then the whole is sealed and base64'd again; a call still over 1 MiB is split in two
    max_bytes = 256 * 1024

    def __init__(self, client: GmClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        outcome: dict[str, Delivery] = {}
        sendable: list[tuple[OutgoingRecord, str]] = []
        for record in records:
            try:
                sendable.append((record, payloads.evaluation_xml(record.canonical)))
            except payloads.RecordNotSendableError as exc:
                outcome[record.evaluation_id] = Delivery(
                    record.evaluation_id, DeliveryStatus.REJECTED, "E_NOT_SENDABLE", str(exc)[:200]
                )
        now = self.client.clock.now()
        recent = [(r, x) for r, x in sendable if not _late(r, now)]
        late = [(r, x) for r, x in sendable if _late(r, now)]
        if recent:
            try:
                outcome.update(self._send(SAVE, recent))
            except LateRatingError:
                log.info("saveEvaluation refused a late rating (42202): sent as 补报")
                late = recent + late
        if late:
            outcome.update(self._send(SUPPLEMENT, late))
        return [outcome[r.evaluation_id] for r in records]

    def _send(self, operation: str, batch: list[tuple[OutgoingRecord, str]]) -> dict[str, Delivery]:
        """One call (two, if its request would be over 1 MiB): a Delivery per record."""
        ids = [r.evaluation_id for r, _ in batch]
        evaluations = [x for _, x in batch]
        try:
            answer, signature = self.client.call_signed(
                operation, lambda ts, nonce: payloads.evaluations_payload(evaluations, ts, nonce)
            )
        except UnprovenAnswerError as exc:
            return {i: Delivery(i, DeliveryStatus.UNPROVEN, exc.code, str(exc)) for i in ids}
        except RequestTooLargeError:
            if len(batch) == 1:
                raise
            half = len(batch) // 2
            return {**self._send(operation, batch[:half]), **self._send(operation, batch[half:])}
        try:
            results = payloads.results(answer, ids)
        except XmlError as exc:
            raise RetryableError(f"{operation}: signed answer of the wrong shape: {exc}") from exc
        received = datetime.fromtimestamp(self.client.clock.now(), BEIJING)
        at = received.strftime("%Y-%m-%d %H:%M:%S")
        proof = (answer, signature)
        return {result.evaluation_id: _delivery(result, at, proof) for result in results}


def _late(record: OutgoingRecord, province_now: float) -> bool:
    """Whether the rating's assessTime is over 24 h (less a margin) before the province's now."""
    try:
        assess = json.loads(record.canonical)["assessTime"]
        moment = datetime.strptime(assess, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except (ValueError, KeyError, TypeError):
        return True  # any age goes through supplementEvaluation
    return province_now - moment.timestamp() > LATE_AFTER_S


def _delivery(result: payloads.Result, at: str, proof: tuple[bytes, bytes]) -> Delivery:
    if result.status == "rejected":
        return Delivery(
            result.evaluation_id,
            DeliveryStatus.REJECTED,
            result.error_code or "E_UNKNOWN",
            result.error_message,
        )
    if not result.unid or len(result.unid) > 256:
        return Delivery(
            result.evaluation_id,
            DeliveryStatus.UNPROVEN,
            "E_GM_RECEIPT",
            f"{result.status} without the province's evaluateUnid",
        )
    return Delivery(
        result.evaluation_id,
        DeliveryStatus(result.status),
        receipt=gm_receipt(result.unid, answer_digest(proof[0])),
        received_at=at,
        answer=proof,
    )

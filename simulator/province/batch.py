"""POST /evaluations:batch at the stand-in province: validate, verify, store, answer per record.

A batch is stored in one transaction: every accepted record of it, or (on any error) none.
A version-1.1 province signs a receipt for every accepted or duplicate record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

from device.record.canonical import sha256_hex
from device.record.receipt import Acknowledged, Receipt, RecordKind
from simulator.province.devices import beijing_time
from simulator.province.faults import NO_FAULTS, FaultPlan
from simulator.province.http_server import ApiError, Reply, Request, auth_error, json_body
from simulator.province.receipts import ProvinceKey, WrongReceipt, receipt_fields
from simulator.province.speed import fast_json
from simulator.province.speed.signature_pool import SignatureChecker, SignatureStream
from simulator.province.store import CheckedRecord, ProvinceStore, StoreResult
from simulator.province.validation import Rejection, validate_record

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
BAD_SIGNATURE = Rejection("E_SIGNATURE", "the record signature does not verify")
STORE_SHARE = 4  # more chunks of signatures the processes take while the batch is written


class BatchEndpoint:
    """Takes one device's batch; a request's fault plan may reject chosen records."""

    def __init__(
        self,
        store: ProvinceStore,
        checker: SignatureChecker,
        clock: Callable[[], float],
        receipt_key: Callable[[], ProvinceKey | None] = lambda: None,
    ) -> None:
        """*receipt_key* gives the key that signs receipts now, or None (a version-1 province)."""
        self.store = store
        self.checker = checker
        self.clock = clock
        self.receipt_key = receipt_key

    def __call__(self, request: Request) -> Reply:
        """Validate the batch while its signatures are verified on other cores, write the
        records while the last signatures are verified, and commit only what verified."""
        device_id = request.device_id or ""
        plan: FaultPlan = request.context.get("faults", NO_FAULTS)
        records = batch_records(json_body(request.raw), device_id)
        with self.checker.stream() as signatures:
            verdicts, signed = self._read(device_id, records, plan, signatures)
            checked = [i for i, v in enumerate(verdicts) if isinstance(v, CheckedRecord)]
            position = {index: n for n, index in enumerate(checked)}
            signatures.share(STORE_SHARE)

            def unfit() -> dict[int, Rejection]:
                oks = zip(signed, signatures.verdicts(), strict=True)
                return {position[index]: BAD_SIGNATURE for index, ok in oks if not ok}

            candidates = [cast(CheckedRecord, verdicts[i]) for i in checked]
            stored = iter(self.store.store_batch(device_id, candidates, self.clock(), unfit))
        outcomes = [next(stored) if isinstance(v, CheckedRecord) else v for v in verdicts]
        results = [
            _result(record, outcome) for record, outcome in zip(records, outcomes, strict=True)
        ]
        key = self.receipt_key()
        if key is not None:
            self._add_receipts(device_id, results, verdicts, key, plan.wrong_receipt)
        log.debug(
            "batch from %s: %d records, %d accepted",
            device_id,
            len(results),
            sum(r["status"] == "accepted" for r in results),
        )
        return Reply(200, {"results": results})

    def _add_receipts(
        self,
        device_id: str,
        results: list[dict[str, Any]],
        verdicts: list[CheckedRecord | Rejection],
        key: ProvinceKey,
        wrong: WrongReceipt | None,
    ) -> None:
        """`receivedAt` (when first stored, so a duplicate repeats it) and the signed receipt
        on every accepted or duplicate result."""
        taken = [
            (result, verdict)
            for result, verdict in zip(results, verdicts, strict=True)
            if result["status"] in ("accepted", "duplicate") and isinstance(verdict, CheckedRecord)
        ]
        if not taken:
            return
        times = self.store.received_times([v.evaluation_id for _, v in taken])
        for result, record in taken:
            receipt = Receipt(
                RecordKind.RATING,
                device_id,
                record.evaluation_id,
                record.seq,
                record.record_hash,
                Acknowledged(result["status"]),
                beijing_time(times[record.evaluation_id]),
            )
            result.update(receipt_fields(key, receipt, wrong))

    def _read(
        self,
        device_id: str,
        records: list[Any],
        plan: FaultPlan,
        signatures: SignatureStream,
    ) -> tuple[list[CheckedRecord | Rejection], list[int]]:
        """Validate every record and hand the signatures of those that passed to *signatures*;
        returns the verdicts so far and the indexes of the records whose signatures it took.

        A record whose exact bytes are already stored skips verification: it is a duplicate.
        A record the fault plan rejects is never stored (a stored one stays a duplicate).
        """
        keys = self.store.device_keys(device_id)
        stored = self.store.stored_canonical(_evaluation_ids(records))
        verdicts: list[CheckedRecord | Rejection] = []
        signed: list[int] = []
        for index, record in enumerate(records):
            rejection = validate_record(record) or _signer_rejection(record, device_id, keys)
            if rejection is not None:
                verdicts.append(rejection)
                continue
            canonical = fast_json.canonical(record)  # validated: JSON values only
            checked = checked_record(record, canonical)
            if stored.get(checked.evaluation_id) == checked.canonical:
                verdicts.append(checked)  # a resend: its signature was verified on arrival
                continue
            injected = plan.rejection(checked.evaluation_id)
            if injected is not None:
                verdicts.append(injected)
                continue
            verdicts.append(checked)
            signature = record["signature"]
            signed.append(index)
            signatures.add(
                (keys[record["keyId"]], signature, fast_json.signed_part(canonical, signature))
            )
        return verdicts, signed


def batch_records(body: Any, device_id: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "E_JSON", 'the body must be {"deviceId": …, "records": […]}')
    if body.get("deviceId") != device_id:
        raise auth_error("the body's deviceId is not the signing device")
    records = body["records"]
    if len(records) > MAX_BATCH_RECORDS:
        raise ApiError(413, "E_TOO_LARGE", f"at most {MAX_BATCH_RECORDS} records per batch")
    return records


def _signer_rejection(
    record: dict[str, Any], device_id: str, keys: Mapping[str, str]
) -> Rejection | None:
    if record["deviceId"] != device_id:
        return Rejection("E_SIGNATURE", "the record's deviceId is not the sending device")
    if record["keyId"] not in keys:
        return Rejection("E_SIGNATURE", "keyId is not a key of the sending device")
    return None


def checked_record(record: dict[str, Any], canonical: bytes) -> CheckedRecord:
    cases = record["batchProjectNos"] or [record["projectNo"]]
    return CheckedRecord(
        evaluation_id=record["evaluationId"],
        device_id=record["deviceId"],
        key_id=record["keyId"],
        seq=record["seq"],
        prev_hash=record["prevHash"],
        project_no=record["projectNo"],
        cases=tuple(cases),
        assess_number=record["assessNumber"],
        satisfaction=record["satisfaction"],
        canonical=canonical.decode("utf-8"),
        record_hash=sha256_hex(canonical),
    )


def _evaluation_ids(records: list[Any]) -> list[str]:
    ids = (record.get("evaluationId") if isinstance(record, dict) else None for record in records)
    return [i for i in ids if isinstance(i, str)]


def _result(record: Any, outcome: StoreResult) -> dict[str, Any]:
    evaluation_id = record.get("evaluationId") if isinstance(record, dict) else None
    if not isinstance(evaluation_id, str):
        evaluation_id = None
    if isinstance(outcome, Rejection):
        return {"evaluationId": evaluation_id, "status": "rejected", **outcome.as_json()}
    return {"evaluationId": evaluation_id, "status": outcome}

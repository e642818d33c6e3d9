"""The 国密 interface's payloads: a rating's record as an `<evaluation>`, the heartbeat and
registration payloads, and the province's answers read back. Pure.

Each `<evaluation>` carries the record's own Ed25519 signature (DEVICESIGN), its hash
(RECORDHASH) and the signed canonical bytes themselves (CANONICAL), so the province can
check that every field agrees with what the device signed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from device.record.canonical import sha256_hex
from sync.gm.xmltext import XmlError, child_text, element, local, parse, text, writable

SOURCES = {"touch": "1", "keypad": "2", "qr": "3", "web": "4"}
STATUSES = ("accepted", "duplicate", "rejected")


class RecordNotSendableError(ValueError):
    """A record this interface cannot carry as it is (for example text XML cannot hold)."""


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def evaluation_fields(record: Mapping[str, Any], canonical: bytes) -> dict[str, str | None]:
    """The `<evaluation>` children of one signed record, as the interface's table says."""
    batch = record.get("batchProjectNos")
    level = record["satisfaction"]
    source = SOURCES.get(str(record.get("source")))
    if source is None:
        raise RecordNotSendableError(f"source {record.get('source')!r} has no EVALUATETYPE")
    return {
        "EVALUATEID": record["evaluationId"],
        "SERIALNO": _value(record["seq"]),
        "ASSESSNUMBER": _value(record["assessNumber"]),
        "PROJECTNO": record["projectNo"],
        "BATCHPROJECTNOS": ",".join(batch) if batch else None,
        "TASKCODE": _value(record.get("taskCode")),
        "TASKNAME": _value(record.get("taskName")),
        "PROSTATUS": _value(record.get("proStatus")),
        "EVALUATELEVEL": str(6 - int(level)),  # reversed: 1 非常满意 … 5 非常不满意
        "EVALUATETYPE": source,
        "EVALUATETIME": record["assessTime"],
        "CLOCKSYNCED": _value(record.get("clockSynced")),
        "STAFFNO": _value(record.get("proManagerNo")),
        "STAFFNAME": _value(record.get("proManager")),
        "AREACODE": _value(record.get("areaCode")),
        "DEPTCODE": _value(record.get("deptCode")),
        "HALLCODE": _value(record.get("hallCode")),
        "WINDOWNO": _value(record.get("windowNo")),
        "TERMINALNO": _value(record.get("terminalNo")),
        "DEVICENO": _value(record.get("deviceId")),
        "EVALUATEDETAIL": ",".join(record.get("evalDetail") or []) or None,
        "EVALUATECONTENT": _value(record.get("writingEvaluation")),
        "USERNAME": _value(record.get("userName")),
        "CERTTYPE": _value(record.get("certType")),
        "CERTKEY": _value(record.get("certKey")),
        "REACTIONMS": _value(record.get("reactionMs")),
        "RECORDHASH": sha256_hex(canonical),
        "DEVICESIGN": record["signature"],
        "CANONICAL": base64.b64encode(canonical).decode("ascii"),
    }


def evaluation_xml(canonical: bytes) -> str:
    """One `<evaluation>` for a record's canonical bytes; RecordNotSendableError when it cannot be
    written (text XML 1.0 cannot hold, an unknown source, a record that is not one)."""
    try:
        record = json.loads(canonical)
        fields = evaluation_fields(record, canonical)
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordNotSendableError(f"not a signed rating record: {exc}") from exc
    if not all(v is None or writable(v) for v in fields.values()):
        raise RecordNotSendableError("a field holds characters XML cannot carry")
    return "<evaluation>" + "".join(element(k, v) for k, v in fields.items()) + "</evaluation>"


def _root(name: str, ts_ms: int, nonce: str) -> str:
    return f'<{name} ts="{ts_ms}" nonce="{text(nonce)}">'


def evaluations_payload(evaluations: Sequence[str], ts_ms: int, nonce: str) -> bytes:
    body = "".join(evaluations)
    return f"{_root('evaluations', ts_ms, nonce)}{body}</evaluations>".encode()


def heartbeat_payload(fields: Mapping[str, str | None], ts_ms: int, nonce: str) -> bytes:
    """`<heartbeat>` with deviceNo, backlog, quarantined, lastSerialNo, keypadConnected,
    clockSynced, in that order."""
    names = ("deviceNo", "backlog", "quarantined", "lastSerialNo", "keypadConnected", "clockSynced")
    body = "".join(element(n, fields.get(n)) for n in names)
    return f"{_root('heartbeat', ts_ms, nonce)}{body}</heartbeat>".encode()


def register_payload(fields: Mapping[str, str | None], ts_ms: int, nonce: str) -> bytes:
    names = (
        "deviceNo",
        "publicKey",
        "evidenceKey",
        "areaCode",
        "hallCode",
        "windowNo",
        "deptCode",
        "terminalNo",
    )
    body = "".join(element(n, fields.get(n)) for n in names)
    return f"{_root('register', ts_ms, nonce)}{body}</register>".encode()


@dataclass(frozen=True)
class Result:
    """The province's answer for one evaluation."""

    evaluation_id: str
    status: str  # accepted, duplicate or rejected
    unid: str  # evaluateUnid: the province's own id ("" when rejected)
    error_code: str
    error_message: str


def results(answer: bytes, expected: Sequence[str]) -> list[Result]:
    """The `<results>` answer, checked to hold one result per evaluation sent, in order;
    XmlError otherwise."""
    root = parse(answer)
    if local(root.tag) != "results":
        raise XmlError(f"answer is <{local(root.tag)}>, not <results>")
    found = [c for c in root if local(c.tag) == "result"]
    if len(found) != len(expected):
        raise XmlError(f"{len(found)} results for {len(expected)} evaluations")
    out = []
    for sent, result in zip(expected, found, strict=True):
        evaluation_id = child_text(result, "EVALUATEID")
        if evaluation_id != sent:
            raise XmlError("the results do not match the evaluations sent")
        status = child_text(result, "status")
        if status not in STATUSES:
            raise XmlError(f"result status {status[:20]!r} is not one the interface knows")
        out.append(
            Result(
                evaluation_id,
                status,
                _optional(result, "evaluateUnid"),
                _optional(result, "errorCode")[:64],
                _optional(result, "errorMessage")[:200],
            )
        )
    return out


def _optional(parent: Any, name: str) -> str:
    found = [c for c in parent if local(c.tag) == name]
    return (found[0].text or "").strip() if len(found) == 1 else ""


def answer_root(answer: bytes, name: str) -> Any:
    """The answer's root element, checked to be `<name>`."""
    root = parse(answer)
    if local(root.tag) != name:
        raise XmlError(f"answer is <{local(root.tag)}>, not <{name}>")
    return root

"""One `<evaluation>` at the stand-in's 国密 dialect: exactly the interface's children, the
signed record inside CANONICAL checked (hash, device signature under the registered evidence
key, the JSON interface's field rules) and every XML field compared with it. Pure."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element

from device.keys.signing import public_key_from_b64, verify_record
from device.record.canonical import NotCanonicalError, canonical_json, sha256_hex
from simulator.province.batch import checked_record
from simulator.province.ratings import CheckedRecord
from simulator.province.validation import Rejection, validate_record

CHILDREN = (
    "EVALUATEID", "SERIALNO", "ASSESSNUMBER", "PROJECTNO", "BATCHPROJECTNOS", "TASKCODE",
    "TASKNAME", "PROSTATUS", "EVALUATELEVEL", "EVALUATETYPE", "EVALUATETIME", "CLOCKSYNCED",
    "STAFFNO", "STAFFNAME", "AREACODE", "DEPTCODE", "HALLCODE", "WINDOWNO", "TERMINALNO",
    "DEVICENO", "EVALUATEDETAIL", "EVALUATECONTENT", "USERNAME", "CERTTYPE", "CERTKEY",
    "REACTIONMS", "RECORDHASH", "DEVICESIGN", "CANONICAL",
)  # fmt: skip
TYPES = {"touch": "1", "keypad": "2", "qr": "3", "web": "4"}


def field_error(name: str, message: str) -> Rejection:
    return Rejection("E_FIELD", f"{name}: {message}", name)


def children(evaluation: Element) -> dict[str, str] | Rejection:
    """The children as text ("" for empty), or E_FIELD naming the one missing, repeated or
    unknown."""
    values: dict[str, str] = {}
    for child in evaluation:
        if child.tag not in CHILDREN:
            return field_error(str(child.tag)[:40], "is not an element of <evaluation>")
        if child.tag in values or len(child):
            return field_error(child.tag, "must appear once, as text")
        values[child.tag] = child.text or ""
    for name in CHILDREN:
        if name not in values:
            return field_error(name, "is missing")
    return values


def _text(value: Any) -> str:
    """A record value as the XML carries it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def expected(record: Mapping[str, Any]) -> dict[str, str]:
    """What each element must say, given the signed record."""
    cases = record.get("batchProjectNos")
    level = record.get("satisfaction")
    return {
        "EVALUATEID": _text(record.get("evaluationId")),
        "SERIALNO": _text(record.get("seq")),
        "ASSESSNUMBER": _text(record.get("assessNumber")),
        "PROJECTNO": _text(record.get("projectNo")),
        "BATCHPROJECTNOS": ",".join(cases) if cases else "",
        "TASKCODE": _text(record.get("taskCode")),
        "TASKNAME": _text(record.get("taskName")),
        "PROSTATUS": _text(record.get("proStatus")),
        "EVALUATELEVEL": str(6 - level) if isinstance(level, int) else "",
        "EVALUATETYPE": TYPES.get(str(record.get("source")), ""),
        "EVALUATETIME": _text(record.get("assessTime")),
        "CLOCKSYNCED": _text(record.get("clockSynced")),
        "STAFFNO": _text(record.get("proManagerNo")),
        "STAFFNAME": _text(record.get("proManager")),
        "AREACODE": _text(record.get("areaCode")),
        "DEPTCODE": _text(record.get("deptCode")),
        "HALLCODE": _text(record.get("hallCode")),
        "WINDOWNO": _text(record.get("windowNo")),
        "TERMINALNO": _text(record.get("terminalNo")),
        "DEVICENO": _text(record.get("deviceId")),
        "EVALUATEDETAIL": ",".join(record.get("evalDetail") or []),
        "EVALUATECONTENT": _text(record.get("writingEvaluation")),
        "USERNAME": _text(record.get("userName")),
        "CERTTYPE": _text(record.get("certType")),
        "CERTKEY": _text(record.get("certKey")),
        "REACTIONMS": _text(record.get("reactionMs")),
        "DEVICESIGN": _text(record.get("signature")),
    }


def check(
    values: Mapping[str, str], device_no: str, keys: Mapping[str, str]
) -> CheckedRecord | Rejection:
    """The record to store, or why it is refused. *keys*: the device's evidence keys."""
    if not 0 < len(values["EVALUATEID"]) <= 64:
        return field_error("EVALUATEID", "must be 1-64 characters")
    try:
        canonical = base64.b64decode(values["CANONICAL"], validate=True)
        record = json.loads(canonical)
    except (binascii.Error, ValueError):
        return field_error("CANONICAL", "must be standard base64 of the signed record's JSON")
    if sha256_hex(canonical) != values["RECORDHASH"]:
        return Rejection("E_SIGNATURE", "RECORDHASH does not match CANONICAL")
    rejection = validate_record(record)
    if rejection is not None:
        return rejection
    try:
        if canonical_json(record) != canonical:
            return field_error("CANONICAL", "is not the record's canonical JSON")
    except NotCanonicalError:
        return field_error("CANONICAL", "is not canonical JSON")
    if record["deviceId"] != device_no or record["keyId"] not in keys:
        return Rejection("E_SIGNATURE", "the record is not signed by the calling device's key")
    if not verify_record(public_key_from_b64(keys[record["keyId"]]), record):
        return Rejection("E_SIGNATURE", "DEVICESIGN does not verify over CANONICAL")
    for name, value in expected(record).items():
        if values[name] != value:
            return field_error(name, "does not agree with the signed record")
    level = int(values["EVALUATELEVEL"])
    if level >= 4 and not (values["EVALUATEDETAIL"].strip() or values["EVALUATECONTENT"].strip()):
        return Rejection(
            "E_REASON_REQUIRED", "a bad rating needs EVALUATEDETAIL or EVALUATECONTENT"
        )
    return checked_record(record, canonical)

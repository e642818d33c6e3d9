"""What an evaluation sent to the independent 国密 province must be, from province-gm.md
alone: exactly the listed children, each agreeing with the signed record in CANONICAL (level
codes reversed, booleans 1/0, empty for null), RECORDHASH and DEVICESIGN checked with the
registered evidence key, and the result element answered for it."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.support.independent_gm_crypto import CryptoRefusedError, strict_b64
from tests.support.independent_gm_soap import esc

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EVALUATION_CHILDREN = frozenset(
    [
        "EVALUATEID",
        "SERIALNO",
        "ASSESSNUMBER",
        "PROJECTNO",
        "BATCHPROJECTNOS",
        "TASKCODE",
        "TASKNAME",
        "PROSTATUS",
        "EVALUATELEVEL",
        "EVALUATETYPE",
        "EVALUATETIME",
        "CLOCKSYNCED",
        "STAFFNO",
        "STAFFNAME",
        "AREACODE",
        "DEPTCODE",
        "HALLCODE",
        "WINDOWNO",
        "TERMINALNO",
        "DEVICENO",
        "EVALUATEDETAIL",
        "EVALUATECONTENT",
        "USERNAME",
        "CERTTYPE",
        "CERTKEY",
        "REACTIONMS",
        "RECORDHASH",
        "DEVICESIGN",
        "CANONICAL",
    ]
)
SOURCE_CODES = {"touch": "1", "keypad": "2", "qr": "3", "web": "4"}


class RejectedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def evaluation_children(item: Element) -> dict[str, str]:
    names = [child.tag for child in item]
    if len(names) != len(set(names)):
        raise RejectedError("E_FIELD", "an element appears twice")
    if set(names) != EVALUATION_CHILDREN:
        wrong = sorted(set(names) ^ EVALUATION_CHILDREN)
        raise RejectedError("E_FIELD", wrong[0])
    children = {}
    for child in item:
        if len(child) or child.attrib:
            raise RejectedError("E_FIELD", child.tag)
        children[child.tag] = child.text or ""
    return children


def xml_value(value: Any) -> str:
    """What the document says an element holds for a record's value (empty means null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def check_against_canonical(
    children: dict[str, str], evidence_key: Ed25519PublicKey, device_no: str
) -> None:
    """Refuse (RejectedError) an evaluation that disagrees with its signed record."""
    try:
        sent = strict_b64(children["CANONICAL"])
        record = json.loads(sent.decode("utf-8"))
    except (CryptoRefusedError, ValueError) as exc:
        raise RejectedError("E_FIELD", "CANONICAL") from exc
    if not isinstance(record, dict) or canonical(record) != sent:
        raise RejectedError("E_FIELD", "CANONICAL")
    if children["RECORDHASH"] != hashlib.sha256(sent).hexdigest():
        raise RejectedError("E_SIGNATURE", "RECORDHASH")
    if children["DEVICESIGN"] != record.get("signature"):
        raise RejectedError("E_SIGNATURE", "DEVICESIGN differs from the record's signature")
    unsigned = {k: v for k, v in record.items() if k != "signature"}
    try:
        evidence_key.verify(strict_b64(children["DEVICESIGN"]), canonical(unsigned))
    except (CryptoRefusedError, InvalidSignature) as exc:
        raise RejectedError("E_SIGNATURE", "DEVICESIGN does not verify") from exc
    batch = record.get("batchProjectNos")
    satisfaction = record.get("satisfaction")
    if not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise RejectedError("E_FIELD", "EVALUATELEVEL")
    expected = {
        "EVALUATEID": record.get("evaluationId"),
        "SERIALNO": record.get("seq"),
        "ASSESSNUMBER": record.get("assessNumber"),
        "PROJECTNO": record.get("projectNo"),
        "BATCHPROJECTNOS": ",".join(batch) if batch else None,
        "TASKCODE": record.get("taskCode"),
        "TASKNAME": record.get("taskName"),
        "PROSTATUS": record.get("proStatus"),
        "EVALUATELEVEL": 6 - satisfaction,
        "EVALUATETYPE": SOURCE_CODES.get(str(record.get("source"))),
        "EVALUATETIME": record.get("assessTime"),
        "CLOCKSYNCED": record.get("clockSynced"),
        "STAFFNO": record.get("proManagerNo"),
        "STAFFNAME": record.get("proManager"),
        "AREACODE": record.get("areaCode"),
        "DEPTCODE": record.get("deptCode"),
        "HALLCODE": record.get("hallCode"),
        "WINDOWNO": record.get("windowNo"),
        "TERMINALNO": record.get("terminalNo"),
        "DEVICENO": record.get("deviceId"),
        "EVALUATEDETAIL": ",".join(record.get("evalDetail") or []),
        "EVALUATECONTENT": record.get("writingEvaluation"),
        "USERNAME": record.get("userName"),
        "CERTTYPE": record.get("certType"),
        "CERTKEY": record.get("certKey"),
        "REACTIONMS": record.get("reactionMs"),
    }
    for name, value in expected.items():
        if children[name] != xml_value(value):
            raise RejectedError("E_FIELD", f"{name} disagrees with CANONICAL")
    if children["DEVICENO"] != device_no:
        raise RejectedError("E_FIELD", "DEVICENO is not the calling device")
    if batch and record.get("projectNo") not in batch:
        raise RejectedError("E_FIELD", "BATCHPROJECTNOS")
    if not re.fullmatch(r"[1-9][0-9]*", children["SERIALNO"]) or len(children["EVALUATEID"]) > 64:
        raise RejectedError("E_FIELD", "SERIALNO")
    if parse_time(children["EVALUATETIME"]) is None:
        raise RejectedError("E_FIELD", "EVALUATETIME")
    if children["EVALUATELEVEL"] in ("4", "5") and not (
        children["EVALUATEDETAIL"] or children["EVALUATECONTENT"]
    ):
        raise RejectedError("E_REASON_REQUIRED", "a bad rating without a reason")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_time(text: str | None) -> datetime | None:
    if text is None or not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text):
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return None


def result_xml(evaluate_id: str, status: str, unid: str, code: str, message: str) -> str:
    return (
        f"<result><EVALUATEID>{esc(evaluate_id)}</EVALUATEID><status>{status}</status>"
        f"<evaluateUnid>{unid}</evaluateUnid><errorCode>{code}</errorCode>"
        f"<errorMessage>{esc(message)}</errorMessage></result>"
    )

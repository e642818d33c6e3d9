"""A 国密 province's proof that it stored a rating: its answer payload (`<results>`), signed
with its SM2 key, kept once per call; each delivered rating's receipt names its id at the
province (`evaluateUnid`) and the SHA-256 of that answer. Pure.

`acknowledges` reads the answer again (defusedxml: no DTD, no entity) to say whether it
holds this rating, with this status and this id.
"""

from __future__ import annotations

import hashlib
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

GM_RECEIPT_PREFIX = "gm-sm2:"


def answer_digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def gm_receipt(unid: str, digest: str) -> str:
    """The receipt column of a rating a 国密 province stored: its id there and the answer's."""
    return f"{GM_RECEIPT_PREFIX}{unid}@{digest}"


def parse_gm_receipt(receipt: str | None) -> tuple[str, str] | None:
    """(evaluateUnid, answer digest) of a 国密 receipt; None for any other text."""
    if receipt is None or not receipt.startswith(GM_RECEIPT_PREFIX):
        return None
    unid, _, digest = receipt[len(GM_RECEIPT_PREFIX) :].rpartition("@")
    if not unid or len(digest) != 64:
        return None
    return unid, digest


def acknowledged(payload: bytes) -> dict[str, tuple[str, str]]:
    """What a `<results>` answer acknowledges: evaluationId → (status, evaluateUnid), for the
    ids it names exactly once; empty for anything that is not such an answer."""
    try:
        root = fromstring(payload, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError):
        return {}
    if root.tag != "results":
        return {}
    seen: dict[str, tuple[str, str]] = {}
    repeated: set[str] = set()
    for result in root:
        if result.tag != "result":
            continue
        evaluation_id = _text(result, "EVALUATEID")
        if evaluation_id in seen:
            repeated.add(evaluation_id)
        seen[evaluation_id] = (_text(result, "status"), _text(result, "evaluateUnid"))
    return {k: v for k, v in seen.items() if k not in repeated}


def _text(parent: Element, name: str) -> str:
    child = parent.find(name)
    return "" if child is None else (child.text or "").strip()

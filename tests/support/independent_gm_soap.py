"""SOAP 1.1 and payload XML for the independent 国密 province, from province-gm.md alone:
envelopes and payloads read with defusedxml (any DOCTYPE or entity refused), strict on shape,
namespaces, BOM and declaration; responses written with code, message, data, sign and the
optional field, retryAfter and serverTime, in that order; SOAP Faults; an entity bomb."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeXml

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
H_NS = "urn:hcp:gm:1"


class RefusalError(Exception):
    """A call answered with a non-zero code; `why` is what the province logs about it."""

    def __init__(self, code: int, why: str, **extra: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code, self.why, self.extra = code, why, extra


class TransportError(Exception):
    """A request answered with a SOAP Fault or a non-200 status: nothing was read."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_xml(data: bytes, what: str, code: int) -> Element:
    try:
        root: Element = SafeXml.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (DefusedXmlException, SafeXml.ParseError) as exc:
        if code:
            raise RefusalError(code, f"{what}: {exc}", field="data") from exc
        raise TransportError(500, f"{what}: {exc}") from exc
    return root


def read_envelope(operation: str, body: bytes) -> tuple[str, str, str, str]:
    envelope = parse_xml(body, "envelope", 0)
    bodies = list(envelope)
    if envelope.tag != f"{{{SOAP_NS}}}Envelope" or [b.tag for b in bodies] != [
        f"{{{SOAP_NS}}}Body"
    ]:
        raise TransportError(500, "not a SOAP 1.1 envelope with one Body")
    calls = list(bodies[0])
    if len(calls) != 1 or calls[0].tag != f"{{{H_NS}}}{operation}":
        raise TransportError(500, "Body does not hold the SOAPAction's operation")
    names = [c.tag for c in calls[0]]
    wanted = [f"{{{H_NS}}}{n}" for n in ("appKey", "deviceNo", "data", "sign")]
    if names != wanted:
        raise RefusalError(40001, f"operation children {names}", field="data")
    app_key, device_no, data, sign = (c.text or "" for c in calls[0])
    return app_key, device_no, data, sign


def read_payload(plain: bytes) -> Element:
    if plain.startswith(b"\xef\xbb\xbf") or plain.lstrip().startswith(b"<?xml"):
        raise RefusalError(40001, "payload with a BOM or an XML declaration", field="data")
    try:
        plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusalError(40001, "payload is not UTF-8", field="data") from exc
    payload = parse_xml(plain, "payload", 40001)
    for element in payload.iter():
        if "}" in element.tag:
            raise RefusalError(40001, "payload element with a namespace", field="data")
    extra = set(payload.attrib) - {"ts", "nonce"}
    if extra:
        raise RefusalError(40001, f"payload attributes {sorted(extra)}", field="data")
    return payload


def exact_children(payload: Element, root: str, names: list[str], code: int) -> dict[str, str]:
    if payload.tag != root:
        raise RefusalError(40001, f"root is not <{root}>", field=root)
    got = [c.tag for c in payload]
    if sorted(got) != sorted(names):
        wrong = sorted(set(got) ^ set(names)) or got
        raise RefusalError(code, f"children {got}", field=wrong[0])
    return {c.tag: c.text or "" for c in payload}


def child_or_empty(payload: Element, name: str) -> str:
    return child_text(payload, name) or ""


def child_text(element: Element, name: str) -> str | None:
    found = element.find(name)
    return None if found is None else (found.text or "")


def response(
    operation: str, code: int, message: str, data: str, sign: str, extra: dict[str, str]
) -> bytes:
    tail = "".join(
        f"<h:{name}>{esc(extra[name])}</h:{name}>"
        for name in ("field", "retryAfter", "serverTime")
        if name in extra
    )
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:h="{H_NS}"><soap:Body>'
        f"<h:{operation}Response><h:code>{code}</h:code><h:message>{esc(message)}</h:message>"
        f"<h:data>{data}</h:data><h:sign>{sign}</h:sign>{tail}</h:{operation}Response>"
        "</soap:Body></soap:Envelope>"
    ).encode()


# A billion laughs: ten levels of ten references each, expanding to 10^9 copies of "ha".
BOMB = (
    b'<!DOCTYPE ROOT [<!ENTITY e0 "ha">'
    + b"".join(f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10))
    + b"]>"
)

FAULT = (
    f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault><faultcode>soap:Client'
    "</faultcode><faultstring>{why}</faultstring></soap:Fault></soap:Body></soap:Envelope>"
)

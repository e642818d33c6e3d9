"""SOAP as the stand-in's 国密 dialect reads and writes it: the request envelope read with
defusedxml (no DTD, no entity, no external reference), answers and Faults written. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
HCP = "urn:hcp:gm:1"
OPERATIONS = ("registerDevice", "saveEvaluation", "supplementEvaluation", "heartbeat")


class Unreadable(Exception):  # noqa: N818 (what the envelope is: answered with a Fault)
    """An envelope that cannot be read: answered with a SOAP Fault."""


class Malformed(Exception):  # noqa: N818 (answered 40001 with the field)
    """A payload that is not what the interface says (40001, naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_xml(data: bytes) -> Element:
    """Untrusted XML; ValueError for a DOCTYPE, an entity, an external reference or bad XML."""
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise ValueError(f"{type(exc).__name__}") from exc


@dataclass(frozen=True)
class Call:
    operation: str
    app_key: str
    device_no: str
    data: str
    sign: str


def read_call(body: bytes, operation: str) -> Call:
    """The request envelope of *operation*; Unreadable when it is anything else."""
    try:
        root = parse_xml(body)
    except ValueError as exc:
        raise Unreadable(f"the envelope is not acceptable XML ({exc})") from exc
    if root.tag != f"{{{SOAP}}}Envelope":
        raise Unreadable("not a SOAP 1.1 Envelope")
    bodies = [c for c in root if c.tag == f"{{{SOAP}}}Body"]
    if len(bodies) != 1 or len(bodies[0]) != 1 or bodies[0][0].tag != f"{{{HCP}}}{operation}":
        raise Unreadable(f"the Body does not hold one h:{operation}")
    fields: dict[str, str] = {}
    for child in bodies[0][0]:
        name = child.tag.removeprefix(f"{{{HCP}}}")
        if name == child.tag or name in fields or len(child):
            raise Unreadable(f"unexpected element {child.tag} in h:{operation}")
        fields[name] = (child.text or "").strip()
    if set(fields) != {"appKey", "deviceNo", "data", "sign"}:
        raise Unreadable("h:appKey, h:deviceNo, h:data and h:sign are required")
    return Call(operation, fields["appKey"], fields["deviceNo"], fields["data"], fields["sign"])


def answer(operation: str, code: int, message: str, **extra: str) -> bytes:
    """`<h:OPERATIONResponse>`: code, message, data, sign, then field, retryAfter,
    serverTime where given."""
    parts = [f"<h:code>{code}</h:code>", f"<h:message>{escape(message)}</h:message>"]
    parts.append(f"<h:data>{escape(extra.get('data', ''))}</h:data>")
    parts.append(f"<h:sign>{escape(extra.get('sign', ''))}</h:sign>")
    for name in ("field", "retryAfter", "serverTime"):
        if name in extra:
            parts.append(f"<h:{name}>{escape(extra[name])}</h:{name}>")
    inner = "".join(parts)
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:h="{HCP}"><soap:Body>'
        f"<h:{operation}Response>{inner}</h:{operation}Response></soap:Body></soap:Envelope>"
    ).encode()


def fault(reason: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Client</faultcode><faultstring>{escape(reason)}</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()

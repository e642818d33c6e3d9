"""SOAP 1.1 envelopes of the 国密 interface: the request the device sends, the response it
reads (without trusting it: parsed by defusedxml, every field bounded). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from sync.gm.xmltext import XmlError, element, local, parse

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
HCP_NS = "urn:hcp:gm:1"


def request(operation: str, app_key: str, device_no: str, data: str, sign: str) -> bytes:
    parts = (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:h="{HCP_NS}"><soap:Body>',
        f"<h:{operation}>",
        element("h:appKey", app_key),
        element("h:deviceNo", device_no),
        element("h:data", data),
        element("h:sign", sign),
        f"</h:{operation}></soap:Body></soap:Envelope>",
    )
    return "".join(parts).encode("utf-8")


@dataclass(frozen=True)
class Response:
    """What an `<OPERATIONResponse>` says; optional fields "" when absent."""

    code: str
    message: str
    data: str
    sign: str
    field: str = ""
    retry_after: str = ""
    server_time: str = ""


def response(body: bytes, operation: str) -> Response:
    """The response to *operation*; XmlError for a Fault or anything of another shape."""
    root = parse(body)
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise XmlError("the answer is not a SOAP 1.1 envelope")
    bodies = [c for c in root if c.tag == f"{{{SOAP_NS}}}Body"]
    if len(bodies) != 1 or len(bodies[0]) != 1:
        raise XmlError("the envelope has no single body element")
    answer = bodies[0][0]
    if answer.tag == f"{{{SOAP_NS}}}Fault":
        raise XmlError("the province answered with a SOAP Fault")
    if answer.tag != f"{{{HCP_NS}}}{operation}Response":
        raise XmlError(f"the answer is <{local(answer.tag)}>, not <{operation}Response>")
    values: dict[str, str] = {}
    for child in answer:
        name = local(child.tag)
        if child.tag != f"{{{HCP_NS}}}{name}" or name in values:
            raise XmlError(f"unexpected element <{name}> in the answer")
        values[name] = (child.text or "").strip()
    if "code" not in values:
        raise XmlError("the answer has no code")
    return Response(
        values["code"][:16],
        values.get("message", "")[:200],
        values.get("data", ""),
        values.get("sign", ""),
        values.get("field", "")[:64],
        values.get("retryAfter", "")[:16],
        values.get("serverTime", "")[:32],
    )

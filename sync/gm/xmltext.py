"""Writing and reading the 国密 interface's XML: text escaped by hand, untrusted XML parsed
only with defusedxml, refusing any DOCTYPE, entity or external reference. Pure."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from device.errors import HaochapingError

# characters XML 1.0 cannot carry at all, escaped or not
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}
ESCAPED = re.compile('[&<>"\r]')


class XmlError(HaochapingError):
    """XML that is not well-formed, declares a DOCTYPE or entities, or has another shape."""

    code = "E_XML"


def text(value: str) -> str:
    """*value* escaped for element text or a double-quoted attribute."""
    return ESCAPED.sub(lambda m: ESCAPES[m.group()], value)


def writable(value: str) -> bool:
    return NOT_XML.search(value) is None


def element(name: str, value: str | None) -> str:
    """`<name>value</name>`; None is the empty element (null)."""
    return f"<{name}>{'' if value is None else text(value)}</{name}>"


def parse(data: bytes) -> Element:
    """The root of untrusted XML, or XmlError: never resolves an entity, never reads a DTD."""
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise XmlError(f"not acceptable XML: {type(exc).__name__}") from exc


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def child_text(parent: Element, name: str) -> str:
    """The text of the one child named *name* (namespace ignored); "" when empty."""
    found = [c for c in parent if local(c.tag) == name]
    if len(found) != 1:
        raise XmlError(f"<{local(parent.tag)}> has {len(found)} <{name}> elements, not one")
    return found[0].text or ""

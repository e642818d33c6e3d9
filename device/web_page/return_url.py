"""Which addresses the rating page may send the browser back to: only those allowed at
provisioning (`[rate_page] return_urls`), compared strictly, so the device is never an open
redirect. Pure: strings in, a verdict out.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

MAX_RETURN_URL = 2000
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# control characters, spaces, backslashes (browsers read "\" as "/"), and an encoded dot,
# slash or backslash, which a browser or a server may turn into a path step later
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]|%2e|%2f|%5c", re.IGNORECASE)


def _parts(url: str) -> tuple[SplitResult, int] | None:
    """The URL split, with its port made explicit; None when it is not a plain web address."""
    if _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    if any(step in (".", "..") for step in parts.path.split("/")):
        return None
    return parts, port if port is not None else DEFAULT_PORTS[parts.scheme]


def allowed_entry_problem(entry: str) -> str | None:
    """Why *entry* cannot be an allowed return address; None when it can."""
    found = _parts(entry)
    if found is None:
        return "is not an http(s) address with a host (no user name, spaces or encoded dots)"
    parts, _ = found
    if parts.query or parts.fragment:
        return "must be an origin or an origin and a path, without ? or #"
    return None


def return_allowed(url: str, allowed: list[str]) -> bool:
    """True when *url* is of an allowed origin and under an allowed path."""
    if len(url) > MAX_RETURN_URL:
        return False
    found = _parts(url)
    if found is None:
        return False
    parts, port = found
    path = parts.path or "/"
    for entry in allowed:
        allowed_found = _parts(entry)
        if allowed_found is None:
            continue
        want, want_port = allowed_found
        same_origin = (
            want.scheme == parts.scheme
            and (want.hostname or "").lower() == (parts.hostname or "").lower()
            and want_port == port
        )
        if same_origin and _under(path, want.path or "/"):
            return True
    return False


def _under(path: str, prefix: str) -> bool:
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")

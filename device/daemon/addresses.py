"""Which addresses stay on the device, and so may be spoken to in plain HTTP: loopback only.

Pure rules for the configuration's checks: the local API off loopback serves HTTPS only; a
province URL in plain `http://` must point at a loopback host.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (also IPv4-mapped, in brackets) and `localhost`; False for
    every other name or address, also the wildcard ("", 0.0.0.0, ::) that listens on all."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def local_api_serves_tls(bind: str, tls: bool | None) -> bool:
    """Whether the local API on *bind* speaks HTTPS: always off loopback, on loopback when
    `tls` asks for it. (`tls = false` off loopback is refused by the configuration check.)"""
    return bool(tls) or not is_loopback(bind)


def plain_http_refused(bind: str, tls: bool | None) -> bool:
    """`tls = false` asks for plain HTTP; refused unless *bind* is a loopback address."""
    return tls is False and not is_loopback(bind)


def province_url_problem(url: str) -> str | None:
    """Why *url* cannot be the province's base URL, or None: `https://` to any host, or
    `http://` to a loopback host (the stand-in on this machine)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL"
    if parts.scheme == "http" and not is_loopback(host):
        return (
            f"uses plain http:// to {host}, which is not a loopback address; "
            "use https:// (http:// is allowed only to 127.0.0.0/8, ::1 or localhost)"
        )
    return None

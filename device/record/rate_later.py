"""The rate-later link: a URL for the rater's phone, carrying the case number and device id,
signed by the device so the province can tell it was issued here for this case.

Signature: Ed25519 by the device key over `projectNo\\ndeviceId\\nissuedAt` (UTF-8), base64url
without padding; issuedAt is Unix seconds by the device clock (the province applies its own
7-day window from when it first sees the case).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

from device.keys.signing import DeviceKey

# What the device appends to the province's phone page to make a code's link.
PAGE_QUERY = "?p={projectNo}&d={deviceId}&t={issuedAt}&k={keyId}&s={signature}"
# A sample only: `haochaping-provision check` fails a device still pointing at it.
DEFAULT_TEMPLATE = "https://hcp.example.gov.cn/m/rate" + PAGE_QUERY


def template_for(page: str) -> str:
    """The URL template for codes leading to the province's phone page at *page*."""
    return page + PAGE_QUERY


def signed_message(project_no: str, device_id: str, issued_at: int) -> bytes:
    return f"{project_no}\n{device_id}\n{issued_at}".encode()


def rate_later_url(
    template: str, project_no: str, device_id: str, issued_at: int, key: DeviceKey
) -> str:
    raw = key.private.sign(signed_message(project_no, device_id, issued_at))
    signature = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return template.format(
        projectNo=quote(project_no, safe=""),
        deviceId=quote(device_id, safe=""),
        issuedAt=issued_at,
        keyId=key.key_id,
        signature=signature,
    )


@dataclass(frozen=True)
class RateLaterCode:
    """A code handed out for one case: its signed link and when it was issued (Unix seconds,
    device clock); the province counts its 7 days from `issued_at`."""

    project_no: str
    url: str
    issued_at: int

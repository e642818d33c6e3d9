"""The asset label: a QR code a technician's phone or the hall's inventory can scan, holding
the device id, key id, site and the local API's certificate fingerprint, written as PNG."""

from __future__ import annotations

import json
from pathlib import Path

import segno

from device.daemon.config import Config
from provisioning.certificate import certificate_fingerprint


def label_text(config: Config) -> str:
    site = config.site
    local_api = config.local_api
    return json.dumps(
        {
            "deviceId": config.province.device_id,
            "keyId": config.province.key_id,
            "enrolledKeyId": config.province.enrolled_key_id,
            "areaCode": site.area_code,
            "hallCode": site.hall_code,
            "windowNo": site.window_no,
            "terminalNo": site.terminal_no,
            "localApi": f"{local_api.bind}:{local_api.port}",
            # SHA-256 of the local API's certificate, for the business system to pin
            "localApiCert": certificate_fingerprint(config.state_dir),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def write_label(config: Config, out: Path) -> Path:
    qr = segno.make(label_text(config), error="q")
    out.parent.mkdir(parents=True, exist_ok=True)
    qr.save(str(out), scale=8, border=4)
    return out

"""The asset label as a technician prints it: `haochaping-provision show --label` writes a 300 dpi
PNG for 62 mm tape whose QR code decodes (with Debian's zbar) to the device's identity and
whose text beside it is tall enough to read."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import subprocess

import pygame
import pytest

from device.daemon.config import save
from provisioning.certificate import certificate_fingerprint
from provisioning.label import key_fingerprint, label_lines
from tests.support.sync import Device

MM_PER_INCH = 25.4
MIN_TEXT_MM = 1.5  # the smallest line's ink height: about the cap height of 6-point type
ZBARIMG = shutil.which("zbarimg")


def _dpi(png: bytes) -> float:
    at = png.index(b"pHYs")
    per_metre, _, unit = struct.unpack(">IIB", png[at + 4 : at + 13])
    assert unit == 1  # metres
    return per_metre * 0.0254


def _bands(dark: list[bool]) -> list[tuple[int, int]]:
    """Runs of True as (start, length)."""
    runs: list[tuple[int, int]] = []
    for i, on in enumerate(dark):
        if on and (not runs or runs[-1][0] + runs[-1][1] != i):
            runs.append((i, 1))
        elif on:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
    return runs


@pytest.mark.skipif(ZBARIMG is None, reason="zbar-tools not installed (./dev test installs it)")
def test_the_label_carries_readable_text_beside_a_qr_code_that_decodes(tmp_path, province):
    device = Device(tmp_path, province)
    device.config = dataclasses.replace(
        device.config, site=dataclasses.replace(device.config.site, hall_code="H01")
    )
    save(device.config, device.config_path)
    out = tmp_path / "label.png"
    result = device.provision_cli("show", "--label", str(out))
    assert result.returncode == 0, result.stderr

    png = out.read_bytes()
    dpi = _dpi(png)
    image = pygame.image.load(str(out))
    width, height = image.get_size()
    assert round(dpi) == 300
    assert width == 696  # the printable dots across 62 mm tape
    assert width / dpi * MM_PER_INCH < 62

    decoded = subprocess.run(
        [ZBARIMG, "--raw", "-q", str(out)], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    assert json.loads(decoded) == {
        "deviceId": device.config.province.device_id,
        "keyId": device.config.province.key_id,
        "enrolledKeyId": device.config.province.key_id,
        "areaCode": device.config.site.area_code,
        "hallCode": "H01",
        "windowNo": "3",
        "terminalNo": None,
        "localApi": "127.0.0.1:8470",
        "localApiCert": certificate_fingerprint(device.config.state_dir),
    }

    def ink(x: int, y: int) -> bool:
        return max(image.get_at((x, y))[:3]) < 128

    columns = [any(ink(x, y) for y in range(height)) for x in range(width)]
    qr, text = _bands(columns)[0], _bands(columns)[1:]
    assert qr[1] / dpi * MM_PER_INCH >= 20  # the code itself at least 20 mm wide
    text_left = text[0][0]
    assert text_left - (qr[0] + qr[1]) >= 8  # text beside the code, apart from it
    assert text[-1][0] + text[-1][1] <= width - 8  # no line runs off the tape
    rows = _bands([any(ink(x, y) for x in range(text_left, width)) for y in range(height)])
    lines = label_lines(
        device.config,
        key_fingerprint(device.config),
        certificate_fingerprint(device.config.state_dir),
    )
    assert len(rows) == len(lines)  # every line drawn, none run together
    heights_mm = [length / dpi * MM_PER_INCH for _, length in rows]
    assert min(heights_mm) >= MIN_TEXT_MM, heights_mm
    assert any(line.text == device.config.province.device_id for line in lines)

"""The asset label: the device's identity as readable text beside a QR code holding the same
(device id, key id, site, local API and its certificate fingerprint), sized for a label
printer's 62 mm continuous tape (Brother DK-22205: 696 printable dots at 300 dpi) and written
as a PNG that says its 300 dpi."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pygame
import pygame.freetype
import segno

from device.daemon.config import Config
from device.keys.signing import DeviceKey, KeyFileError
from device.screen.fonts import FontChain, load_font
from provisioning.certificate import certificate_fingerprint

DPI = 300
WIDTH = 696  # printable dots across 62 mm tape at 300 dpi (about 59 mm)
MARGIN = 14
QR_SIDE = 310  # about 26 mm; the text takes the rest of the width
MIN_PX = 26  # a line too long for the width is drawn smaller, never below this (2.2 mm)
INK = (0, 0, 0)
PAPER = (255, 255, 255)
TITLE_PX, TEXT_PX, SMALL_PX = 40, 32, 30  # font sizes: 3.4, 2.7 and 2.5 mm


def label_text(config: Config) -> str:
    """What the QR code holds: JSON a phone or the hall's inventory can read."""
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


@dataclass(frozen=True)
class Line:
    text: str
    size: int
    gap: int = 6  # space above the line


def key_fingerprint(config: Config) -> str | None:
    """SHA-256 of the device's public key, hex (as `provision show` prints it)."""
    try:
        return hashlib.sha256(DeviceKey.load(config.key_path).public_raw).hexdigest()
    except KeyFileError:
        return None


def label_lines(config: Config, key_sha256: str | None, cert_sha256: str | None) -> list[Line]:
    """The readable text, top to bottom: who the device is and where, then the fingerprints
    in short groups a technician can compare by eye."""
    site = config.site
    place = f"窗口 {site.window_no}" if site.window_no else f"终端 {site.terminal_no or '-'}"
    lines = [
        Line("好差评评价器", TITLE_PX, 0),
        Line(f"{place}  大厅 {site.hall_code or '-'}", TEXT_PX, 10),
        Line(f"区划 {site.area_code}", TEXT_PX),
        Line("设备 ID", SMALL_PX, 14),
        Line(config.province.device_id, TEXT_PX, 2),
        Line("设备密钥 SHA-256", SMALL_PX, 14),
    ]
    if key_sha256:
        groups = [key_sha256[i : i + 8] for i in range(0, 64, 8)]
        lines += [Line(f"{groups[i]} {groups[i + 1]}", SMALL_PX, 2) for i in range(0, 8, 2)]
    else:
        lines.append(Line("(key file not readable)", SMALL_PX, 2))
    lines.append(Line("本地接口证书 SHA-256", SMALL_PX, 14))
    if cert_sha256:
        pairs = cert_sha256.split(":")
        lines += [Line(":".join(pairs[i : i + 8]), SMALL_PX, 2) for i in range(0, 32, 8)]
    else:
        lines.append(Line("(none: haochaping-provision certificate)", SMALL_PX, 2))
    return lines


def _qr_surface(text: str) -> pygame.Surface:
    qr = segno.make(text, error="m")
    border = 4  # the quiet zone scanners need
    modules = qr.symbol_size(scale=1, border=border)[0]
    scale = max(3, QR_SIDE // modules)
    surface = pygame.Surface((modules * scale, modules * scale))
    surface.fill(PAPER)
    for y, row in enumerate(qr.matrix):
        for x, dark in enumerate(row):
            if dark:
                rect = ((x + border) * scale, (y + border) * scale, scale, scale)
                surface.fill(INK, rect)
    return surface


def render_label(config: Config, font: FontChain) -> pygame.Surface:
    qr = _qr_surface(label_text(config))
    lines = label_lines(config, key_fingerprint(config), certificate_fingerprint(config.state_dir))
    text_height = sum(line.gap + font.line_height(line.size) for line in lines)
    height = MARGIN * 2 + max(qr.get_height(), text_height)
    label = pygame.Surface((WIDTH, height))
    label.fill(PAPER)
    label.blit(qr, (MARGIN - 8, MARGIN))  # the QR's quiet zone is margin enough
    x = MARGIN - 8 + qr.get_width() + 8
    room = WIDTH - MARGIN - x
    y = MARGIN
    for line in lines:
        y += line.gap
        size = line.size
        while font.width(line.text, size) > room and size > MIN_PX:
            size -= 1
        font.render_to(label, (x, y), line.text, INK, size=size)
        y += font.line_height(line.size)
    return label


def _with_dpi(png: bytes, dpi: int) -> bytes:
    """The PNG with a pHYs chunk after IHDR, so printing programs know its size."""
    per_metre = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", per_metre, per_metre, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def write_label(config: Config, out: Path) -> Path:
    """The label as a 300 dpi PNG, 696 dots wide, for 62 mm tape."""
    texts = [line.text for line in label_lines(config, "0" * 64, "00:" * 31 + "00")]
    pygame.freetype.init()
    font = load_font(config.display.font, texts, config.display.fallback_fonts)
    label = render_label(config, font)
    out.parent.mkdir(parents=True, exist_ok=True)
    plain = out.with_name(out.name + ".tmp.png")
    pygame.image.save(label, str(plain))
    try:
        out.write_bytes(_with_dpi(plain.read_bytes(), DPI))
    finally:
        plain.unlink(missing_ok=True)
    return out

"""The officer's page at `/`: what a provincial officer sees, rendered by a real headless
Chromium; data from devices is shown as text, never as markup.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import requests

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)
pytestmark = pytest.mark.officer_page


def chromium(*args: str, profile) -> subprocess.CompletedProcess[str]:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu"]
    command += ["--disable-background-networking", "--disable-component-update"]
    command += ["--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_the_page_is_utf8_html_with_escaped_device_data(province):
    reply = requests.get(f"{province.root_url}/", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    page = reply.content.decode("utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;等了一个小时&lt;/b&gt;" in page
    head = requests.head(f"{province.root_url}/", timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    assert requests.post(f"{province.root_url}/", timeout=10).status_code == 405
    assert requests.get(f"{province.root_url}/favicon.ico", timeout=10).status_code == 404


@needs_chromium
def test_an_officer_sees_devices_ratings_and_satisfaction(province, tmp_path):
    dom = chromium("--dump-dom", f"{province.root_url}/", profile=tmp_path / "profile").stdout
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    assert "<script" not in dom.lower()  # the hostile item name stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    window = province.window.device_id
    assert re.search(rf"{window} HCP-\w+ 640104 · YC-HALL-01 · 12 号窗口 \S+ \S+ 2 1 已连接", text)
    assert "从未" in text  # the terminal never sent a heartbeat
    assert "评价总数 6" in text
    assert "差评（共 2 条）" in text
    assert "多次跑腿（B03）" in text
    assert "排队时间长（B06）" in text
    assert "非常不满意" in text
    assert "触屏" in text
    assert "（时钟未同步）" in text
    # per staff: 0012 has 5, 4, 2 → 66.7 % satisfied, 33.3 % bad
    assert re.search(r"0012 王芳 1 1 0 1 0 3 66\.7% 33\.3%", text)
    assert re.search(r"0421 李强 0 0 1 0 1 2 0\.0% 50\.0%", text)
    assert re.search(r"—（自助终端） — 1 0 0 0 0 1 100\.0% 0\.0%", text)
    assert re.search(r"不动产登记 \S+ 2 1 0 0 0 3 100\.0% 0\.0%", text)


@needs_chromium
def test_the_page_renders_to_a_screenshot(province, tmp_path):
    shot = tmp_path / "page.png"
    args = (f"--screenshot={shot}", "--window-size=1280,900", f"{province.root_url}/")
    chromium(*args, profile=tmp_path / "profile")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000  # a blank 1280×900 page compresses to a few kB

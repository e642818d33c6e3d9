"""The rating page's font: a subset of the device's CJK font made in a process of its own,
holding every text the page can show, kept until its inputs change; a font that cannot be
read leaves the page on the browser's fonts, with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from device.daemon.config import DEFAULT_FONT
from device.web_page.font_subset import make_subset

needs_font = pytest.mark.skipif(
    not Path(DEFAULT_FONT).exists(), reason="fonts-wqy-microhei not installed"
)


@needs_font
def test_the_subset_holds_every_text_and_is_made_once(tmp_path):
    made = make_subset(Path(DEFAULT_FONT), ["窗口人员不在岗"], tmp_path)
    assert made is not None and made.parent == tmp_path / "web-font"
    cmap = TTFont(made).getBestCmap()
    for text in ("非常满意", "非常滿意", "Very satisfied", "窗口人员不在岗", "办件流水号：", "✓"):
        assert all(ord(c) in cmap for c in text), text
    assert 200_000 < made.stat().st_size < Path(DEFAULT_FONT).stat().st_size
    stamp = made.stat().st_mtime_ns
    assert make_subset(Path(DEFAULT_FONT), ["窗口人员不在岗"], tmp_path) == made
    assert made.stat().st_mtime_ns == stamp  # kept, not made again
    other = make_subset(Path(DEFAULT_FONT), ["吉𠮷"], tmp_path)  # a tag list with a new character
    assert other is not None and other != made and not made.exists()
    assert [p.name for p in (tmp_path / "web-font").iterdir()] == [other.name]


def test_a_font_that_cannot_be_read_leaves_the_browsers_fonts(tmp_path, caplog):
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font at all")
    with caplog.at_level(logging.WARNING):
        assert make_subset(broken, [], tmp_path) is None
        assert make_subset(tmp_path / "missing.ttf", [], tmp_path) is None
    assert "rating page font not made" in caplog.text
    assert "not readable" in caplog.text
    assert list((tmp_path / "web-font").iterdir()) == []  # no half-written file left

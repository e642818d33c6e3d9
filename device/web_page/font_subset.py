"""The CJK font the rating page is served with: a subset of the device's font (every text of
the three languages, the reason tags, and the 6,763 hanzi of GB 2312 for case and item names),
made with fontTools at start (in a process of its own, `font_tool`, so the evaluator does not
keep the parsed font) and kept in the state folder until its inputs change.

Characters outside it (rare names) fall back to the browser's own fonts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from device.screen.texts import LANGUAGES, VALUE_CHARACTERS, Texts

log = logging.getLogger(__name__)
FOLDER = "web-font"
MAKE_TIMEOUT_S = 120


def gb2312_characters() -> str:
    """Every character GB 2312 encodes (its hanzi and symbols), from Python's own codec."""
    found = []
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                found.append(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(found)


def page_characters(extra: Iterable[str]) -> str:
    """What the page may show: printable ASCII, GB 2312, all texts, and *extra* (tag labels)."""
    chars = {chr(c) for c in range(0x20, 0x7F)} | set(gb2312_characters()) | set(VALUE_CHARACTERS)
    chars |= {"✓", "“", "”", "「", "」", "…"}
    for language in LANGUAGES:
        for text in Texts(language).all_strings():
            chars |= set(text)
    for text in extra:
        chars |= set(text)
    return "".join(sorted(chars))


def make_subset(font: Path, extra: Iterable[str], state_dir: Path) -> Path | None:
    """The subset for *font* (made now unless the same one is kept); None when it cannot be
    made (no such font, a font fontTools cannot read): the page then uses the browser's."""
    text = page_characters(extra)
    try:
        stat = font.stat()
    except OSError as exc:
        log.warning(
            "rating page font %s not readable (%s): the browser's fonts are used", font, exc
        )
        return None
    digest = hashlib.sha256(
        f"{font}\0{stat.st_size}\0{stat.st_mtime_ns}\0{text}".encode()
    ).hexdigest()[:16]
    folder = state_dir / FOLDER
    target = folder / f"{digest}.ttf"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{digest}.ttf.tmp"
    characters = folder / f".{digest}.txt"
    characters.write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "device.web_page.font_tool", str(font), str(characters)]
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter and module)
            [*command, str(partial)],
            capture_output=True,
            text=True,
            timeout=MAKE_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise OSError(last)
        os.replace(partial, target)
    except (OSError, subprocess.SubprocessError) as exc:  # the page still works without it
        log.warning("rating page font not made from %s (%s)", font, exc)
        partial.unlink(missing_ok=True)
        return None
    finally:
        characters.unlink(missing_ok=True)
    for old in folder.glob("*.ttf"):
        if old != target:
            old.unlink(missing_ok=True)
    log.info("rating page font made: %d characters, %d bytes", len(text), target.stat().st_size)
    return target

"""Cutting the rating page's font, run as its own short process by `font_subset`
(`python -m device.web_page.font_tool FONT CHARACTERS OUT`): fontTools parses the whole CJK
font, tens of megabytes the evaluator should not keep for the rest of its life.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from fontTools import subset


def cut(font: Path, text: str, out: Path) -> None:
    """Write to *out* the glyphs of *font* (first face of a collection) that *text* needs."""
    options = subset.Options()
    options.font_number = 0
    options.layout_features = ["*"]
    options.notdef_outline = True
    loaded = subset.load_font(str(font), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(loaded)
    subset.save_font(loaded, str(out), options)


def main(argv: list[str]) -> int:
    logging.getLogger("fontTools").setLevel(logging.ERROR)  # a line per table otherwise
    if len(argv) != 3:
        print("usage: python -m device.web_page.font_tool FONT CHARACTERS OUT", file=sys.stderr)
        return 2
    font, characters, out = (Path(a) for a in argv)
    cut(font, characters.read_text(encoding="utf-8"), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

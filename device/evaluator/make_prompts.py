"""Making the shipped voice prompts from their texts: `python -m device.evaluator.make_prompts`.

The files in `device/evaluator/prompts/<language>/<prompt>.ogg` are made by this module and
committed; run it again after changing a text below and commit what it writes.

Debian packages (bookworm, main):
- espeak-ng: speaks the text. It is the only speech synthesiser in Debian's main archive
  with a Mandarin voice: festival has no Chinese voice there, svox-pico (libttspico) is
  non-free and speaks no Chinese, and the neural ones (Piper, Coqui, Ekho…) are not packaged
  and would fetch voice models from outside. espeak-ng is robotic but intelligible, and a
  hall that wants a human voice records its own (`[voice]` in the configuration).
  Its voice `cmn` reads the pinyin it makes from the characters as English words in 1.51
  ("qing3" as "king three"), so the voice used is `cmn-latn-pinyin`, the same Mandarin
  with pinyin read as pinyin. Traditional characters read the same (zh-Hant); `en-us` reads
  English.
- sox: levels every prompt to the same loudness (peak at -1 dBFS), adds a breath of silence
  at the ends, and writes Ogg Vorbis (a tenth of the WAV's size). `-R` makes the Ogg stream
  serial fixed, so the same packages make the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from device.errors import HaochapingError
from device.flow.voice_prompts import Prompt

PROMPTS_DIR = Path(__file__).with_name("prompts")
SUFFIX = ".ogg"
VOICES = {"zh-Hans": "cmn-latn-pinyin", "zh-Hant": "cmn-latn-pinyin", "en": "en-us"}
WORDS_PER_MINUTE = 160  # a little slower than espeak-ng's 175: a hall is noisy
TOOLS = ("espeak-ng", "sox")

# What the reasons page asks: true at a window (keys as docs/decisions.md lays them out: 2 and
# 3 a reason, 4 the next group, 5 submit; 1 goes back, shown on the page) and at a touch-only
# terminal alike.
REASONS_PROMPT = {
    "zh-Hans": "请选择原因，可以多选。二、三键选原因，四键换一组，五键提交。也可以点屏幕",
    "zh-Hant": "請選擇原因，可以多選。二、三鍵選原因，四鍵換一組，五鍵提交。也可以點螢幕",
    "en": "Choose one or more reasons: keys 2 and 3 choose, 4 shows more, 5 submits. "
    "Or tap the screen.",
}

TEXTS: dict[str, dict[Prompt, str]] = {
    "zh-Hans": {
        Prompt.RATE: "请您对本次服务进行评价",
        Prompt.REASONS: REASONS_PROMPT["zh-Hans"],
        Prompt.THANKS: "感谢您的评价",
        Prompt.RATE_LATER: "您可以扫描二维码，稍后在手机上评价",
    },
    "zh-Hant": {
        Prompt.RATE: "請您對本次服務進行評價",
        Prompt.REASONS: REASONS_PROMPT["zh-Hant"],
        Prompt.THANKS: "感謝您的評價",
        Prompt.RATE_LATER: "您可以掃描二維碼，稍後在手機上評價",
    },
    "en": {
        Prompt.RATE: "Please rate our service today.",
        Prompt.REASONS: REASONS_PROMPT["en"],
        Prompt.THANKS: "Thank you for your rating.",
        Prompt.RATE_LATER: "You can scan the code and rate later on your phone.",
    },
}


class PromptToolError(HaochapingError):
    """espeak-ng or sox is not installed."""

    code = "E_PROMPT_TOOL"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PromptToolError(f"not installed: {name} (apt-get install {' '.join(TOOLS)})")
    return path


def prompt_path(out_dir: Path, language: str, prompt: Prompt) -> Path:
    return out_dir / language / f"{prompt.value}{SUFFIX}"


def make_prompt(language: str, prompt: Prompt, out_dir: Path = PROMPTS_DIR) -> Path:
    """Speak one prompt's text into `out_dir/<language>/<prompt>.ogg`; returns the path."""
    espeak, sox = _tool("espeak-ng"), _tool("sox")
    target = prompt_path(out_dir, language, prompt)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        spoken = Path(scratch) / "spoken.wav"
        speak = [espeak, "-b", "1", "-v", VOICES[language], "-s", str(WORDS_PER_MINUTE)]
        text = TEXTS[language][prompt]
        subprocess.run([*speak, "-w", str(spoken), text], check=True)  # noqa: S603 (fixed texts)
        level = ["gain", "-n", "-1", "pad", "0.05", "0.15"]
        subprocess.run([sox, "-R", str(spoken), "-c", "1", str(target), *level], check=True)  # noqa: S603
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the shipped voice prompts.")
    parser.add_argument("--out", type=Path, default=PROMPTS_DIR, help="folder to write into")
    parser.add_argument("--language", choices=sorted(TEXTS), action="append")
    parser.add_argument("--prompt", choices=[p.value for p in Prompt], action="append")
    args = parser.parse_args(argv)
    try:
        for language in args.language or sorted(TEXTS):
            for prompt in args.prompt or [p.value for p in Prompt]:
                print(make_prompt(language, Prompt(prompt), args.out))
    except PromptToolError as exc:
        print(f"make_prompts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

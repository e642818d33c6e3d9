"""The commands of docs/field-guide.md, as a program can run them.

The guide puts every command in a fenced ```console block, one per line after a `$ ` prompt;
other lines in the block are what the command prints. A trailing `  # …` is a note for the
reader, not part of the command. `<NAME>` marks a value the reader fills in (listed in the
guide's table of values). A line `<!-- commands: TAG … -->` just before a block tags its
commands: `workstation` (run on the technician's computer), `person` (someone at the device
reads the screen, presses keys or taps), `pi-os` (only when installing on Raspberry Pi OS
instead of flashing the image), `when-needed` (for a fault or a change, not on every device).
Untagged commands run on the device, in the guide's order, without anyone at it.

    python -m tests.support.field_guide            # list them: line, tags, command
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "field-guide.md"
TAGS = frozenset({"workstation", "person", "pi-os", "when-needed"})
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")
TAG_LINE = re.compile(r"<!--\s*commands:\s*([a-z\- ]+?)\s*-->")


class GuideError(ValueError):
    """The guide breaks a rule that keeps its commands runnable."""


@dataclass(frozen=True)
class GuideCommand:
    section: str  # the heading it is under
    line: int  # 1-based line in the guide
    text: str  # the command as typed, without the prompt and the note
    note: str  # the trailing "# …" note, or ""
    tags: frozenset[str]

    @property
    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.text)

    @property
    def unattended(self) -> bool:
        """Runs on the device as it is in the guide's order, nobody at it."""
        return not self.tags

    def filled(self, values: dict[str, str]) -> str:
        """The command with each <NAME> replaced; KeyError names one not given."""
        return PLACEHOLDER.sub(lambda m: values[m[1]], self.text)


def commands(guide: Path = GUIDE) -> list[GuideCommand]:
    found: list[GuideCommand] = []
    section = ""
    tags: frozenset[str] = frozenset()
    in_block = False
    lines = guide.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not in_block:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            match = TAG_LINE.fullmatch(line.strip())
            if match:
                tags = frozenset(match[1].split())
                unknown = tags - TAGS
                if unknown:
                    raise GuideError(f"line {number}: unknown tag(s) {sorted(unknown)}")
                continue
            if line.startswith("```"):
                language = line[3:].strip()
                if language in ("sh", "bash", "shell", "shell-session"):
                    raise GuideError(f"line {number}: commands go in ```console blocks")
                in_block = language == "console"
                if not in_block:
                    tags = frozenset()
                continue
            if line.strip():
                tags = frozenset()  # a tag line belongs to the block right after it
            continue
        if line.startswith("```"):
            in_block, tags = False, frozenset()
            continue
        if line.startswith("$ "):
            text, _, note = line[2:].partition("  # ")
            text = text.strip()
            if text.endswith("\\"):
                raise GuideError(f"line {number}: one command per line, no continuation")
            found.append(GuideCommand(section, number, text, note.strip(), tags))
    if in_block:
        raise GuideError("a ```console block is not closed")
    return found


def declared_placeholders(guide: Path = GUIDE) -> set[str]:
    """The names in the guide's table of values (rows starting with | `<NAME>`)."""
    text = guide.read_text(encoding="utf-8")
    return set(re.findall(r"^\|\s*`<([A-Z][A-Z0-9_]*)>`", text, flags=re.MULTILINE))


def main() -> None:
    for command in commands():
        tags = ",".join(sorted(command.tags)) or "-"
        sys.stdout.write(f"{command.line}\t{tags}\t{command.text}\n")


if __name__ == "__main__":
    main()

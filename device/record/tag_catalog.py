"""The province's reason tags per level: shipped default until the first list arrives, then
the last list received (cached in the state folder), never hard-coded in the screens.

The shipped default is the stand-in province's list, byte for byte (one vocabulary: a test
holds the two files equal); provisioning caches the province's own list right after enrolment.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from device.errors import HaochapingError
from device.keys.private_file import write_private

log = logging.getLogger(__name__)
CACHE_NAME = "tags.json"


class TagListError(HaochapingError, ValueError):
    """A tag list that does not have the province's shape."""

    code = "E_TAG_LIST"


@dataclass(frozen=True)
class Tag:
    code: str
    label: str


@dataclass(frozen=True)
class TagCatalog:
    version: str
    levels: dict[int, tuple[Tag, ...]]

    def for_level(self, level: int) -> tuple[Tag, ...]:
        return self.levels.get(int(level), ())

    def labels(self) -> list[str]:
        return [tag.label for tags in self.levels.values() for tag in tags]


def parse(data: Any) -> TagCatalog:
    """Check the shape of `GET /devices/{id}/tags`: version and levels "1".."5"."""
    if not isinstance(data, dict) or not isinstance(data.get("version"), str):
        raise TagListError("a tag list needs a version string")
    levels = data.get("levels")
    if not isinstance(levels, dict) or set(levels) != {"1", "2", "3", "4", "5"}:
        raise TagListError("a tag list needs levels 1-5")
    parsed: dict[int, tuple[Tag, ...]] = {}
    for key, tags in levels.items():
        if not isinstance(tags, list):
            raise TagListError(f"level {key}: tags must be a list")
        items = []
        for tag in tags:
            if not (
                isinstance(tag, dict)
                and isinstance(tag.get("code"), str)
                and isinstance(tag.get("label"), str)
                and tag["code"]
                and tag["label"]
            ):
                raise TagListError(f"level {key}: every tag needs a code and a label")
            items.append(Tag(tag["code"], tag["label"]))
        parsed[int(key)] = tuple(items)
    return TagCatalog(data["version"], parsed)


def shipped_default() -> TagCatalog:
    source = resources.files("device.record").joinpath("default_tags.json")
    text = source.read_text(encoding="utf-8")
    return parse(json.loads(text))


def load(state_dir: Path) -> TagCatalog:
    """The cached list from the province if there is a valid one, else the shipped default."""
    path = state_dir / CACHE_NAME
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return shipped_default()
    except (OSError, ValueError) as exc:
        log.warning("cached tag list %s unusable (%s); using the shipped default", path, exc)
        return shipped_default()


def keep(state_dir: Path, data: Any) -> TagCatalog:
    """Check a list from the province and cache it where `load` finds it (world-readable:
    the evaluator and the sync run as the same service user, the technician's tools read it).
    Raises TagListError, writing nothing, when the list does not have the province's shape."""
    catalog = parse(data)
    path = state_dir / CACHE_NAME
    write_private(path, json.dumps(data, ensure_ascii=False).encode("utf-8"), mode=0o644)
    return catalog

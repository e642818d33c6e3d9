"""Tag lists (标签) per satisfaction level: the data a device shows and whose codes it sends.

The default list ships as `tags.json`; the province may publish a new version at run time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from device.errors import HaochapingError
from simulator.province.validation import (
    Check,
    Rejection,
    check_fields,
    field_error,
    list_of,
    obj,
    text,
)

LEVELS = ("5", "4", "3", "2", "1")
MAX_TAGS_PER_LEVEL = 40
MAX_LABEL = 32
VERSION = re.compile(r"[0-9A-Za-z._:+-]{1,64}")
TAG_CODE = re.compile(r"[0-9A-Za-z_-]{1,16}")

TAG_FIELDS: dict[str, Check] = {
    "code": text(pattern=TAG_CODE, what="1–16 characters 0-9 A-Z a-z _ -"),
    "label": text(non_empty=True, max_len=MAX_LABEL),
}
TAG_LIST_FIELDS: dict[str, Check] = {
    "version": text(pattern=VERSION, what="1–64 characters 0-9 A-Z a-z . _ : + -"),
    "levels": obj({level: list_of(obj(TAG_FIELDS)) for level in LEVELS}),
}


class TagListError(HaochapingError, ValueError):
    """A tag list the stand-in refuses to publish; `rejection` says why, as its API answers."""

    code = "E_TAG_LIST"

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


@dataclass(frozen=True)
class TagList:
    """One published version: `{"version": …, "levels": {"5": [{"code", "label"}], …}}`."""

    version: str
    levels: dict[str, list[dict[str, str]]]

    @classmethod
    def from_json(cls, body: Any) -> TagList:
        """A validated tag list, or TagListError naming the offending field."""
        rejection = validate_tag_list(body)
        if rejection is not None:
            raise TagListError(rejection)
        levels = {level: [dict(tag) for tag in body["levels"][level]] for level in LEVELS}
        return cls(body["version"], levels)

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "levels": self.levels}

    def labels(self) -> dict[str, str]:
        """Tag code → label, over every level."""
        return {tag["code"]: tag["label"] for tags in self.levels.values() for tag in tags}


def validate_tag_list(body: Any) -> Rejection | None:
    """Shape and limits; a code may sit on several levels but always with the same label."""
    if not isinstance(body, dict):
        return field_error("body", "must be an object")
    rejection = check_fields(body, TAG_LIST_FIELDS)
    if rejection is not None:
        return rejection
    labels: dict[str, str] = {}
    for level in LEVELS:
        tags = body["levels"][level]
        field = f"levels.{level}"
        if len(tags) > MAX_TAGS_PER_LEVEL:
            return field_error(field, f"must hold at most {MAX_TAGS_PER_LEVEL} tags")
        codes = [tag["code"] for tag in tags]
        if len(set(codes)) != len(codes):
            return field_error(field, "must not repeat a code")
        for index, tag in enumerate(tags):
            if labels.setdefault(tag["code"], tag["label"]) != tag["label"]:
                return field_error(f"{field}[{index}].label", "differs for the same code")
    return None


def default_tag_list() -> TagList:
    """The list shipped with the stand-in (`tags.json`)."""
    source = resources.files("simulator.province").joinpath("tags.json")
    return TagList.from_json(json.loads(source.read_text(encoding="utf-8")))

"""A process that rewrites one of the device's files over and over, reporting each version
once the write returned: the configuration, the local API certificate pair, the tag cache,
or new identity keys.

Run as `python -m tests.support.file_writer KIND STATE_DIR` by the durability test, which
SIGKILLs it at random moments and then reads what it left.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from device.daemon.config import from_dict, load, save
from device.keys.identity_vault import IdentityVault
from device.record import tag_catalog
from provisioning.certificate import make_certificate

SITE = {"area_code": "640104", "dept_code": "11640100MB1234567X", "pf": 4}


def config_data(state: Path, version: int) -> dict[str, object]:
    """The configuration whose window number is *version*; the token's length grows with
    it so that versions differ in size as well as in content."""
    return {
        "device": {"state_dir": str(state)},
        "site": {**SITE, "window_no": str(version)},
        "province": {
            "base_url": "https://hcp.example.gov.cn/api/v1",
            "device_id": "d1",
            "key_id": "k1",
        },
        "local_api": {"token": "t" * (20 + version % 300)},
    }


def tag_list(version: int) -> dict[str, object]:
    """A valid tag list from the bundled defaults, marked with *version*."""
    data = json.loads((Path(tag_catalog.__file__).with_name("default_tags.json")).read_text())
    data["version"] = f"v{version}"
    return data


def _current_version(kind: str, state: Path) -> int:
    if kind == "config" and (state / "device.toml").exists():
        return int(load(state / "device.toml").site.window_no)
    if kind == "tags" and (state / tag_catalog.CACHE_NAME).exists():
        return int(tag_catalog.load(state).version[1:])
    return 0


def main() -> None:
    kind, state = sys.argv[1], Path(sys.argv[2])
    version = _current_version(kind, state)  # go on from what the last writer left
    print("ready", flush=True)
    while True:
        version += 1
        if kind == "config":
            save(from_dict(config_data(state, version)), state / "device.toml")
            print(f"wrote {version}", flush=True)
        elif kind == "certificate":
            print(f"wrote {make_certificate(state, 'd1')}", flush=True)
        elif kind == "tags":
            tag_catalog.keep(state, tag_list(version))
            print(f"wrote v{version}", flush=True)
        elif kind == "vault":
            IdentityVault.load_or_create(state / f"v{version}" / "identity.key")
            print(f"wrote v{version}", flush=True)
        else:
            raise SystemExit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()

"""What went into the appliance image, as the folder beside its disk says: every Debian
package with its version, and in the venv exactly the Python packages of the lock.

Slow: builds the amd64 image on first use (then cached by the hash of its inputs).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from simulator.appliance.image import Image, build_image
from tests.support.deploy import REPO, need_tool

pytestmark = pytest.mark.slow

LOCK = REPO / "systemd" / "requirements.lock"


@pytest.fixture(scope="module")
def image() -> Image:
    need_tool("mmdebstrap")
    if os.geteuid() != 0:
        pytest.skip("building the image needs root (mmdebstrap, chroot): run ./dev test as root")
    return build_image("amd64").image


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_json_names_the_lock_and_the_package_lists(image: Image) -> None:
    info = image.info
    assert info["pip_lock_sha256"] == sha256(LOCK)
    packages = image.folder / "packages.txt"
    assert info["debian_packages_sha256"] == sha256(packages)
    assert info["debian_packages"] == len(packages.read_text().splitlines())
    assert info["python_packages_sha256"] == sha256(image.folder / "python.txt")
    assert info["debian_mirror"].startswith("http")
    # the day of the Debian archive the packages came from (its Release file's Date:)
    date = info["debian_release_date"]
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC", date), date


def test_every_debian_package_is_listed_with_its_version(image: Image) -> None:
    rows = [line.split(" ") for line in (image.folder / "packages.txt").read_text().splitlines()]
    assert all(len(row) == 2 and row[1] for row in rows), "a line is not 'name:arch version'"
    names = {row[0].split(":")[0] for row in rows}
    # the product's own (install.sh's list), the kernel and the init system
    for needed in (
        "python3-pygame",
        "fonts-wqy-microhei",
        "libgl1-mesa-dri",
        "linux-image-amd64",
        "systemd",
        "systemd-timesyncd",
    ):
        assert needed in names, needed
    assert len(names) == len(rows), "a package is listed twice"


def test_the_venv_holds_exactly_the_locked_python_packages(image: Image) -> None:
    locked = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\$", LOCK.read_text(), re.MULTILINE))
    installed = {}
    for line in (image.folder / "python.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        installed[canonicalize_name(name)] = version
    assert installed.pop("haochaping"), "the software itself is not in the venv"
    assert installed == locked
    assert "pygame" not in installed  # Debian's, listed in packages.txt

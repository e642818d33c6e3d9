"""The appliance image lets in only the technicians' keys given to build.sh; what is given
is checked before anything is built: a private key, a line that is no public key, or no key
at all is refused with the reason (exit 2), and nothing is made."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.deploy import REPO

BUILD = REPO / "systemd" / "image" / "build.sh"


def _build(keys: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUILD), "--arch", "amd64", "--authorized-keys", str(keys), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
            "-----END OPENSSH PRIVATE KEY-----\n",
            "PRIVATE key",
        ),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBd tech@laptop\nhello world\n", "not public keys"),
        ("# only a comment\n\n", "holds no key"),
    ],
)
def test_what_is_not_a_public_key_is_refused_before_anything_is_built(
    tmp_path: Path, content: str, said: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("build.sh runs as root only")
    keys = tmp_path / "keys"
    keys.write_text(content)
    out = tmp_path / "out"
    result = _build(keys, out)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert not out.exists()


def test_a_missing_keys_file_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("build.sh runs as root only")
    result = _build(tmp_path / "nowhere.pub", tmp_path / "out")
    assert result.returncode == 2
    assert "no readable file" in result.stderr

"""The field guide's commands can be taken out and run: each in a console block, one per line,
its values named in the guide's table, every program's command and option one that exists;
the guide's own provisioning command enrols a device at the stand-in province."""

from __future__ import annotations

import shlex
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from device.cli import main as evaluator_cli
from device.daemon.config import load
from provisioning.cli import main as provision_cli
from simulator.appliance.guide_run import PLAN, GuideDriftError, NotRun, planned
from simulator.hall import DEMO_AREA, DEMO_DEPT
from sync.cli import main as sync_cli
from tests.support import ROOT
from tests.support.field_guide import GuideError, commands, declared_placeholders

PROGRAMS: dict[str, click.Group] = {
    "haochaping-provision": provision_cli,
    "haochaping-sync": sync_cli,
    "haochaping-evaluator": evaluator_cli,
}


def _words(text: str) -> list[str]:
    """The command's words after sudo and VAR=value settings."""
    words = shlex.split(text)
    while words and (words[0] == "sudo" or "=" in words[0].split("/")[0]):
        words = words[1:]
    return words


def test_every_command_is_in_a_console_block_with_its_values_declared():
    found = commands()
    assert len(found) >= 40
    used = {name for command in found for name in command.placeholders}
    assert used == declared_placeholders()  # no value left unexplained, no stale row
    sections = {command.section for command in found if command.unattended}
    for step in ("2. Provision", "3. Check", "4. The first rating", "5. Reading the logs"):
        assert step in sections
    assert any(c.section == "9. Replace a broken device" for c in found)
    for command in found:
        if command.unattended:  # runs with nobody at the device: nothing that waits for one
            words = _words(command.text)
            assert "-f" not in words and "edit" not in words, command
            assert words[:2] != ["haochaping-provision", "init"] or "--no-input" in words


def test_a_command_outside_a_console_block_is_refused(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# x\n\n```sh\nsudo haochaping-provision check\n```\n")
    with pytest.raises(GuideError, match="console blocks"):
        commands(guide)
    guide.write_text("# x\n\n```console\n$ sudo haochaping-provision init \\\n```\n")
    with pytest.raises(GuideError, match="one command per line"):
        commands(guide)


def test_every_command_and_option_of_the_programs_exists():
    runner = CliRunner()
    helps: dict[tuple[str, ...], str] = {}

    def help_of(program: str, chain: list[str]) -> str:
        key = (program, *chain)
        if key not in helps:
            result = runner.invoke(PROGRAMS[program], [*chain, "--help"])
            assert result.exit_code == 0, f"{program} {' '.join(chain)}: {result.output}"
            helps[key] = result.output
        return helps[key]

    checked = 0
    for command in commands():
        words = _words(command.text)
        if not words or words[0] not in PROGRAMS:
            continue
        program, args = words[0], words[1:]
        chain: list[str] = []
        text = help_of(program, chain)
        for word in args:
            if word.startswith("-") or "Commands:" not in text:
                break
            chain.append(word)
            text = help_of(program, chain)
        for option in (a.split("=")[0] for a in args if a.startswith("--")):
            assert option in text, f"line {command.line}: {program} {chain} has no {option}"
        checked += 1
    assert checked >= 15


def test_the_guides_provisioning_command_enrols_a_device(tmp_path, province, board):
    values = {
        "PROVINCE_URL": province.url,
        "TOKEN": province.issue_token(),
        "AREA_CODE": DEMO_AREA,
        "DEPT_CODE": DEMO_DEPT,
        "HALL_CODE": "H01",
        "WINDOW_NO": "12",
        "KEYPAD_PORT": board.port,
        "RATE_LATER_URL": province.url + "/m/rate",
    }
    (init,) = [
        c
        for c in commands()
        if c.unattended and _words(c.text)[:2] == ["haochaping-provision", "init"]
    ]
    config = tmp_path / "device.toml"
    where = ["--config", str(config), "--state-dir", str(tmp_path / "state")]
    result = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", *_words(init.filled(values))[1:], *where],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no keypad answered" not in result.stderr
    written = load(config)
    assert (written.site.window_no, written.keypad.port) == ("12", board.port)
    assert written.display.fullscreen and written.display.width is None


def test_the_vm_test_has_a_way_to_run_every_command_of_the_guide(tmp_path):
    """The VM test (simulator/appliance/guide_run.py) runs the guide's commands as the guide
    has them: a command added to the guide without a plan, or a plan left for a command the
    guide no longer has, is caught here without booting anything."""
    steps = planned(commands())
    assert len(steps) == len(PLAN)
    for command, plan in steps:
        if isinstance(plan, NotRun):
            assert plan.reason.lower().startswith("not run"), command
        elif "pi-os" in command.tags:
            raise AssertionError(f"line {command.line}: a Raspberry Pi OS command cannot run")
    guide = ROOT / "docs" / "field-guide.md"
    changed = guide.read_text(encoding="utf-8").replace(
        "$ sudo haochaping-sync identity-lost", "$ sudo haochaping-sync identity-lost --all"
    )
    drifted = tmp_path / "field-guide.md"
    drifted.write_text(changed, encoding="utf-8")
    with pytest.raises(GuideDriftError, match="identity-lost --all"):
        planned(commands(drifted))

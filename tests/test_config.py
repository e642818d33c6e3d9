"""The device configuration file: typed, validated, errors naming section and option."""

from __future__ import annotations

import pytest

from device.daemon.config import ConfigError, from_dict, load, save

VALID = {
    "device": {"state_dir": "/var/lib/haochaping"},
    "site": {"area_code": "640104", "dept_code": "11640100MB1234567X", "pf": 4, "window_no": "12"},
    "province": {
        "base_url": "https://hcp.example.gov.cn/api/v1",
        "device_id": "d1",
        "key_id": "k1",
    },
    "local_api": {"token": "0123456789abcdef0123"},
}


def _with(section, **changes):
    data = {k: dict(v) for k, v in VALID.items()}
    data.setdefault(section, {}).update(changes)
    return data


def test_a_valid_file_round_trips(tmp_path):
    config = from_dict(VALID)
    path = tmp_path / "device.toml"
    save(config, path)
    assert load(path) == config
    assert config.keypad.key_levels == [5, 4, 3, 2, 1]  # key 1 = 非常满意 by default
    assert (path.stat().st_mode & 0o777) == 0o600  # it holds the local API token


def test_the_display_output_is_read_and_written_back(tmp_path):
    path = tmp_path / "device.toml"
    save(from_dict(_with("display", output="kms")), path)
    assert load(path).display.output.value == "kms"
    assert from_dict(VALID).display.output.value == "sdl"  # an older file: SDL, as before


def test_saving_keeps_the_previous_file_as_backup(tmp_path):
    path = tmp_path / "device.toml"
    save(from_dict(VALID), path)
    save(from_dict(_with("site", window_no="13")), path)
    assert 'window_no = "12"' in (tmp_path / "device.toml.bak").read_text()
    assert 'window_no = "13"' in path.read_text()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with("site", colour="red"), r"\[site\] unknown option\(s\): colour"),
        (_with("site", pf="4"), r"\[site\] pf has the wrong type"),
        (_with("site", pf=True), r"\[site\] pf has the wrong type"),
        (_with("site", area_code="6401"), r"\[site\] area_code must be 6-12 digits"),
        (_with("keypad", key_levels=[1, 1, 2, 3, 4]), r"\[keypad\] key_levels"),
        (_with("local_api", token="short"), r"\[local_api\] token"),
        (_with("sync", batch_size=501), r"\[sync\] batch_size"),
        ({**VALID, "extra": {}}, r"unknown section\(s\): \[extra\]"),
        ({k: v for k, v in VALID.items() if k != "province"}, r"section \[province\] is required"),
        (_with("province", base_url="ftp://x"), r"\[province\] base_url"),
        (_with("display", output="fbdev"), r"\[display\] output must be 'sdl' or 'kms'"),
    ],
)
def test_bad_values_are_named(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(data)


def test_unreadable_and_malformed_files_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\narea_code = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)

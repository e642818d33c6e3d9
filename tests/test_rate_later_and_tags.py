"""The rate-later link the province can check, the tag lists the device shows, and the
voice prompts that stay silent when none are configured."""

from __future__ import annotations

import base64
import json
import struct
import wave
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature

from device.evaluator.voice import Voice
from device.keys.signing import DeviceKey
from device.record import tag_catalog
from device.record.rate_later import DEFAULT_TEMPLATE, rate_later_url, signed_message
from simulator.province.tags import TagList, default_tag_list
from tests.support.sync import Device


def test_the_rate_later_link_carries_a_signature_the_province_can_check():
    key = DeviceKey.generate()
    url = rate_later_url(DEFAULT_TEMPLATE, "HD2026/1121 0001", "hcp-1", 1795000000, key)
    query = parse_qs(urlsplit(url).query)
    assert query["p"] == ["HD2026/1121 0001"]
    assert query["d"] == ["hcp-1"]
    assert query["k"] == [key.key_id]
    signature = base64.urlsafe_b64decode(query["s"][0] + "==")
    key.private.public_key().verify(
        signature, signed_message("HD2026/1121 0001", "hcp-1", 1795000000)
    )
    forged = signed_message("HD2026/1121 0002", "hcp-1", 1795000000)
    with pytest.raises(InvalidSignature):
        key.private.public_key().verify(signature, forged)


def test_the_shipped_tag_list_has_every_level_and_reasons_for_bad_ratings():
    catalog = tag_catalog.shipped_default()
    assert set(catalog.levels) == {1, 2, 3, 4, 5}
    assert len(catalog.for_level(1)) >= 4
    assert len(catalog.for_level(2)) >= 4
    label_of: dict[str, str] = {}
    for tags in catalog.levels.values():
        codes = [t.code for t in tags]
        assert len(codes) == len(set(codes))  # no code twice on a level
        for tag in tags:  # a code on several levels (as the province lists them) means one thing
            assert label_of.setdefault(tag.code, tag.label) == tag.label


def test_the_device_and_the_stand_in_province_speak_one_tag_vocabulary():
    device = resources.files("device.record").joinpath("default_tags.json").read_bytes()
    province = resources.files("simulator.province").joinpath("tags.json").read_bytes()
    assert device == province
    shipped = tag_catalog.shipped_default()
    assert shipped.version == default_tag_list().version
    assert {t.code: t.label for n in range(1, 6) for t in shipped.for_level(n)} == (
        default_tag_list().labels()
    )


def test_provisioning_caches_the_provinces_list_so_no_unknown_code_is_shown(tmp_path, province):
    levels = {
        str(n): [{"code": f"P{n}{i:02}", "label": f"原因{n}-{i}"} for i in range(15)]
        for n in (1, 2)
    }
    levels |= {str(n): [{"code": f"Q{n}", "label": "其他"}] for n in range(3, 6)}
    province.server.publish_tags(TagList.from_json({"version": "2027-01", "levels": levels}))
    device = Device(tmp_path, province)  # provisioned: enrolled, then the list fetched
    catalog = tag_catalog.load(device.config.state_dir)
    assert catalog.version == "2027-01"
    assert len(catalog.for_level(2)) == 15
    known = province.server.tags.labels()
    offered = {t.code for n in range(1, 6) for t in catalog.for_level(n)}
    assert offered <= set(known)


def test_a_cached_province_list_replaces_the_default(tmp_path):
    cached = {
        "version": "2026-11",
        "levels": {str(n): [{"code": f"X{n}", "label": "办事效率低"}] for n in range(1, 6)},
    }
    (tmp_path / "tags.json").write_text(json.dumps(cached, ensure_ascii=False), encoding="utf-8")
    catalog = tag_catalog.load(tmp_path)
    assert catalog.version == "2026-11"
    assert [t.code for t in catalog.for_level(2)] == ["X2"]


@pytest.mark.parametrize("broken", ['{"version": 3}', "not json", '{"version": "v", "levels": {}}'])
def test_a_broken_cache_falls_back_to_the_default(tmp_path, broken):
    (tmp_path / "tags.json").write_text(broken, encoding="utf-8")
    assert tag_catalog.load(tmp_path).version == tag_catalog.shipped_default().version


def _wav(path):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", 0) for _ in range(800)))
    return str(path)


def test_voice_prompts_load_and_play_and_missing_ones_stay_silent(tmp_path):
    voice = Voice({"rate": _wav(tmp_path / "rate.wav"), "thanks": str(tmp_path / "gone.wav")})
    assert voice.active
    voice.say("rate")
    voice.say("thanks")  # not loaded: silent, no error
    assert not Voice({"rate": None, "thanks": None}).active

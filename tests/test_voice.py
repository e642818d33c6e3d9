"""Voice prompts: shipped, made again from their texts by the repository's own tool, spoken on
every page a rater meets, replaceable by a recording, silenced only by `enabled = false`."""

from __future__ import annotations

import dataclasses
import math
import struct
import wave
from array import array
from pathlib import Path

import pygame
import pytest

from device.daemon.config import ConfigError, VoiceSection, from_dict, to_dict
from device.evaluator.make_prompts import TEXTS, VOICES, make_prompt, missing_tools
from device.evaluator.voice import Voice, shipped_prompt
from device.flow.rating_flow import Phase
from device.flow.voice_prompts import Prompt, prompt_on_entering
from device.record.rating import Case, Level, Staff
from device.record.tag_catalog import shipped_default
from device.screen.texts import LANGUAGES, Texts
from tests.support.evaluator import Driver, make_config

STAFF = Staff("0421", "王敏")
CASE = Case("HD20261121000101", "11640100MB1234567X3000111222000", "居民身份证换领")


def decoded(path: Path) -> tuple[float, float, float]:
    """Seconds, RMS and peak (full scale = 1) of a sound file as the device's mixer loads it."""
    if pygame.mixer.get_init() is None:
        pygame.mixer.init()
    frequency, size, channels = pygame.mixer.get_init()
    assert abs(size) == 16
    samples = array("h", pygame.mixer.Sound(str(path)).get_raw())
    seconds = len(samples) / channels / frequency
    rms = math.sqrt(sum(s * s for s in samples[::7]) / len(samples[::7])) / 32768
    peak = max(abs(s) for s in samples) / 32768
    return seconds, rms, peak


def tone_wav(path: Path, seconds: float = 0.5) -> Path:
    """A recorded prompt stand-in: a 440 Hz tone."""
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


# -- the prompt files ------------------------------------------------------------------------


def test_a_prompt_made_again_is_a_spoken_sound_like_the_shipped_one(tmp_path):
    missing = missing_tools()
    if missing:
        pytest.skip(
            f"PROMPT TOOL NOT TESTED: {', '.join(missing)} not installed "
            "(./dev test installs them when run as root: apt-get install espeak-ng sox)"
        )
    made = make_prompt("zh-Hans", Prompt.RATE, tmp_path)
    assert made == tmp_path / "zh-Hans" / "rate.ogg"
    seconds, rms, peak = decoded(made)
    assert 1.5 < seconds < 8, "eleven syllables, spoken"
    assert rms > 0.02, "not silence"
    assert 0.7 < peak <= 1.0, "levelled to just under full scale"
    shipped_seconds, _, _ = decoded(shipped_prompt("zh-Hans", Prompt.RATE))
    assert abs(seconds - shipped_seconds) < 0.3, "the committed file is what the tool makes"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_has_a_shipped_prompt_in_every_language(language):
    assert set(VOICES) == set(LANGUAGES) == set(TEXTS)
    for prompt in Prompt:
        seconds, rms, _ = decoded(shipped_prompt(language, prompt))
        # the reasons page explains its keys: longer, still well inside its 60 s
        limit = 15 if prompt is Prompt.REASONS else 10
        assert 1.0 < seconds < limit, (language, prompt, seconds)
        assert rms > 0.02, (language, prompt, "silent")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_prompt_names_a_level(language):
    words = [Texts(language).level(level) for level in Level]
    for prompt, text in TEXTS[language].items():
        assert not [w for w in words if w in text], (prompt, text)
    assert {prompt_on_entering(phase) for phase in Phase} == {*Prompt, None}


# -- configuration ---------------------------------------------------------------------------


def _config(tmp_path: Path, voice: dict[str, object] | None = None) -> dict[str, object]:
    data = to_dict(make_config(tmp_path))
    if voice is not None:
        data["voice"] = voice
    return data


def test_voice_is_on_by_default_with_the_shipped_prompts(tmp_path):
    config = from_dict(_config(tmp_path))
    assert config.voice.enabled
    assert config.display.private_press
    voice = Voice.configured(config.voice, config.display.language)
    for prompt in Prompt:
        assert voice.source(prompt) == shipped_prompt("zh-Hans", prompt)


def test_a_recording_replaces_one_prompt_and_a_missing_one_falls_back(tmp_path, caplog):
    recorded = tone_wav(tmp_path / "thanks-recorded.wav")
    section = VoiceSection(thanks=str(recorded), rate=str(tmp_path / "gone.ogg"))
    voice = Voice.configured(section, "zh-Hant")
    assert voice.source(Prompt.THANKS) == recorded
    assert voice.source(Prompt.RATE) == shipped_prompt("zh-Hant", Prompt.RATE)
    assert "gone.ogg" in caplog.text
    assert voice.source(Prompt.REASONS) == shipped_prompt("zh-Hant", Prompt.REASONS)


def test_only_enabled_false_silences_the_voice(tmp_path):
    config = from_dict(_config(tmp_path, {"enabled": False, "thanks": "/srv/thanks.wav"}))
    voice = Voice.configured(config.voice, "zh-Hans")
    assert not voice.active
    voice.say(Prompt.THANKS)
    assert voice.playing is None


@pytest.mark.parametrize(
    ("voice", "words"),
    [
        ({"volume": 3}, "unknown option(s): volume"),
        ({"reasons": "/srv/reasons.mp3"}, "reasons must be a .wav or .ogg"),
        ({"enabled": "no"}, "enabled has the wrong type"),
    ],
)
def test_a_wrong_voice_option_is_refused_by_name(tmp_path, voice, words):
    with pytest.raises(ConfigError, match=r"\[voice\]") as raised:
        from_dict(_config(tmp_path, voice))
    assert words in str(raised.value)


def test_private_press_is_a_display_option_that_must_be_a_boolean(tmp_path):
    data = _config(tmp_path)
    data["display"]["private_press"] = "yes"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"\[display\] private_press"):
        from_dict(data)


# -- spoken by the evaluator -----------------------------------------------------------------


def _push(driver: Driver, case: Case = CASE) -> None:
    assert driver.evaluator.inbox.push_case(case) is None
    driver.until(lambda: driver.phase == "rating", "rating page shown")


def test_each_page_a_rater_meets_speaks_its_prompt(tmp_path):
    with Driver(make_config(tmp_path)) as driver:
        voice = driver.evaluator.loop.voice
        assert voice is not None and voice.active
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        _push(driver)
        assert voice.playing == Prompt.RATE
        driver.key(5)  # 非常不满意
        driver.until(lambda: driver.phase == "reasons", "reasons page")
        assert voice.playing == Prompt.REASONS
        layout = driver.evaluator.screen.layout
        tags = shipped_default().for_level(1)
        driver.tap_rect(layout.tags(len(tags))[0])
        driver.tap_rect(layout.submit_button)
        driver.until(lambda: driver.phase == "thanks", "thanks")
        assert voice.playing == Prompt.THANKS
        driver.clock.advance(4)
        driver.until(lambda: driver.phase == "idle", "idle again")
        _push(driver, dataclasses.replace(CASE, project_no="HD20261121000102"))
        driver.clock.advance(31)
        driver.until(lambda: driver.phase == "rate_later", "rate-later page")
        assert voice.playing == Prompt.RATE_LATER
        assert [r["satisfaction"] for r in driver.ratings()] == [1]


def test_a_switched_off_voice_says_nothing_on_any_page(tmp_path):
    config = make_config(tmp_path)
    config = dataclasses.replace(config, voice=VoiceSection(enabled=False))
    with Driver(config) as driver:
        voice = driver.evaluator.loop.voice
        assert voice is not None and not voice.active
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        _push(driver)
        driver.key(1)
        driver.until(lambda: driver.phase == "thanks", "thanks")
        assert voice.playing is None
        assert not pygame.mixer.get_init() or not pygame.mixer.get_busy()


def test_a_prompt_starts_only_after_its_page_reached_the_glass(tmp_path, monkeypatch):
    """The key path (press → stored → flip) never waits for the voice."""
    with Driver(make_config(tmp_path)) as driver:
        voice = driver.evaluator.loop.voice
        assert voice is not None
        assert voice.source(Prompt.THANKS) is not None  # loaded at start, before any press
        order: list[str] = []
        flip, say = pygame.display.flip, voice.say

        def flipped() -> None:
            flip()
            order.append(f"flip:{driver.evaluator.flow.phase.value}")

        def said(name: str) -> None:
            order.append(f"say:{name}")
            say(name)

        monkeypatch.setattr(pygame.display, "flip", flipped)
        monkeypatch.setattr(voice, "say", said)
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        _push(driver)
        driver.key(2)
        driver.until(lambda: "say:thanks" in order, "thanks spoken")
        assert order.index("flip:rating") < order.index("say:rate")
        assert order.index("flip:thanks") < order.index("say:thanks")


def test_a_page_gone_before_it_was_drawn_is_not_announced(tmp_path):
    from device.evaluator.messages import CancelCase, PushCase

    with Driver(make_config(tmp_path)) as driver:
        voice = driver.evaluator.loop.voice
        assert voice is not None
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        case = dataclasses.replace(CASE, pro_manager_no=STAFF.number, pro_manager=STAFF.name)
        driver.evaluator.loop.post(PushCase(case))  # shown and cancelled in one turn
        driver.evaluator.loop.post(CancelCase(case.project_no))
        driver.step()
        assert driver.phase == "idle"
        assert voice.playing is None

"""Which display the evaluator lights through KMS/DRM, and in which mode: the choices over
what a driver reports (connectors, modes, encoders, CRTCs)."""

from __future__ import annotations

import pytest

from device.screen.kms_choice import (
    CONNECTED,
    Connector,
    Encoder,
    Mode,
    NoDisplayError,
    choose_mode,
    choose_output,
)

DISCONNECTED = 2
NATIVE = Mode(1024, 600, 60, True, b"native")
SMALL = Mode(800, 480, 60, False, b"small")
HDMI_MODES = (Mode(1920, 1080, 60, False, b"fhd"), Mode(1280, 720, 60, False, b"hd"))


def test_the_panels_native_mode_unless_a_size_is_set() -> None:
    assert choose_mode((SMALL, NATIVE), None) is NATIVE
    assert choose_mode((SMALL, NATIVE), (800, 480)) is SMALL
    assert choose_mode(HDMI_MODES, None) is HDMI_MODES[0]  # none marked: the driver's first


def test_a_size_the_display_does_not_have_is_refused_with_the_sizes_it_has() -> None:
    with pytest.raises(NoDisplayError, match=r"no 1366x768 mode .*1024x600, 800x480"):
        choose_mode((NATIVE, SMALL), (1366, 768))


def test_the_connected_display_on_the_crtc_already_driving_it() -> None:
    dsi = Connector(40, CONNECTED, (NATIVE,), encoder_id=31, encoder_ids=(31,))
    hdmi = Connector(41, DISCONNECTED, (), encoder_id=0, encoder_ids=(32,))
    encoders = {31: Encoder(31, 52, 0b10), 32: Encoder(32, 0, 0b01)}
    out = choose_output([hdmi, dsi], encoders, [51, 52], None)
    assert (out.connector_id, out.crtc_id, out.mode) == (40, 52, NATIVE)


def test_a_display_no_crtc_drives_yet_gets_one_its_encoder_can_use() -> None:
    hdmi = Connector(41, CONNECTED, HDMI_MODES, encoder_id=0, encoder_ids=(32,))
    out = choose_output([hdmi], {32: Encoder(32, 0, 0b10)}, [51, 52], (1280, 720))
    assert (out.crtc_id, out.mode.width) == (52, 1280)


def test_no_display_connected_says_so() -> None:
    hdmi = Connector(41, DISCONNECTED, (), encoder_id=0, encoder_ids=(32,))
    with pytest.raises(NoDisplayError, match="no display connected"):
        choose_output([hdmi], {32: Encoder(32, 0, 1)}, [51], None)


def test_a_display_no_crtc_can_drive_says_so() -> None:
    dsi = Connector(40, CONNECTED, (NATIVE,), encoder_id=0, encoder_ids=(31,))
    with pytest.raises(NoDisplayError, match="no CRTC"):
        choose_output([dsi], {31: Encoder(31, 0, 0b100)}, [51, 52], None)

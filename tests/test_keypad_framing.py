"""Keypad wire framing: what the board's bytes turn into, and what never gets through."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.keypad.framing import Frame, FrameParser, encode_frame

KEY_3_PRESSED = bytes([0x02, 0x4B, 0x33, 0x37, 0x38, 0x03])  # the spec's example

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16)
frames = st.builds(
    Frame, type=st.characters(min_codepoint=0x20, max_codepoint=0x7E), payload=printable
)


def parse(*chunks: bytes) -> tuple[list[Frame], FrameParser]:
    parser = FrameParser()
    found = [frame for chunk in chunks for frame in parser.feed(chunk)]
    return found, parser


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# -- encoding -----------------------------------------------------------------------------


def test_key_3_pressed_is_encoded_as_in_the_spec():
    assert encode_frame("K", "3") == KEY_3_PRESSED


def test_checksum_is_upper_case_hex():
    assert encode_frame("E", "STUCK3") == b"\x02ESTUCK32C\x03"


def test_ping_has_no_payload():
    assert encode_frame("P") == b"\x02P50\x03"


@pytest.mark.parametrize(
    ("frame_type", "payload"),
    [("", ""), ("KK", "1"), ("\x01", ""), ("K", "x" * 17), ("E", "温度"), ("E", "a\tb")],
)
def test_encoding_refuses_what_the_protocol_cannot_carry(frame_type, payload):
    with pytest.raises(ValueError):
        encode_frame(frame_type, payload)


def test_sixteen_payload_bytes_is_the_limit_and_round_trips():
    payload = "0123456789ABCDEF"
    assert parse(encode_frame("E", payload))[0] == [Frame("E", payload)]


# -- parsing ------------------------------------------------------------------------------


def test_spec_example_is_key_3_pressed():
    found, parser = parse(KEY_3_PRESSED)
    assert found == [Frame("K", "3")]
    assert not parser.dropped


def test_several_frames_in_one_read_come_out_in_order():
    stream = encode_frame("H", "KP-1.2") + encode_frame("K", "1") + encode_frame("U", "1")
    assert parse(stream)[0] == [Frame("H", "KP-1.2"), Frame("K", "1"), Frame("U", "1")]


def test_split_reads_at_every_byte_boundary():
    stream = encode_frame("H", "KP-1.2") + KEY_3_PRESSED + encode_frame("E", "STUCK3")
    expected = [Frame("H", "KP-1.2"), Frame("K", "3"), Frame("E", "STUCK3")]
    for cut in range(len(stream) + 1):
        assert parse(stream[:cut], stream[cut:])[0] == expected, cut
    assert parse(*(bytes([b]) for b in stream))[0] == expected


def test_garbage_between_frames_is_dropped_and_counted_as_noise():
    found, parser = parse(b"xx\x03\xff" + KEY_3_PRESSED + b"\x00junk" + encode_frame("K", "4"))
    assert found == [Frame("K", "3"), Frame("K", "4")]
    assert parser.dropped == {"noise": 9}


def test_wrong_checksum_is_dropped():
    found, parser = parse(b"\x02K379\x03" + encode_frame("K", "5"))
    assert found == [Frame("K", "5")]
    assert parser.dropped == {"checksum": 1}


def test_lower_case_checksum_is_rejected():
    good = encode_frame("E", "STUCK3")  # checksum has a letter
    assert any(chr(c).isalpha() for c in good[-3:-1])
    lower = good[:-3] + good[-3:-1].lower() + good[-1:]
    found, parser = parse(lower)
    assert found == []
    assert parser.dropped == {"checksum": 1}


def test_non_hex_checksum_is_dropped():
    found, parser = parse(b"\x02K3ZZ\x03")
    assert found == []
    assert parser.dropped == {"checksum": 1}


def test_too_short_frames_are_dropped():
    found, parser = parse(b"\x02\x03\x02K\x03\x02K7\x03")
    assert found == []
    assert parser.dropped == {"short": 3}


def test_over_long_frame_is_dropped_and_the_next_one_still_arrives():
    too_long = b"\x02E" + b"x" * 17 + b"00\x03"  # checksum irrelevant: never reached
    found, parser = parse(too_long + KEY_3_PRESSED)
    assert found == [Frame("K", "3")]
    assert parser.dropped == {"too_long": 1}


def test_non_printable_byte_inside_a_frame_drops_it():
    found, parser = parse(b"\x02K\x0137\x03" + encode_frame("K", "2"))
    assert found == [Frame("K", "2")]
    assert parser.dropped == {"non_printable": 1}


def test_stx_inside_a_frame_starts_a_new_frame():
    found, parser = parse(b"\x02K3" + KEY_3_PRESSED)
    assert found == [Frame("K", "3")]
    assert parser.dropped == {"truncated": 1}


def test_reset_forgets_a_half_received_frame():
    parser = FrameParser()
    assert parser.feed(KEY_3_PRESSED[:3]) == []
    parser.reset()
    assert parser.feed(KEY_3_PRESSED[3:]) == []
    assert parser.dropped == {"truncated": 1, "noise": 3}


# -- properties ---------------------------------------------------------------------------

encoded = frames.map(lambda f: encode_frame(f.type, f.payload))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid frame with one byte replaced: what a line glitch does."""
    frame = bytearray(draw(encoded))
    frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
    return bytes(frame)


stream_pieces = st.one_of(
    st.binary(max_size=24),
    encoded,
    damaged(),
    st.sampled_from([b"\x02", b"\x03", b"\x02K3", b"78\x03", b"\x02" + b"A" * 20]),
)


@given(pieces=st.lists(stream_pieces, max_size=12), cuts=st.lists(st.integers(0, 10_000)))
def test_no_frame_comes_out_that_was_not_intact_in_the_stream(pieces, cuts):
    stream = b"".join(pieces)
    found, _ = parse(*chunked(stream, cuts))
    position = 0
    for frame in found:
        encoded = encode_frame(frame.type, frame.payload)
        position = stream.find(encoded, position)
        assert position >= 0, frame
        position += len(encoded)


@given(
    sent=st.lists(frames, max_size=8),
    noise=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\x02", b"")), min_size=9),
    cuts=st.lists(st.integers(0, 10_000)),
)
def test_valid_frames_in_noise_are_all_recovered_in_order(sent, noise, cuts):
    stream = noise[0] + b"".join(
        encode_frame(f.type, f.payload) + gap for f, gap in zip(sent, noise[1:], strict=False)
    )
    found, parser = parse(*chunked(stream, cuts))
    assert found == sent
    assert parser.dropped["noise"] == sum(map(len, noise[: len(sent) + 1]))
    assert set(parser.dropped) <= {"noise"}

"""COBS, CRC-32 and the streaming frame decoder (edgemb.link.frames)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgemb.link.errors import BadCrcError, BadFrameError, FrameError, FrameTooLongError
from edgemb.link.frames import (
    Frame,
    FrameDecoder,
    cobs_decode,
    cobs_encode,
    crc32,
    decode_frame,
    encode_frame,
)

# Cheshire & Baker / Wikipedia's COBS examples (data, encoded without delimiter).
_RUN_254 = bytes(range(1, 255))
COBS_EXAMPLES = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (_RUN_254, b"\xff" + _RUN_254),
    (b"\x00" + _RUN_254, b"\x01\xff" + _RUN_254),
    (_RUN_254 + b"\xff", b"\xff" + _RUN_254 + b"\x02\xff"),
    (_RUN_254 + b"\x00", b"\xff" + _RUN_254 + b"\x01\x01"),
]


@pytest.mark.parametrize("data, encoded", COBS_EXAMPLES)
def test_cobs_examples(data, encoded):
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


def test_cobs_accepts_a_final_empty_block_after_a_full_one():
    assert cobs_decode(b"\xff" + _RUN_254 + b"\x01") == _RUN_254


def test_crc32_check_value():
    assert crc32(b"123456789") == 0xCBF43926


def test_frame_layout():
    # HELLO, seq 0, version 1: type, seq, payload, CRC-32 LE, COBS, delimiter.
    assert encode_frame(0x01, 0, b"\x01\x00") == bytes.fromhex("02010201053889e38000")


@pytest.mark.parametrize(
    "encoded, error",
    [
        (b"\x05\x01\x02", BadFrameError),  # block cut short
        (b"\x03\x01\x02", BadFrameError),  # 2 bytes: no room for a CRC
        (cobs_encode(b"\x01\x00\x01\x00\x00\x00\x00\x00"), BadCrcError),
    ],
)
def test_decode_frame_errors(encoded, error):
    with pytest.raises(error):
        decode_frame(encoded)


def test_stream_skips_noise_and_padding():
    frame = encode_frame(0x81, 7, b"payload")
    items = FrameDecoder().feed(b"boot log\r\n" + b"\x00\x00" + frame + frame)
    assert [type(i) for i in items] == [BadFrameError, Frame, Frame]
    assert items[1] == Frame(0x81, 7, b"payload")


def test_stream_drops_oversize_frames_and_recovers():
    decoder = FrameDecoder(max_frame_bytes=64)
    items = decoder.feed(b"\x01" * 1000) + decoder.feed(b"\x00" + encode_frame(1, 2, b"ok"))
    assert [type(i) for i in items] == [FrameTooLongError, Frame]


# ---- properties ----------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_cobs_round_trip_and_no_zero(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_frame_round_trip(msg_type, seq, payload):
    wire = encode_frame(msg_type, seq, payload)
    assert wire.index(0) == len(wire) - 1
    assert FrameDecoder().feed(wire) == [Frame(msg_type, seq, payload)]


@given(st.binary(max_size=3000))
@settings(max_examples=300)
def test_decoder_raises_nothing_on_any_bytes(data):
    items = FrameDecoder(max_frame_bytes=512).feed(data)
    assert all(isinstance(i, (Frame, FrameError)) for i in items)


@given(st.binary(max_size=400))
def test_decode_frame_raises_only_frame_errors(data):
    try:
        decode_frame(data)
    except FrameError:
        pass


@given(st.binary(max_size=1500), st.lists(st.integers(0, 1500), max_size=8))
def test_decoder_output_does_not_depend_on_how_bytes_are_split(data, cuts):
    whole = [repr(i) for i in FrameDecoder().feed(data)]
    decoder, pieces, start = FrameDecoder(), [], 0
    for cut in sorted(cuts) + [len(data)]:
        pieces += decoder.feed(data[start:cut])
        start = max(start, cut)
    assert [repr(i) for i in pieces] == whole


@given(st.binary(max_size=500), st.integers(0, 255), st.binary(max_size=300))
def test_frame_after_garbage_and_delimiter_is_recovered(garbage, seq, payload):
    items = FrameDecoder().feed(garbage + b"\x00" + encode_frame(0x03, seq, payload))
    assert items[-1] == Frame(0x03, seq, payload)

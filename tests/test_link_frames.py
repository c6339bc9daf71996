"""COBS, CRC-32 and the streaming frame decoder (edgemb.link.frames)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgemb.link import frames
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


# ---- Encoding at block boundaries -------------------------------------------

# Payloads that cross the 254-byte block boundaries with and without zeros
# near them, which is where a COBS encoder goes wrong.
_payloads = st.one_of(
    st.binary(max_size=1200),
    st.lists(st.sampled_from([b"\x00", b"\x01", bytes(range(1, 254)), bytes(range(1, 255)),
                              bytes(range(1, 256)), b"\x00" * 3]), max_size=12).map(b"".join),
)


@given(st.integers(0, 255), st.integers(0, 255), _payloads, _payloads)
@settings(max_examples=300)
def test_a_payload_in_two_pieces_is_the_same_frame(msg_type, seq, head, tail):
    assert encode_frame(msg_type, seq, head, tail) == encode_frame(msg_type, seq, head + tail)


@given(st.integers(0, 255), st.integers(0, 255), _payloads)
@settings(max_examples=300)
def test_every_frame_decodes_to_itself_within_its_size_bound(msg_type, seq, payload):
    wire = encode_frame(msg_type, seq, payload)
    assert len(wire) <= frames.max_encoded_bytes(len(payload))
    assert wire.count(0) == 1 and wire[-1] == 0
    assert decode_frame(wire[:-1]) == Frame(msg_type, seq, payload)


def test_a_whole_input_is_one_frame():
    payload = bytes(range(256)) * 108  # 27,648 bytes, a zero every 256
    wire = encode_frame(3, 9, payload)
    assert wire.count(0) == 1 and len(wire) <= frames.max_encoded_bytes(len(payload))
    assert decode_frame(wire[:-1]) == Frame(3, 9, payload)


def test_the_encoder_refuses_a_type_or_seq_beyond_a_byte():
    with pytest.raises(ValueError, match="type 256 and seq 0 must each fit in a byte"):
        encode_frame(256, 0, b"")
    with pytest.raises(ValueError, match="type 1 and seq -1 must each fit in a byte"):
        encode_frame(1, -1, b"")


def test_the_decoder_keeps_its_length_limit():
    encoded = encode_frame(1, 2, bytes(100))[:-1]
    with pytest.raises(FrameTooLongError, match="frame of 106 bytes, limit 105"):
        decode_frame(encoded, max_frame_bytes=105)
    assert decode_frame(encoded, max_frame_bytes=106) == Frame(1, 2, bytes(100))

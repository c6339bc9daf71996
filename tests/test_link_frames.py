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
    decode_frame_python,
    encode_frame,
    encode_frame_python,
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


# ---- The C framing module (the firmware's encoder and decoder) ---------------


def test_c_framing_module_was_built():
    """tools/setup builds it; without it uploads silently lose most of their speed."""
    assert frames.encode_frame_c is not None and frames.decode_frame_c is not None
    assert frames.encode_frame_into is frames.encode_frame_into_c
    assert encode_frame is frames.encode_frame_c


# Payloads that cross the 254-byte block boundaries with and without zeros
# near them, which is where a COBS encoder goes wrong.
_payloads = st.one_of(
    st.binary(max_size=1200),
    st.lists(st.sampled_from([b"\x00", b"\x01", bytes(range(1, 254)), bytes(range(1, 255)),
                              bytes(range(1, 256)), b"\x00" * 3]), max_size=12).map(b"".join),
)


@given(st.integers(0, 255), st.integers(0, 255), _payloads)
@settings(max_examples=400)
def test_c_encoder_makes_the_python_bytes(msg_type, seq, payload):
    assert frames.encode_frame_c(msg_type, seq, payload) == encode_frame_python(msg_type, seq, payload)


@given(st.integers(0, 255), st.integers(0, 255), _payloads, _payloads)
@settings(max_examples=300)
def test_a_payload_in_two_pieces_is_the_same_frame(msg_type, seq, head, tail):
    whole = encode_frame_python(msg_type, seq, head + tail)
    assert frames.encode_frame_c(msg_type, seq, head, tail) == whole
    assert encode_frame_python(msg_type, seq, head, tail) == whole


def test_c_encoder_on_a_whole_input():
    payload = bytes(range(256)) * 108  # 27,648 bytes, a zero every 256
    assert frames.encode_frame_c(3, 9, payload) == encode_frame_python(3, 9, payload)
    zero_free = bytes(range(1, 256)) * 109  # whole 254-byte blocks straight from the caller
    assert frames.encode_frame_c(2, 0, zero_free[:8], zero_free) == encode_frame_python(
        2, 0, zero_free[:8] + zero_free
    )
    assert frames.encode_frame_c(1, 2) == encode_frame_python(1, 2) == encode_frame_python(1, 2, b"")


@given(st.integers(0, 255), _payloads, _payloads, st.integers(0, 3))
@settings(max_examples=200)
def test_encoding_into_a_buffer_writes_the_frame_and_nothing_else(seq, head, tail, start):
    wire = encode_frame_python(2, seq, head, tail)
    room = frames.max_encoded_bytes(len(head) + len(tail))
    assert len(wire) <= room
    for encode_into in (frames.encode_frame_into_c, frames.encode_frame_into_python):
        buffer = bytearray(b"\xee" * (start + room + 2))
        end = encode_into(buffer, start, 2, seq, head, tail)
        assert end == start + len(wire)
        assert buffer == b"\xee" * start + wire + b"\xee" * (room + 2 - len(wire))


def test_encoding_into_a_buffer_too_small_changes_nothing():
    message = "a frame of 11 payload bytes needs 19 bytes of buffer from index 3, the buffer has 21"
    for encode_into in (frames.encode_frame_into_c, frames.encode_frame_into_python):
        buffer = bytearray(21)  # 3 + 19 needed, though this frame would take 18
        with pytest.raises(ValueError, match=message):
            encode_into(buffer, 3, 2, 7, b"abcdefghijk")
        assert buffer == bytearray(21)
        with pytest.raises(ValueError, match="from index 22, the buffer has 21"):
            encode_into(buffer, 22, 2, 7, b"")


def test_c_encoder_refuses_what_python_refuses():
    with pytest.raises(ValueError, match="type 256 and seq 0 must each fit in a byte"):
        frames.encode_frame_c(256, 0, b"")
    with pytest.raises(ValueError, match="type 1 and seq -1 must each fit in a byte"):
        frames.encode_frame_c(1, -1, b"")


@given(st.integers(0, 255), st.integers(0, 255), _payloads)
@settings(max_examples=300)
def test_c_decoder_reads_what_python_reads(msg_type, seq, payload):
    encoded = encode_frame_python(msg_type, seq, payload)[:-1]
    assert frames.decode_frame_c(encoded) == (msg_type, seq, payload)
    assert decode_frame(encoded) == Frame(msg_type, seq, payload)


@given(st.binary(max_size=600))
@settings(max_examples=400)
def test_c_decoder_accepts_exactly_what_python_accepts(data):
    """On any bytes the C path and the Python path agree: the same frame, or
    the same error with the same message (errors always come from Python)."""
    try:
        expected = decode_frame_python(data)
    except FrameError as error:
        assert frames.decode_frame_c(data) is None
        with pytest.raises(type(error)) as raised:
            decode_frame(data)
        assert str(raised.value) == str(error)
    else:
        assert frames.decode_frame_c(data) == tuple(expected)


def test_c_decoder_keeps_the_python_length_limit():
    encoded = encode_frame_python(1, 2, bytes(100))[:-1]
    with pytest.raises(FrameTooLongError, match="frame of 106 bytes, limit 105"):
        decode_frame(encoded, max_frame_bytes=105)
    assert decode_frame(encoded, max_frame_bytes=106) == Frame(1, 2, bytes(100))

"""Message layouts (edgemb.link.messages): exact bytes, errors, round trips."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgemb.link.errors import BoardError, MessageError
from edgemb.link.frames import Frame
from edgemb.link.messages import (
    REPLIES,
    REQUESTS,
    Ack,
    Bench,
    BenchResult,
    ErrorCode,
    ErrorReply,
    Hello,
    Info,
    Load,
    LoadQuiet,
    MsgType,
    OpTime,
    OpTimes,
    Result,
    TensorInfo,
    parse_message,
)

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
f32 = st.floats(width=32, allow_nan=False)
text = st.text(st.characters(codec="ascii"), max_size=40)
tensors = st.builds(TensorInfo, u8, st.lists(u32, max_size=6).map(tuple), f32, i32, u32)
messages = st.one_of(
    st.builds(Hello, u16, u32),
    st.builds(Load, u32, u32, st.binary(max_size=300)),
    st.builds(LoadQuiet, u32, u32, st.binary(max_size=300)),
    st.builds(Bench, u16),
    st.builds(Info, u16, u8, i32, u32, u16, u32, u32, u8, u32, u16, u16,
              st.binary(min_size=32, max_size=32), tensors, tensors, text, text, text,
              u32, u32, u32),
    st.builds(Ack, u32, u32, u8, u32),
    st.builds(Result, u32, u32, st.binary(max_size=300)),
    st.builds(BenchResult, u32, u32, u32, u32, u32, u32, u32, st.integers(0, 2**64 - 1)),
    st.builds(OpTimes, st.lists(st.builds(OpTime, u8, u32), max_size=40).map(tuple)),
    st.builds(ErrorReply, u8, u8, i32),
)


@given(messages)
def test_message_round_trip(message):
    assert parse_message(Frame(message.TYPE, 0, message.pack())) == message


@given(st.sampled_from(sorted(REQUESTS | REPLIES)), st.binary(max_size=300))
def test_parse_raises_only_message_errors(msg_type, payload):
    try:
        parse_message(Frame(msg_type, 0, payload))
    except MessageError:
        pass


def test_exact_lengths_are_enforced():
    with pytest.raises(MessageError, match="ACK: 1 bytes too many after byte 13"):
        parse_message(Frame(MsgType.ACK, 0, bytes(14)))
    with pytest.raises(MessageError, match="ACK: payload of 9 bytes ends at byte 0, 13 more needed"):
        parse_message(Frame(MsgType.ACK, 0, bytes(9)))  # an ACK of version 2
    with pytest.raises(MessageError, match="more needed"):
        parse_message(Frame(MsgType.RESULT, 0, bytes(8) + (5).to_bytes(4, "little") + b"\x01"))


def test_unknown_type():
    with pytest.raises(MessageError, match="unknown message type 0x47"):
        parse_message(Frame(0x47, 0, b""))


def test_a_quiet_load_is_its_own_type():
    quiet = parse_message(Frame(0x42, 0, bytes([3, 0, 0, 0, 1, 0, 0, 0]) + b"ab"))
    assert type(quiet) is LoadQuiet and quiet == LoadQuiet(3, 1, b"ab")
    assert quiet != Load(3, 1, b"ab")
    with pytest.raises(MessageError, match="LOAD: payload of 7 bytes ends at byte 0, 8 more"):
        parse_message(Frame(0x02, 0, bytes(7)))


def test_hello_and_info_accept_appended_fields():
    session = (0x5E5510A1).to_bytes(4, "little")
    assert parse_message(Frame(MsgType.HELLO, 0, b"\x03\x00" + session + b"future")) == Hello(
        3, 0x5E5510A1)
    # A host before version 3 sent its version only: no session.
    assert parse_message(Frame(MsgType.HELLO, 0, b"\x02\x00")) == Hello(2, 0)


def test_info_from_a_board_built_before_the_heap_fields():
    """INFO gained arena_request and the largest free blocks within version 3:
    an older board's INFO ends after runtime_version, and reads as zeros."""
    info = Info(3, 1, -6, 4096, 3, 240_000_000, 240_000_000, 1, 0, 0, 2, bytes(32),
                TensorInfo(9, (1, 2), 0.5, 0, 2), TensorInfo(9, (1, 2), 0.5, 0, 2),
                "esp32", "tflm", "esp-tflite-micro 1.3.8, esp-nn 1.2.3, ESP-NN optimized",
                177_152, 113_792, 0)
    payload = info.pack()
    assert payload[-12:] == bytes.fromhex("00b40200 80bc0100 00000000".replace(" ", ""))
    old = parse_message(Frame(MsgType.INFO, 0, payload[:-12]))
    assert old == dataclasses.replace(info, arena_request=0, largest_free_internal=0,
                                      largest_free_psram=0)
    # A cut-short tail is not taken for the fields; bytes after them are ignored.
    assert parse_message(Frame(MsgType.INFO, 0, payload[:-1])) == old
    assert parse_message(Frame(MsgType.INFO, 0, payload + b"future")) == info


def test_error_reply_describes_itself():
    error = BoardError(ErrorReply(ErrorCode.INPUT_SIZE, MsgType.LOAD, 27648))
    assert str(error) == (
        "board error INPUT_SIZE on LOAD: wrong input size: the board's model takes "
        "27648 bytes"
    )
    assert error.code == ErrorCode.INPUT_SIZE and error.detail == 27648
    assert "ERROR_0x99" in ErrorReply(0x99, 0x77, 1).describe()

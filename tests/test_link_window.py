"""The upload window's fast path (BoardClient._take_acks) against a scripted
board: ACKs that arrive whole, split or mixed with other replies are taken in
order, and anything but the expected ACK goes the general way."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgemb.link import BoardClient
from edgemb.link.client import _expected_ack
from edgemb.link.errors import BoardError
from edgemb.link.frames import FrameDecoder
from edgemb.link.messages import (
    Ack,
    ErrorCode,
    ErrorReply,
    LoadBegin,
    LoadChunk,
    MsgType,
    encode_message,
    parse_message,
)


class ScriptedBoard:
    """A port-like test double: it decodes what the client writes and answers
    each upload frame with `answer(message, seq)` (bytes), handing the replies
    out at most `piece` bytes per read."""

    def __init__(self, answer, piece: int = 1 << 20):
        self.answer, self.piece = answer, piece
        self.timeout, self.baudrate = 0.05, 921600
        self._decoder, self._out = FrameDecoder(), bytearray()
        self.received: list = []

    def write(self, data: bytes) -> int:
        for frame in self._decoder.feed(bytes(data)):
            message = parse_message(frame)
            self.received.append(message)
            self._out += self.answer(message, frame.seq)
        return len(data)

    @property
    def in_waiting(self) -> int:
        return min(len(self._out), self.piece)

    def read(self, size: int = 1) -> bytes:
        data = bytes(self._out[: min(size, self.piece)])
        del self._out[: len(data)]
        return data

    def reset_input_buffer(self) -> None:
        self._out.clear()


def _ack(message, seq) -> bytes:
    if isinstance(message, LoadBegin):
        return encode_message(Ack(0, message.total_len), seq)
    return encode_message(Ack(message.offset, len(message.data)), seq)


def _client(port) -> BoardClient:
    client = BoardClient(port, timeout=0.2, retries=2, first_seq=250)  # seqs wrap mid-upload
    client.info = SimpleNamespace(max_payload=68, window=4, tick_hz=0)  # 64-byte chunks
    return client


@pytest.mark.parametrize("message", [LoadBegin(300), LoadChunk(64, bytes(range(64))),
                                     LoadChunk(0, b"\x00" * 5)])
def test_expected_ack_is_the_encoded_ack(message):
    for seq in (0, 1, 255):
        assert _expected_ack(message, seq) == _ack(message, seq)


@pytest.mark.parametrize("piece", [1, 5, 13, 1 << 20])
def test_pipelined_uploads_are_acknowledged_however_replies_are_cut(piece):
    port = ScriptedBoard(_ack, piece)
    client = _client(port)
    inputs = [bytes((i + k) % 256 for k in range(300)) for i in range(5)]
    for data in inputs:
        client.load_input(data, wait=False)
    client.flush()
    # LOAD_BEGIN and five chunks per input, each sent once, each acknowledged.
    assert len(port.received) == 5 * 6
    assert client.stats.retransmissions == 0 and client.stats.stale_replies == 0
    uploaded = b"".join(m.data for m in port.received if isinstance(m, LoadChunk))
    assert uploaded == b"".join(inputs)


def test_whole_acks_are_taken_without_decoding():
    port = ScriptedBoard(_ack)
    client = _client(port)
    fed = []
    client._decoder.feed = lambda data: fed.append(data) or []
    client.load_input(bytes(300))
    assert fed == [] and len(port.received) == 6


def test_an_error_among_acks_is_raised_and_ends_the_upload():
    def answer(message, seq):
        if isinstance(message, LoadChunk) and message.offset == 128:
            detail = ErrorReply(ErrorCode.INVOKE_FAILED, MsgType.LOAD_CHUNK, 7)
            return encode_message(detail, seq)
        return _ack(message, seq)

    client = _client(ScriptedBoard(answer, piece=7))
    with pytest.raises(BoardError, match="the model runner failed with code 7"):
        client.load_input(bytes(300))
    assert not client._pending


def test_a_stale_ack_is_counted_and_skipped():
    def answer(message, seq):
        stale = encode_message(Ack(0, 1), (seq - 9) & 0xFF)  # an old reply, still in the pipe
        return stale + _ack(message, seq)

    client = _client(ScriptedBoard(answer))
    client.load_input(bytes(300))
    assert client.stats.stale_replies == 6 and client.stats.retransmissions == 0

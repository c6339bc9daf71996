"""The upload window against a scripted board: quiet frames and the ACKs that
cover them, taken in order however the replies are cut; errors and stale ACKs
among them; losses that only the ACK's begin_seq or order reveal."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgemb.link import BoardClient
from edgemb.link.client import _LoadSent
from edgemb.link.errors import BoardError
from edgemb.link.frames import FrameDecoder
from edgemb.link.messages import (
    Ack,
    ErrorCode,
    ErrorReply,
    Load,
    LoadQuiet,
    encode_message,
    parse_message,
)


class ScriptedBoard:
    """A port-like test double: it decodes what the client writes and answers
    each upload frame with `answer(message, seq, begin_seq)` (bytes), where
    begin_seq is the seq of the last LOAD at offset 0 it received, handing the
    replies out at most `piece` bytes per read. Frames for which
    `vanish(message)` is true never reach it."""

    def __init__(self, answer, piece: int = 1 << 20):
        self.answer, self.piece = answer, piece
        self.timeout, self.baudrate = 0.05, 921600
        self._decoder, self._out = FrameDecoder(), bytearray()
        self.received: list = []
        self.begin_seq = 0
        self.vanish = lambda message: False

    def write(self, data: bytes) -> int:
        for frame in self._decoder.feed(bytes(data)):
            message = parse_message(frame)
            if self.vanish(message):
                continue
            self.received.append(message)
            if isinstance(message, Load) and message.offset == 0:
                self.begin_seq = frame.seq
            self._out += self.answer(message, frame.seq, self.begin_seq)
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


def _ack(message, seq, begin_seq, session: int = 0) -> bytes:
    """What a board answers to a LOAD it accepts (session 0: the client never
    greeted it, and expects none)."""
    if isinstance(message, LoadQuiet):
        return b""
    return encode_message(Ack(message.offset, len(message.data), begin_seq, session), seq)


def _client(port, window: int = 4) -> BoardClient:
    client = BoardClient(port, timeout=0.2, retries=2, first_seq=252)  # seqs wrap mid-upload
    client.info = SimpleNamespace(max_payload=72, window=window, tick_hz=0)  # 64-byte chunks
    return client


def _asks_ack(message) -> bool:
    return not isinstance(message, LoadQuiet)


def test_a_pending_load_is_resent_as_the_same_message():
    quiet = _LoadSent(7, 6, 300, 64, bytes(64), 80, False)
    asking = quiet._replace(asks=True)
    assert quiet.message == LoadQuiet(300, 64, bytes(64)) and type(quiet.message) is LoadQuiet
    assert asking.message == Load(300, 64, bytes(64)) and type(asking.message) is Load
    assert quiet.wire == encode_message(LoadQuiet(300, 64, bytes(64)), 7)


@pytest.mark.parametrize(("window", "acked"), [
    (1, [0, 1, 2, 3, 4]),  # stop-and-wait: every frame
    (2, [0, 1, 2, 3, 4]),
    (3, [1, 3, 4]),  # every second frame, and the last
    (4, [1, 3, 4]),
    (8, [3, 4]),  # every fourth, and the last
    (64, [4]),
])
def test_loads_ask_for_an_ack_every_half_window_and_at_the_end(window, acked):
    port = ScriptedBoard(_ack)
    client = _client(port, window)
    client.load_input(bytes(300))  # five LOADs
    assert [k for k, m in enumerate(port.received) if _asks_ack(m)] == acked
    assert not client._pending and client.stats.retransmissions == 0


@pytest.mark.parametrize(("size", "frames"), [
    (0, [(0, 0)]),  # an empty input: one empty LOAD
    (1, [(0, 1)]),
    (64, [(0, 64)]),  # exactly one frame's room
    (65, [(0, 64), (64, 1)]),
    (129, [(0, 64), (64, 64), (128, 1)]),
])
def test_an_input_is_cut_into_frames_of_the_boards_room(size, frames):
    port = ScriptedBoard(_ack)
    client = _client(port, window=64)
    data = bytes(k % 251 + 1 for k in range(size))
    client.load_input(data)
    expected = [LoadQuiet(size, offset, data[offset : offset + length])
                for offset, length in frames[:-1]]
    offset, length = frames[-1]
    expected.append(Load(size, offset, data[offset : offset + length]))  # the last asks
    assert port.received == expected
    assert [type(m) for m in port.received] == [type(m) for m in expected]
    assert not client._pending


@pytest.mark.parametrize("piece", [1, 5, 13, 1 << 20])
def test_pipelined_uploads_are_acknowledged_however_replies_are_cut(piece):
    port = ScriptedBoard(_ack, piece)
    client = _client(port)
    inputs = [bytes((i + k) % 256 for k in range(300)) for i in range(5)]
    for data in inputs:
        client.load_input(data, wait=False)
    client.flush()
    # Five LOADs per input, each sent once; every second one asks for an ACK.
    # The last does not, so flush() asks with an empty LOAD after it.
    assert len(port.received) == 5 * 5 + 1
    assert [_asks_ack(m) for m in port.received[-3:]] == [True, False, True]
    assert port.received[-1] == Load(300, 300, b"")
    assert client.stats.retransmissions == 0 and client.stats.stale_replies == 0
    uploaded = b"".join(m.data for m in port.received[:-1])
    assert uploaded == b"".join(inputs)


def test_an_error_among_acks_is_raised_and_ends_the_upload():
    def answer(message, seq, begin_seq):
        if message.offset == 128:  # a quiet one
            detail = ErrorReply(ErrorCode.INVOKE_FAILED, message.TYPE, 7)
            return encode_message(detail, seq)
        return _ack(message, seq, begin_seq)

    client = _client(ScriptedBoard(answer, piece=7))
    with pytest.raises(BoardError, match="the model runner failed with code 7"):
        client.load_input(bytes(300))
    assert not client._pending


def test_a_stale_ack_is_counted_and_skipped():
    def answer(message, seq, begin_seq):
        stale = encode_message(Ack(0, 1, 0, 0), (seq - 9) & 0xFF)  # an old reply, still in the pipe
        return stale + _ack(message, seq, begin_seq)

    client = _client(ScriptedBoard(answer))
    client.load_input(bytes(300))
    assert client.stats.stale_replies == 5 and client.stats.retransmissions == 0


def test_an_ack_for_an_older_upload_makes_the_upload_start_again():
    """The second upload's first LOAD vanishes: the board takes the next as
    a rewrite of the first upload, and its ACK names the first upload."""
    port = ScriptedBoard(_ack)
    client = _client(port)
    client.load_input(bytes(300))
    first_begin = port.begin_seq
    lost = []

    def vanish(message):
        if message.offset == 0 and not lost:
            lost.append(message)
            return True
        return False

    port.vanish = vanish
    received_before = len(port.received)
    client.load_input(bytes(range(256)) + bytes(44))
    resent = port.received[received_before:]
    # The board got LOADs 1-3 of the first window, and its ACK to LOAD 1
    # named the first upload; the client sent the window again, offset 0 first.
    assert lost and port.begin_seq != first_begin
    assert [m.offset for m in resent] == [64, 128, 192, 0, 64, 128, 192, 256]
    assert client.stats.retransmissions == 4 and not client._pending


def test_a_lost_ack_is_noticed_from_the_next_one():
    lost = []

    def answer(message, seq, begin_seq):
        if message.offset == 64 and not lost:  # LOAD 1 asks for an ACK, which is lost
            lost.append(seq)
            return b""
        return _ack(message, seq, begin_seq)

    client = _client(ScriptedBoard(answer))
    client.load_input(bytes(300))
    # The ACK to LOAD 3 came first: LOADs 0 to 3 went again, under new seqs.
    assert lost and client.stats.retransmissions == 4 and client.stats.stale_replies == 0
    assert not client._pending


def test_a_refused_quiet_load_makes_the_window_go_back():
    refused = []

    def answer(message, seq, begin_seq):
        if isinstance(message, LoadQuiet) and message.offset == 128 and not refused:
            refused.append(seq)
            return encode_message(ErrorReply(ErrorCode.BAD_CRC, message.TYPE, 0), seq)
        return _ack(message, seq, begin_seq)

    client = _client(ScriptedBoard(answer))
    client.load_input(bytes(300))
    # LOAD 1's ACK had come: only LOADs 2 and 3 go again; the ACK to the
    # first copy of LOAD 3 is then stale.
    assert refused and client.stats.retransmissions == 2 and client.stats.stale_replies == 1
    assert not client._pending

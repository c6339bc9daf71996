"""The serial link end to end: the firmware application built for the `host`
target, serving on a pseudo-terminal, and BoardClient talking to it.

The board under test comes from the `firmware` fixture: the test double by
default. The tests use only what a BoardFirmware declares, so they can run
unchanged against a real runtime and model.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty

import boards
import pytest
import serial
from link_proxy import LinkProxy, OnceForType, OnceWhen, flip_crc_bit, frame_type, load_offset

from edgemb.link import (
    PROTOCOL_VERSION,
    BoardClient,
    BoardError,
    BoardRestarted,
    ErrorCode,
    Info,
    LinkTimeout,
    ModelMismatch,
    PortError,
    ProtocolError,
    TensorInfo,
)
from edgemb.link.frames import cobs_encode, decode_frame, encode_frame, frame_body
from edgemb.link.messages import (
    Ack,
    ErrorReply,
    Hello,
    Invoke,
    MsgType,
    encode_message,
    parse_message,
)

pytestmark = pytest.mark.skipif(
    not boards.have_cc(), reason="needs a C compiler (cc) and make to build the host board"
)


@pytest.fixture(scope="session", params=["test-double", pytest.param("native", marks=pytest.mark.slow)])
def firmware(request, tmp_path_factory) -> boards.BoardFirmware:
    """The test double, then the native runtime with a real trained model."""
    if request.param == "test-double":
        return boards.double_firmware()
    import real_boards

    run = request.getfixturevalue("quantized_run")
    return real_boards.native_firmware(run, tmp_path_factory.mktemp("native-export"))


@pytest.fixture(scope="session")
def board_binary(firmware, tmp_path_factory):
    return boards.build_host_board(firmware, tmp_path_factory.mktemp("host-board"))


@pytest.fixture
def board(board_binary):
    with boards.HostBoard(board_binary) as running:
        yield running


@pytest.fixture
def client(board):
    with BoardClient.open(board.port, timeout=0.5) as connected:
        yield connected


def sample_input(firmware, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(firmware.input_bytes)


class RawPort:
    """The board's port without BoardClient: exact bytes in, exact frames out."""

    def __init__(self, path: str):
        self.device = serial.Serial(path, timeout=0.05)

    def send(self, data: bytes) -> None:
        self.device.write(data)

    def frames(self, count: int, timeout: float = 2.0) -> list[bytes]:
        """The next `count` frames from the board, each with its delimiter."""
        received = bytearray()
        deadline = time.monotonic() + timeout
        while received.count(0) < count and time.monotonic() < deadline:
            received += self.device.read(4096)
        frames = [bytes(f) + b"\x00" for f in bytes(received).split(b"\x00")[:-1]]
        assert len(frames) == count, f"wanted {count} frames, got {received.hex(' ')}"
        return frames

    def close(self) -> None:
        self.device.close()


@pytest.fixture
def raw(board):
    port = RawPort(board.port)
    yield port
    port.close()


def load_frame(seq: int, total: int, offset: int, data: bytes, quiet: bool = False) -> bytes:
    """A hand-made LOAD (or quiet LOAD) frame."""
    header = total.to_bytes(4, "little") + offset.to_bytes(4, "little")
    return encode_frame(MsgType.LOAD_QUIET if quiet else MsgType.LOAD, seq, header + data)


def raw_load(raw: RawPort, data: bytes, seq: int, chunk: int = 16000) -> int:
    """Uploads data with hand-made LOADs, each acknowledged; returns the next free seq."""
    offsets = range(0, len(data), chunk)
    for i, offset in enumerate(offsets):
        raw.send(load_frame(seq + i, len(data), offset, data[offset : offset + chunk]))
    assert [frame_type(f) for f in raw.frames(len(offsets))] == [MsgType.ACK] * len(offsets)
    return seq + len(offsets)


def error_frame(seq: int, code: ErrorCode, request: int, detail: int) -> bytes:
    return encode_message(ErrorReply(code, request, detail), seq)


def ack_frame(seq: int, offset: int, length: int, begin_seq: int, session: int = 0) -> bytes:
    """An ACK; session 0 unless a HELLO set another since the board started."""
    return encode_message(Ack(offset, length, begin_seq, session), seq)


# ---- a session ----------------------------------------------------------------


def test_handshake_describes_board_and_model(client, firmware):
    info = client.hello()
    assert info.protocol_version == PROTOCOL_VERSION
    assert info.ready
    assert info.target == "host"
    assert info.runtime == firmware.runtime
    assert info.fingerprint == firmware.fingerprint
    assert info.input.bytes == firmware.input_bytes
    assert info.output.bytes == firmware.output_bytes
    assert info.tick_hz == 1_000_000_000 and info.tick_kind == 0
    assert info.max_payload == 65536 and info.window == 32


def test_invoke_returns_exact_output(client, firmware):
    client.hello(expect_fingerprint=firmware.fingerprint)
    for seed in (1, 2):
        data = sample_input(firmware, seed)
        client.load_input(data)
        result = client.invoke()
        assert result.output == firmware.expected_output(data)
        assert result.time_us == result.ticks * 1_000_000 // client.info.tick_hz
    assert client.stats.retransmissions == 0


def test_invoke_again_reuses_loaded_input(client, firmware):
    data = sample_input(firmware)
    client.load_input(data)
    first, second = client.invoke(), client.invoke()
    assert first.output == second.output == firmware.expected_output(data)


@pytest.fixture(scope="session")
def small_board_binary(firmware, tmp_path_factory):
    """A host board that accepts 64 data bytes a frame, stop-and-wait: a small MCU."""
    return boards.build_host_board(
        firmware, tmp_path_factory.mktemp("small-board"), max_payload=72, window=1
    )


def test_stop_and_wait_upload_in_small_chunks(small_board_binary, firmware):
    with boards.HostBoard(small_board_binary) as board, BoardClient.open(board.port) as client:
        info = client.hello()
        assert (info.max_payload, info.window) == (72, 1)
        data = sample_input(firmware)
        client.load_input(data)
        assert client.stats.frames_sent == 1 + len(data) // 64  # HELLO, LOADs
        assert client.stats.retransmissions == 0
        assert client.invoke().output == firmware.expected_output(data)


def test_pipelined_uploads(client, firmware):
    inputs = [sample_input(firmware, seed) for seed in (1, 2, 3)]
    for data in inputs:
        client.load_input(data, wait=False)
    assert client.invoke().output == firmware.expected_output(inputs[-1])


def test_pipelined_upload_error_is_raised_by_the_next_call(client, firmware):
    client.load_input(bytes(100), wait=False)
    with pytest.raises(BoardError) as error:
        client.flush()
    assert error.value.code == ErrorCode.INPUT_SIZE
    data = sample_input(firmware)
    client.load_input(data)  # the link is usable again
    assert client.invoke().output == firmware.expected_output(data)


def test_bench_reports_board_timings(client, firmware):
    client.load_input(sample_input(firmware))
    client.invoke()
    bench = client.bench(5)
    assert bench.count == 5
    assert bench.min_ticks <= bench.mean_ticks <= bench.max_ticks
    assert bench.total_ticks // 5 == bench.mean_ticks
    assert bench.min_us <= bench.mean_us <= bench.max_us


def test_op_times_of_last_invoke(client, firmware):
    client.load_input(sample_input(firmware))
    with pytest.raises(BoardError) as no_result:
        client.op_times()
    assert no_result.value.code == ErrorCode.NO_RESULT
    client.invoke()
    ops = client.op_times().ops
    assert len(ops) == client.info.op_count
    if firmware.op_codes is not None:
        assert tuple(op.op_code for op in ops) == firmware.op_codes
    if firmware.op_ticks is not None:
        assert tuple(op.ticks for op in ops) == firmware.op_ticks


# ---- errors the board reports ----------------------------------------------------


def test_wrong_input_size_is_refused(client, firmware):
    with pytest.raises(BoardError) as error:
        client.load_input(bytes(100))
    assert error.value.code == ErrorCode.INPUT_SIZE
    assert error.value.detail == firmware.input_bytes
    assert f"takes {firmware.input_bytes} bytes" in str(error.value)


def test_invoke_without_input_is_refused(client):
    with pytest.raises(BoardError) as error:
        client.invoke()
    assert error.value.code == ErrorCode.NO_INPUT


def test_invoke_failure_is_reported(client, firmware):
    if firmware.failing_input is None:
        pytest.skip("this firmware has no input that makes invoke fail")
    client.load_input(firmware.failing_input)
    with pytest.raises(BoardError) as error:
        client.invoke()
    assert (error.value.code, error.value.detail) == (ErrorCode.INVOKE_FAILED, firmware.fail_code)


def test_board_errors_are_exact_bytes(raw, firmware):
    total = firmware.input_bytes
    raw.send(b"\x00" + encode_frame(0x47, 9))  # not a request type
    raw.send(encode_frame(MsgType.INVOKE, 10, b"\x01"))  # INVOKE takes no payload
    raw.send(encode_frame(MsgType.BENCH, 11, b"\x00\x00"))  # BENCH 0
    raw.send(load_frame(12, total, 4, b"x"))  # no upload started
    raw.send(load_frame(13, total, 0, b""))  # starts one
    raw.send(load_frame(14, total, 8, b"x"))  # gap
    raw.send(encode_frame(MsgType.INVOKE, 15))  # input incomplete
    raw.send(load_frame(16, total, 0, b"abc"))
    # A LOAD that rewrites loaded bytes is accepted; one past the end is not.
    raw.send(load_frame(17, total, 1, b"bc"))
    raw.send(load_frame(18, total + 1, 3, b"d"))  # another input size
    raw.send(encode_frame(MsgType.LOAD, 19, bytes(7)))  # too short for its header
    assert raw.frames(11) == [
        error_frame(9, ErrorCode.UNKNOWN_TYPE, 0x47, 0x47),
        error_frame(10, ErrorCode.BAD_LENGTH, MsgType.INVOKE, 0),
        error_frame(11, ErrorCode.BAD_ARGUMENT, MsgType.BENCH, 0),
        error_frame(12, ErrorCode.SEQUENCE, MsgType.LOAD, 0),
        ack_frame(13, 0, 0, 13),
        error_frame(14, ErrorCode.SEQUENCE, MsgType.LOAD, 0),
        error_frame(15, ErrorCode.NO_INPUT, MsgType.INVOKE, 0),
        ack_frame(16, 0, 3, 16),
        ack_frame(17, 1, 2, 16),
        error_frame(18, ErrorCode.INPUT_SIZE, MsgType.LOAD, total),
        error_frame(19, ErrorCode.BAD_LENGTH, MsgType.LOAD, 8),
    ]
    seq = raw_load(raw, sample_input(firmware), 20)
    raw.send(load_frame(seq, total, total - 1, b"xy"))
    assert raw.frames(1) == [error_frame(seq, ErrorCode.OUT_OF_RANGE, MsgType.LOAD, total)]


def test_quiet_loads_are_answered_only_when_refused(raw, firmware):
    total = firmware.input_bytes
    data = sample_input(firmware)
    raw.send(b"\x00" + load_frame(30, total, 0, data[:100], quiet=True))
    raw.send(load_frame(31, total, 200, b"x", quiet=True))  # gap
    for seq, offset in enumerate(range(100, total, 16000), start=40):
        raw.send(load_frame(seq, total, offset, data[offset : offset + 16000], quiet=True))
    raw.send(load_frame(32, 1, 0, b"", quiet=True))  # wrong size
    raw.send(encode_frame(MsgType.INVOKE, 33))
    # An empty LOAD at the end asks for the ACK that covers the quiet ones.
    raw.send(load_frame(34, total, total, b""))
    frames = raw.frames(4)
    assert frames[:2] == [
        error_frame(31, ErrorCode.SEQUENCE, MsgType.LOAD_QUIET, 100),
        error_frame(32, ErrorCode.INPUT_SIZE, MsgType.LOAD_QUIET, total),
    ]
    # The refused frames changed nothing: the quiet upload is complete.
    result = parse_message(decode_frame(frames[2][:-1]))
    assert result.output == firmware.expected_output(data)
    assert frames[3] == ack_frame(34, total, 0, 30)


def test_ack_names_the_load_that_started_its_upload(raw, firmware):
    """LOADs that arrive without the one at offset 0 (lost on the way) are
    taken into the upload before; the ACK says which, and the host can tell."""
    data = sample_input(firmware)
    total = len(data)
    seq = raw_load(raw, data, 40)  # an upload started by seq 40
    raw.send(load_frame(seq, total, total - 8, data[-8:]))
    raw.send(load_frame(seq + 1, total, 0, data[:8], quiet=True))
    raw.send(load_frame(seq + 2, total, 8, data[8:16]))
    assert raw.frames(2) == [
        ack_frame(seq, total - 8, 8, 40),
        ack_frame(seq + 2, 8, 8, seq + 1),
    ]


def test_ack_names_the_session_of_the_last_handshake(raw, firmware):
    """Session 0 from boot; each HELLO sets the one every ACK repeats, and a
    2-byte HELLO (a host before version 3) is still answered, with session 0."""
    total = firmware.input_bytes
    raw.send(b"\x00" + load_frame(50, total, 0, b"ab"))
    raw.send(encode_message(Hello(session=0x5E5510A1), 51))
    raw.send(load_frame(52, total, 0, b"cd"))
    raw.send(encode_frame(MsgType.HELLO, 53, (2).to_bytes(2, "little")))
    raw.send(load_frame(54, total, 0, b"ef"))
    frames = raw.frames(5)
    assert [frames[0], frames[2], frames[4]] == [
        ack_frame(50, 0, 2, 50, session=0),
        ack_frame(52, 0, 2, 52, session=0x5E5510A1),
        ack_frame(54, 0, 2, 54, session=0),
    ]
    assert [frame_type(frames[1]), frame_type(frames[3])] == [MsgType.INFO, MsgType.INFO]


def test_a_handshake_from_elsewhere_mid_upload_is_named(client, firmware):
    """An ACK with another session than the client's handshake set: the board
    restarted (session 0) or, as here, another host greeted it. The client
    says so instead of taking the ACK; a new handshake recovers."""
    data = sample_input(firmware)
    client.hello()
    client.load_input(data)
    session = client._session
    other = 0x0BADCAFE if session != 0x0BADCAFE else 0x0BADCAFF
    client.port.write(encode_message(Hello(session=other), 200))
    while frame_type(client.port.read_until(b"\x00")) != MsgType.INFO:  # the board has it
        pass
    with pytest.raises(BoardRestarted) as raised:
        client.load_input(data)
    seq = (client._seq - 1) & 0xFF
    assert str(raised.value) == (
        "the board has answered another handshake (from another host?) since this one: its ACK "
        f"to seq {seq} names session {other:#010x}, not {session:#010x}, and the upload in "
        "progress is lost"
    )
    client.hello()
    client.load_input(data)
    assert client.invoke().output == firmware.expected_output(data)


def test_damaged_frames_are_reported(raw):
    hello = encode_message(Hello(), 21)
    raw.send(flip_crc_bit(hello))
    raw.send(b"\x05\x01\x02\x00")  # a COBS block cut short by the delimiter
    long_body = frame_body(MsgType.LOAD, 22, bytes(70000))
    raw.send(cobs_encode(long_body) + b"\x00")
    assert raw.frames(3) == [
        error_frame(21, ErrorCode.BAD_CRC, MsgType.HELLO, 0),
        error_frame(2, ErrorCode.BAD_FRAME, 1, 0),  # type and seq guessed from bytes 0, 1
        error_frame(22, ErrorCode.TOO_LONG, MsgType.LOAD, 65536),
    ]


def test_retransmitted_invoke_is_answered_not_rerun(raw, firmware):
    data = sample_input(firmware)
    seq = raw_load(raw, data, 1)
    invoke = encode_message(Invoke(), seq)
    raw.send(invoke + invoke)
    first, again = raw.frames(2)
    assert first == again  # same ticks: replayed, not run twice
    raw.send(encode_message(Invoke(), seq + 1))  # a new request (new seq) runs
    (third,) = raw.frames(1)
    assert decode_frame(third[:-1]).seq == seq + 1
    assert parse_message(decode_frame(third[:-1])).output == firmware.expected_output(data)


def test_board_survives_any_bytes(board, firmware):
    noise = random.Random(7).randbytes(200_000)
    with serial.Serial(board.port) as device:
        device.write(noise)
    with BoardClient.open(board.port, timeout=0.5) as client:
        assert client.hello().fingerprint == firmware.fingerprint
        data = sample_input(firmware)
        client.load_input(data)
        assert client.invoke().output == firmware.expected_output(data)
    assert board.alive()


# ---- what the link survives -------------------------------------------------------


def test_boot_noise_before_handshake_is_skipped(board, firmware):
    rom_log = (b"ets Jun  8 2016 00:22:57\r\n\xe0\x00\x98rst:0x1 (POWERON_RESET)\x00"
               + random.Random(3).randbytes(300) + b"\x00\x00")
    with LinkProxy(board.port, to_host=OnceForType(MsgType.INFO, lambda w: rom_log + w)) as proxy:
        with BoardClient.open(proxy.port, timeout=0.5) as client:
            assert client.hello().fingerprint == firmware.fingerprint
            assert client.stats.damaged_received >= 1
            assert client.stats.retransmissions == 0


def test_corrupted_request_is_retransmitted(board, firmware):
    hook = OnceForType(MsgType.LOAD, flip_crc_bit)
    with LinkProxy(board.port, to_board=hook) as proxy:
        with BoardClient.open(proxy.port, timeout=0.5) as client:
            data = sample_input(firmware)
            client.load_input(data)
            assert hook.done
            assert client.stats.retransmissions >= 1
            assert client.invoke().output == firmware.expected_output(data)


def test_corrupted_reply_is_retransmitted_and_replayed(board, firmware):
    hook = OnceForType(MsgType.RESULT, flip_crc_bit)
    with LinkProxy(board.port, to_host=hook) as proxy:
        with BoardClient.open(proxy.port, timeout=0.5) as client:
            data = sample_input(firmware)
            client.load_input(data)
            result = client.invoke()
            assert hook.done and client.stats.retransmissions == 1
            assert result.output == firmware.expected_output(data)
            results = [f for f in proxy.downstream.frames if frame_type(f) == MsgType.RESULT]
            # The board sent the same RESULT twice: the retransmitted INVOKE
            # was answered from its record, not run again.
            assert len(results) == 2 and results[0] == results[1]


@pytest.fixture(scope="session")
def windowed_board_binary(firmware, tmp_path_factory):
    """A host board that takes a sixth of an input a frame and 4 frames in
    flight: every upload is six LOADs, and every second one is quiet."""
    max_payload = firmware.input_bytes // 6 + 8
    return boards.build_host_board(
        firmware, tmp_path_factory.mktemp("windowed-board"), max_payload=max_payload, window=4
    )


@pytest.fixture
def windowed_board(windowed_board_binary):
    with boards.HostBoard(windowed_board_binary) as running:
        yield running


def test_lost_load_is_resent(board, firmware):
    hook = OnceForType(MsgType.LOAD, lambda wire: b"")
    with LinkProxy(board.port, to_board=hook) as proxy:
        with BoardClient.open(proxy.port, timeout=0.3) as client:
            data = sample_input(firmware)
            client.load_input(data)
            assert client.invoke().output == firmware.expected_output(data)
            assert client.stats.retransmissions >= 1


def test_lost_quiet_load_is_resent(windowed_board, firmware):
    # The third LOAD vanishes; the board refuses the next (SEQUENCE), and the
    # window goes back.
    hook = OnceForType(MsgType.LOAD_QUIET, lambda wire: b"", nth=2)
    with LinkProxy(windowed_board.port, to_board=hook) as proxy:
        with BoardClient.open(proxy.port, timeout=0.3) as client:
            data = sample_input(firmware)
            client.load_input(data)
            assert hook.done and client.stats.retransmissions >= 1
            assert client.invoke().output == firmware.expected_output(data)


def test_lost_start_of_an_upload_is_noticed(windowed_board, firmware):
    """The first LOAD of the second upload vanishes: the board takes the next
    ones into the first upload, and the ACK's begin_seq gives it away."""
    hook = OnceWhen(lambda wire: load_offset(wire) == 0, lambda wire: b"", nth=2)
    with LinkProxy(windowed_board.port, to_board=hook) as proxy:
        with BoardClient.open(proxy.port, timeout=0.3) as client:
            first, second = sample_input(firmware, 1), sample_input(firmware, 2)
            client.load_input(first)
            client.load_input(second)
            assert hook.done and client.stats.retransmissions >= 1
            assert client.invoke().output == firmware.expected_output(second)


def test_damage_inside_pipelined_uploads_is_repaired(windowed_board, firmware):
    # The 6th quiet LOAD (the 5th of the 2nd input) arrives corrupted; the 2nd
    # ACK is lost.
    to_board = OnceForType(MsgType.LOAD_QUIET, flip_crc_bit, nth=6)
    to_host = OnceForType(MsgType.ACK, lambda wire: b"", nth=2)
    with LinkProxy(windowed_board.port, to_board=to_board, to_host=to_host) as proxy:
        with BoardClient.open(proxy.port, timeout=0.3) as client:
            client.hello()
            inputs = [sample_input(firmware, seed) for seed in (1, 2, 3)]
            for data in inputs:
                client.load_input(data, wait=False)
            assert client.invoke().output == firmware.expected_output(inputs[-1])
            assert to_board.done and to_host.done
            assert client.stats.retransmissions >= 2


def test_lost_request_times_out_and_is_resent(board, firmware):
    hook = OnceForType(MsgType.INVOKE, lambda wire: b"")
    with LinkProxy(board.port, to_board=hook) as proxy:
        with BoardClient.open(proxy.port, timeout=0.3, invoke_timeout=0.3) as client:
            data = sample_input(firmware)
            client.load_input(data)
            assert client.invoke().output == firmware.expected_output(data)
            assert client.stats.retransmissions == 1


# ---- ports that are not a board -----------------------------------------------------


def _pty_with(respond=None):
    """A pty whose other end answers each write with respond(data), or stays silent."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                data = os.read(master, 4096)
                if respond is not None:
                    os.write(master, respond(data))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def close():
        stop.set()
        thread.join()
        os.close(master)
        os.close(slave)

    return os.ttyname(slave), close


def test_silent_port_times_out_clearly():
    path, close = _pty_with(None)
    try:
        with BoardClient.open(path, timeout=0.2) as client:
            start = time.monotonic()
            with pytest.raises(LinkTimeout) as error:
                client.hello(boot_timeout=0.6)
            assert time.monotonic() - start < 2.0
    finally:
        close()
    message = str(error.value)
    assert "no reply from the board to HELLO" in message
    assert "received: nothing" in message
    assert "sent 14 bytes" in message


def test_port_with_log_output_times_out_clearly():
    path, close = _pty_with(lambda data: b"I (31) boot: ESP-IDF v5.1 2nd stage bootloader\r\n")
    try:
        with BoardClient.open(path, timeout=0.2) as client, pytest.raises(LinkTimeout) as error:
            client.hello(boot_timeout=0.4)
    finally:
        close()
    assert "I (31) boot" in str(error.value)
    assert "None of it was an edgemb frame" in str(error.value)


def test_loopback_port_is_recognised():
    path, close = _pty_with(lambda data: data)
    try:
        with BoardClient.open(path, timeout=0.2) as client, pytest.raises(LinkTimeout) as error:
            client.hello(boot_timeout=0.4)
    finally:
        close()
    assert "loopback" in str(error.value)


def test_board_with_other_protocol_version_is_refused(firmware):
    def answer(data: bytes) -> bytes:
        frame = decode_frame(data.strip(b"\x00"))
        info = Info(2, 0, 0, 1024, 1, 0, 1000, 0, 0, 0, 0, bytes(32),  # the last version
                    TensorInfo(9, (1,), 1.0, 0, 1), TensorInfo(9, (1,), 1.0, 0, 1), "x", "y", "z")
        return encode_message(info, frame.seq)

    path, close = _pty_with(answer)
    try:
        with BoardClient.open(path, timeout=0.5) as client, pytest.raises(ProtocolError) as error:
            client.hello()
    finally:
        close()
    assert str(error.value) == (
        "the board speaks protocol version 2, this edgemb speaks 3: "
        "build and flash the firmware with this edgemb"
    )


def test_board_with_other_model_is_refused(client):
    with pytest.raises(ModelMismatch):
        client.hello(expect_fingerprint=bytes(32))


def test_busy_port(board):
    with BoardClient.open(board.port), pytest.raises(PortError) as error:
        BoardClient.open(board.port)
    assert "busy" in str(error.value)


def test_missing_port():
    with pytest.raises(PortError) as error:
        BoardClient.open("/dev/ttyEDGEMB-NOT-THERE")
    assert "no such device" in str(error.value)

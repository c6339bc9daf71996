#!/usr/bin/env python3
"""Link throughput: BoardClient uploads against raw writes of the same bytes.

Builds the host board with the test-double runner (in a temporary directory),
starts it, and in the same run, over the same pseudo-terminal and the same open
port, alternates:

  pipelined N x BoardClient.load_input(input, wait=False), then flush():
            LOAD frames, COBS, CRC, through the board's window (one LOAD in
            every half window asks for an ACK), uploads back to back;
  confirmed N x BoardClient.load_input(input): the same, but each upload
            waits for its last acknowledgement before the next starts;
  raw       the same N x input bytes written as they are (no 0x00 in them),
            with pyserial's write, as the client writes, then one 0x00. The board reads them through the same
            em_serial_read and decoder, drops them as one oversize frame and
            answers one ERROR: that reply, read the client's own way, is the
            proof that it has read every byte.

With --breakdown, two more rows show where the difference goes, as the
same LOAD frames (one in every half window asking for an ACK) sent without
the client:

  encoded beforehand   all N frames encoded before the clock starts, then
                       written one by one: what the protocol's bytes and the
                       board's decoding, CRC and ACKs cost;
  encode and write     each frame encoded just before it is written, with
                       no window kept: what encoding costs.

The rest, between "encode and write" and load_input(wait=False), is the
client's own bookkeeping: the window, its records and reading the ACKs.

All figures are payload bytes (N x input size) per second of wall time. A
shared machine only ever slows a run down, and by as much as a third from one
round to the next, so two ratios are printed: the best protocol round against
the best raw round, and the median over rounds of the ratio within a round
(raw and protocol measured back to back, under the same load).

    python tools/bench_link.py [--inputs 200] [--rounds 100] [--breakdown]
    python tools/bench_link.py --max-payload 1024 --window 1   # like a small board
    python tools/bench_link.py --rate 92160 --inputs 4   # a 921600-baud UART
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import select
import statistics
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import boards  # noqa: E402  (tests/boards.py: builds and starts host boards)

from edgemb.link import BoardClient  # noqa: E402
from edgemb.link.frames import FrameDecoder, encode_frame  # noqa: E402
from edgemb.link.messages import LOAD_HEADER, MsgType  # noqa: E402


class PacedLink:
    """A serial line of `rate` bytes/s in each direction, put between the
    client and the board's pty: a pty of its own for the client, and a thread
    per direction that forwards bytes no faster than the rate (a UART)."""

    def __init__(self, board_port: str, rate: float):
        self._board = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._board)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._rate, self._stop = rate, threading.Event()
        self._threads = [
            threading.Thread(target=self._forward, args=(self._master, self._board), daemon=True),
            threading.Thread(target=self._forward, args=(self._board, self._master), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _forward(self, source: int, sink: int) -> None:
        slice_bytes = max(1, int(self._rate / 1000))  # about 1 ms of line time a write
        free_at = time.monotonic()
        while not self._stop.is_set():
            if not select.select([source], [], [], 0.05)[0]:
                continue
            data = os.read(source, slice_bytes)
            free_at = max(free_at, time.monotonic()) + len(data) / self._rate
            time.sleep(max(0.0, free_at - time.monotonic()))
            os.write(sink, data)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for fd in (self._board, self._master, self._slave):
            os.close(fd)


def make_inputs(count: int, size: int) -> list[bytes]:
    rng = random.Random(5)
    # No 0x00, so that the raw stream is one frame to the board; the protocol
    # side gains nothing from it (COBS costs the same one byte per 254).
    return [bytes(b or 1 for b in rng.randbytes(size)) for _ in range(count)]


def time_protocol(client: BoardClient, inputs: list[bytes], wait: bool) -> float:
    start = time.perf_counter()
    for data in inputs:
        client.load_input(data, wait=wait)
    client.flush()
    return time.perf_counter() - start


def time_raw(client: BoardClient, inputs: list[bytes]) -> float:
    port = client.port
    port.reset_input_buffer()
    start = time.perf_counter()
    for data in inputs:
        port.write(data)
    port.write(b"\x00")
    _await_frames(port, 1)
    return time.perf_counter() - start


def _await_frames(port, count: int) -> None:
    """Reads until `count` frames have come back, the client's own way."""
    decoder, received = FrameDecoder(), 0
    while received < count:
        received += len(decoder.feed(port.read(max(1, port.in_waiting))))


def load_frames(inputs: list[bytes], ack_every: int) -> list[tuple[MsgType, int, bytes, bytes]]:
    """Type, seq, header and data of one LOAD per input, one in `ack_every`
    and the last asking for an ACK, as the client sends them."""
    frames = []
    for k, data in enumerate(inputs):
        asks = (k + 1) % ack_every == 0 or k == len(inputs) - 1
        msg_type = MsgType.LOAD if asks else MsgType.LOAD_QUIET
        frames.append((msg_type, k & 0xFF, LOAD_HEADER.pack(len(data), 0), data))
    return frames


def time_encoded_beforehand(client: BoardClient, inputs: list[bytes], ack_every: int) -> float:
    frames = load_frames(inputs, ack_every)
    wires = [b"\x00" + encode_frame(*frame) for frame in frames]
    start = time.perf_counter()
    for wire in wires:
        client.port.write(wire)
    _await_frames(client.port, sum(frame[0] == MsgType.LOAD for frame in frames))
    return time.perf_counter() - start


def time_encode_and_write(client: BoardClient, inputs: list[bytes], ack_every: int) -> float:
    frames = load_frames(inputs, ack_every)
    start = time.perf_counter()
    for frame in frames:
        client.port.write(b"\x00" + encode_frame(*frame))
    _await_frames(client.port, sum(frame[0] == MsgType.LOAD for frame in frames))
    return time.perf_counter() - start


def _rate(bytes_per_second: float) -> str:
    return f"{bytes_per_second / 1e3:12,.1f} kB/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=200, help="uploads per measurement")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--max-payload", type=int, help="the board's maximum frame payload")
    parser.add_argument("--window", type=int, help="the board's upload window")
    parser.add_argument("--rate", type=float,
                        help="bytes/s of a simulated serial line between host and board "
                        "(default: the bare pseudo-terminal)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the same LOAD frames encoded beforehand, and encoded "
                        "and written without the client")
    args = parser.parse_args()

    firmware = boards.double_firmware()
    with tempfile.TemporaryDirectory(prefix="edgemb-bench-") as tmp:
        binary = boards.build_host_board(firmware, Path(tmp), max_payload=args.max_payload,
                                         window=args.window)
        with contextlib.ExitStack() as stack:
            board = stack.enter_context(boards.HostBoard(binary))
            port = board.port
            if args.rate:
                line = PacedLink(board.port, args.rate)
                stack.callback(line.close)
                port = line.port
            client = stack.enter_context(BoardClient.open(port, timeout=2.0))
            info = client.hello()
            inputs = make_inputs(args.inputs, info.input.bytes)
            payload = args.inputs * info.input.bytes
            if args.breakdown and info.input.bytes + LOAD_HEADER.size > info.max_payload:
                parser.error(f"--breakdown sends each input in one LOAD: {info.input.bytes} bytes "
                             f"do not fit the board's {info.max_payload}-byte frames")
            ack_every = (info.window + 1) // 2  # as the client asks
            runs = {
                "confirmed": lambda: time_protocol(client, inputs, wait=True),
                "raw": lambda: time_raw(client, inputs),
                "pipelined": lambda: time_protocol(client, inputs, wait=False),
            }
            if args.breakdown:
                runs["beforehand"] = lambda: time_encoded_beforehand(client, inputs, ack_every)
                runs["encode"] = lambda: time_encode_and_write(client, inputs, ack_every)
            seconds: dict[str, list[float]] = {name: [] for name in runs}
            for round_ in range(args.rounds + 1):  # round 0 warms up
                for name, run in runs.items():
                    elapsed = run()
                    client.hello()  # resynchronise (after the raw stream's ERROR)
                    if round_ > 0:
                        seconds[name].append(elapsed)
            stats = client.stats

    best = {name: payload / min(times) for name, times in seconds.items()}
    line = f"a {args.rate:,.0f} B/s serial line" if args.rate else "the bare pty"
    print(f"board: max_payload {info.max_payload}, window {info.window}; over {line}; "
          f"{args.inputs} inputs of {info.input.bytes} bytes, {args.rounds} rounds")
    print(f"{'':30s} {'best round':>17s}  {'best/best':>9s}  {'median of rounds':>16s}")
    print(f"{'raw write/read':30s} {_rate(best['raw'])}")
    rows = [("pipelined", "load_input(wait=False) x N"),
            ("confirmed", "load_input() x N (each acked)")]
    if args.breakdown:
        rows += [("beforehand", "LOADs encoded beforehand"), ("encode", "LOADs encoded and written")]
    for name, label in rows:
        ratios = [raw / mine for raw, mine in zip(seconds["raw"], seconds[name], strict=True)]
        print(f"{label:30s} {_rate(best[name])}  {100 * best[name] / best['raw']:7.1f} %"
              f"  {100 * statistics.median(ratios):14.1f} %")
    print(f"retransmissions: {stats.retransmissions}, damaged replies: {stats.damaged_received}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

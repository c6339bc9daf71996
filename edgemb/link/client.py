"""BoardClient: the host side of the protocol, over any pyserial-like port.

Two ways to send (docs/protocol.md, "Flow control"):
- requests are stop-and-wait: one at a time, and retransmitted with the same
  seq, which the board recognises and answers from its record without running
  the request twice;
- an input upload (LOAD frames, the first at offset 0) streams through a sliding window
  of `window` unacknowledged frames. One frame in every half window asks for
  an ACK, which covers the quiet frames before it, and so does the last frame
  before the host waits. These frames are idempotent, so a loss is repaired
  by resending every unacknowledged frame under new seqs (go-back-N), which
  stale replies to the old copies cannot then be mistaken for.
Retries are bounded.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import serial

from edgemb.link.errors import (
    BoardError,
    BoardRestarted,
    FrameError,
    LinkTimeout,
    ModelMismatch,
    PortError,
    ProtocolError,
)
from edgemb.link.frames import (
    DELIMITER,
    Frame,
    FrameDecoder,
    encode_frame,
)
from edgemb.link.messages import (
    EXPECTED_REPLY,
    FRAME_ERRORS,
    LOAD_HEADER,
    PROTOCOL_VERSION,
    REQUESTS,
    Ack,
    Bench,
    BenchResult,
    ErrorCode,
    ErrorReply,
    Hello,
    Info,
    Invoke,
    Load,
    LoadQuiet,
    Message,
    MsgType,
    OpTimes,
    OpTimesRequest,
    Result,
    encode_message,
    parse_message,
)
from edgemb.link.ports import DEFAULT_BAUDRATE, open_port, reset_board

_MAX_WINDOW = 64  # well below 256 seqs, so that seqs in flight never wrap onto each other
_PREVIEW = 48  # bytes shown in error messages


@dataclass
class LinkStats:
    """Counters for one client: how clean the link was."""

    frames_sent: int = 0
    retransmissions: int = 0
    damaged_received: int = 0  # frames from the board that failed COBS or CRC
    stale_replies: int = 0  # duplicates and replies to requests no longer waited for
    bytes_sent: int = 0
    bytes_received: int = 0


class _Request(NamedTuple):
    """A request sent and not yet answered (stop-and-wait)."""

    message: Message
    seq: int
    wire_len: int  # bytes of its frame on the wire

    @property
    def wire(self) -> bytes:
        """Its frame, encoded again (for error messages)."""
        return encode_message(self.message, self.seq)


class _LoadSent(NamedTuple):
    """A LOAD frame sent and not yet acknowledged. Its frame is not kept: it is
    encoded again if it has to be sent again."""

    seq: int
    # The seq of the LOAD its upload started with, as the ACK reports it.
    begin_seq: int
    total_len: int
    offset: int
    data: bytes
    wire_len: int  # bytes of its frame on the wire
    asks: bool  # a LOAD that asks for an ACK, not a LOAD_QUIET

    @property
    def message(self) -> Load:
        kind = Load if self.asks else LoadQuiet
        return kind(self.total_len, self.offset, self.data)

    @property
    def wire(self) -> bytes:
        """Its frame, encoded again (for error messages)."""
        return encode_message(self.message, self.seq)


class _Capture:
    """What came back during one operation, for error messages."""

    __slots__ = ("count", "head", "frames")

    def __init__(self) -> None:
        self.count = 0
        self.head = bytearray()
        self.frames = 0

    def add(self, data: bytes) -> None:
        self.count += len(data)
        self.head += data[: max(0, _PREVIEW - len(self.head))]


def _preview(data: bytes) -> str:
    head = bytes(data[:_PREVIEW])
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in head)
    more = " ..." if len(data) > _PREVIEW else ""
    return f"{head.hex(' ')}{more}  |{text}|"


class BoardClient:
    """Talks to an edgemb board: hello(), load_input(), invoke(), bench(), op_times()."""

    def __init__(
        self,
        port,
        *,
        timeout: float = 1.0,
        retries: int = 3,
        invoke_timeout: float = 30.0,
        first_seq: int | None = None,
    ):
        """`port` is an open pyserial-like object (read, write, in_waiting,
        reset_input_buffer). `timeout` bounds the wait for a link-level reply,
        `invoke_timeout` the wait for an inference nobody has timed yet."""
        self.port = port
        if getattr(port, "timeout", 0) is None or getattr(port, "timeout", 0) > 0.1:
            port.timeout = 0.05  # reads must return so that our deadlines hold
        self.timeout = timeout
        self.retries = retries
        self.invoke_timeout = invoke_timeout
        self.info: Info | None = None  # also sets the upload's shape (see the setter)
        self.stats = LinkStats()
        # A random start makes it unlikely that a request repeats the last seq a
        # previous session used, which the board would take for a retransmission.
        self._seq = random.randrange(256) if first_seq is None else first_seq & 0xFF
        self._begin_seq = 0  # seq of the last LOAD at offset 0 sent
        self._session = 0  # set by hello(); the board's own is 0 until then
        self._decoder = FrameDecoder()
        self._inbox: deque[Frame | FrameError] = deque()
        self._capture = _Capture()
        self._synced = False  # a valid frame has arrived since the last restart
        self._echo_seen = False
        self._invoke_seconds: float | None = None
        # The upload window: LOAD frames sent and not yet acknowledged, oldest first.
        self._pending: deque[_LoadSent] = deque()
        self._pending_deadline = 0.0
        self._go_backs = 0  # since the oldest pending frame last made progress
        self._pending_error: ErrorReply | None = None
        self._quiet_run = 0  # quiet LOAD frames sent since the last that asked for an ACK

    # ---- opening -----------------------------------------------------------

    @classmethod
    def open(
        cls, port: str, *, baudrate: int = DEFAULT_BAUDRATE, reset: bool = False, **options
    ) -> BoardClient:
        """Opens a device path or pyserial URL; resets the board only if asked."""
        device = open_port(port, baudrate=baudrate)
        if reset:
            device = reset_board(device, port, baudrate=baudrate)
        return cls(device, **options)

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> BoardClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def info(self) -> Info | None:
        """What the board said in the last handshake; None before one."""
        return self._info

    @info.setter
    def info(self, info: Info | None) -> None:
        self._info = info
        # How uploads go while this handshake holds: worked out once here, not
        # for every upload, since on a fast link that time is the link's.
        self._window_size = max(1, min(info.window if info else 1, _MAX_WINDOW))
        self._ack_every = (self._window_size + 1) // 2  # so the ACK is back before the window is full
        self._load_room = max(1, info.max_payload - Load.HEADER_BYTES) if info else 1

    # ---- operations --------------------------------------------------------

    def hello(self, *, boot_timeout: float = 5.0, expect_fingerprint: bytes | None = None) -> Info:
        """Handshake. Skips whatever the board printed before (a boot log) and
        keeps asking for up to `boot_timeout` s, so a board that is still
        booting gets found. Abandons an upload in progress."""
        self._restart_stream()
        attempts = max(self.retries + 1, math.ceil(boot_timeout / self.timeout))
        # A new session for every handshake: each ACK until the next one names
        # it, so a board that restarts (session 0) cannot pass unnoticed.
        self._session = random.randrange(1, 1 << 32)
        info = self._call(Hello(session=self._session), self.timeout, retries=attempts - 1)
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"the board speaks protocol version {info.protocol_version}, this edgemb "
                f"speaks {PROTOCOL_VERSION}: build and flash the firmware with this edgemb"
            )
        if expect_fingerprint is not None and info.fingerprint != bytes(expect_fingerprint):
            raise ModelMismatch(
                f"the board runs another model (fingerprint {info.fingerprint.hex()[:16]}..., "
                f"expected {bytes(expect_fingerprint).hex()[:16]}...): flash this model first"
            )
        self.info = info
        return info

    def load_input(self, data: bytes, *, wait: bool = True) -> None:
        """Uploads one input tensor in LOAD frames through the upload window.

        With wait=False it returns once the last LOAD is sent, and the next
        call (or flush()) collects the acknowledgements, so that uploads can
        follow each other without a round trip in between. An error the board
        reports about the upload is then raised by that next call."""
        if self._info is None:
            self.hello()
        self._capture = _Capture()
        data = bytes(data)
        total, room = len(data), self._load_room
        last = max(total - 1, 0) // room * room  # offset of the last frame (an empty input: 0)
        for offset in range(0, last + 1, room):
            asks = (wait and offset == last) or self._quiet_run + 1 >= self._ack_every
            self._send_load(total, offset, data[offset : offset + room], asks)
        if wait:
            self.flush()

    def flush(self) -> None:
        """Waits until every LOAD sent has been acknowledged."""
        if self._pending and not self._pending[-1].asks:
            self._ask_for_ack()
        while self._pending:
            self._advance_window()

    def invoke(self, *, timeout: float | None = None) -> Result:
        """Runs one inference on the loaded input."""
        info = self._require_info()
        result = self._call(Invoke(), timeout or self._run_timeout(1))
        if info.tick_hz:
            self._invoke_seconds = result.ticks / info.tick_hz
        return result

    def bench(self, count: int, *, timeout: float | None = None) -> BenchResult:
        """Runs `count` inferences on the board and returns its own timings.
        Call invoke() first, or pass a timeout, when one inference is slow."""
        if not 1 <= count <= 0xFFFF:
            raise ValueError(f"bench count must be 1..65535, not {count}")
        self._require_info()
        return self._call(Bench(count), timeout or self._run_timeout(count))

    def op_times(self) -> OpTimes:
        """Per-operator ticks of the last invoke() (empty if the runtime has none)."""
        self._require_info()
        return self._call(OpTimesRequest(), self.timeout)

    # ---- stop-and-wait requests ----------------------------------------------

    def _call(self, message: Message, timeout: float, retries: int | None = None) -> Message:
        """Sends one request (after any upload in flight) and returns its reply."""
        self.flush()
        self._capture = _Capture()
        retries = self.retries if retries is None else retries
        request, wire = self._prepare(message)
        last_error: ErrorReply | None = None
        for attempt in range(retries + 1):
            self._send([wire], again=attempt > 0)
            deadline = time.monotonic() + timeout + self._wire_seconds(len(wire))
            reply = self._await_reply(request, deadline)
            if isinstance(reply, ErrorReply):
                # A damaged frame is worth another try; anything else is the
                # board's final word.
                if reply.code not in FRAME_ERRORS:
                    raise BoardError(reply)
                last_error = reply
            elif reply is not None:
                return reply
        if last_error is not None:
            raise BoardError(last_error)
        raise self._timeout_error(request, timeout, retries + 1)

    def _await_reply(self, request: _Request, deadline: float) -> Message | None:
        """The reply to `request`, or None when it is lost or damaged."""
        while (item := self._next_item(deadline)) is not None:
            if isinstance(item, FrameError):
                self.stats.damaged_received += 1
                if self._synced:
                    return None  # most likely our reply: ask again
                continue  # before the first good frame, garbage is a boot log
            reply = self._reply_of(item)
            if reply is None:
                continue
            if item.seq == request.seq and _answers(reply, request.message):
                return reply
            # Errors about damaged frames with another seq are stale (noise we
            # or others sent earlier): acting on them could use up the retries.
            self.stats.stale_replies += 1
        return None

    # ---- the upload window -----------------------------------------------------

    def _ask_for_ack(self) -> None:
        """The newest pending LOAD is quiet, and nothing may follow it: send an
        empty LOAD just after it, which asks for the ACK that covers them all
        (a board that did not get the LOADs before it refuses it: SEQUENCE)."""
        while len(self._pending) >= self._window_size:
            self._advance_window()
        if not self._pending or self._pending[-1].asks:
            return  # a go-back or an error has changed what is pending
        newest = self._pending[-1]
        self._send_load(newest.total_len, newest.offset + len(newest.data), b"", asks=True)

    def _send_load(self, total_len: int, offset: int, data: bytes, asks: bool) -> None:
        """Sends a LOAD (quiet unless it `asks` for an ACK) as soon as the
        window has room for it. The upload buffer must have room for its data."""
        if len(self._pending) >= self._window_size:
            self._make_room()
        seq, begin_seq = self._take_seq(offset == 0)
        self._quiet_run = 0 if asks else self._quiet_run + 1
        msg_type = MsgType.LOAD if asks else MsgType.LOAD_QUIET
        wire = encode_frame(msg_type, seq, LOAD_HEADER.pack(total_len, offset), data)
        self._transmit([DELIMITER, wire], 1, again=False)
        self._pending.append(_LoadSent(seq, begin_seq, total_len, offset, data, len(wire), asks))
        if len(self._pending) == 1:
            self._restart_pending_timer()

    def _make_room(self) -> None:
        """Waits until the window has room for one more frame. Takes every
        acknowledgement already here, not just the one that frees a slot:
        the board sent them all in one go."""
        self._advance_window()
        while self._pending and self._item_waiting():
            self._advance_window()
        while len(self._pending) >= self._window_size:
            self._advance_window()

    def _restart_pending_timer(self) -> None:
        wire = sum(r.wire_len for r in self._pending)
        self._pending_deadline = time.monotonic() + self.timeout + self._wire_seconds(wire)

    def _advance_window(self) -> None:
        """Takes one event from the board: the oldest frames acknowledged, a
        loss detected (then goes back), or a stale or damaged frame."""
        item = self._next_item(self._pending_deadline)
        if item is None:
            self._go_back()
            return
        if isinstance(item, FrameError):
            # A lost reply shows as a later reply arriving first, or a timeout.
            self.stats.damaged_received += 1
            return
        reply = self._reply_of(item)
        if reply is None:
            return
        if isinstance(reply, Ack) and reply.session != self._session:
            self._pending.clear()
            raise self._restarted(reply, item.seq)
        index = self._pending_index(item.seq, reply)
        if index is None:
            self.stats.stale_replies += 1
        elif isinstance(reply, ErrorReply):
            if reply.code in FRAME_ERRORS or reply.code == ErrorCode.SEQUENCE:
                self._pending_error = reply
                self._go_back()
            else:
                self._pending.clear()
                raise BoardError(reply)
        elif index != self._first_acked() or reply.begin_seq != self._pending[index].begin_seq:
            # The board answers in order, so an earlier ACK was lost; or the
            # upload's first LOAD was, and the board took the rest as part of
            # an older upload.
            self._go_back()
        else:
            self._acknowledge(index)

    def _restarted(self, reply: Ack, seq: int) -> BoardRestarted:
        if reply.session == 0:
            what = "has restarted since the handshake"
        else:
            what = "has answered another handshake (from another host?) since this one"
        return BoardRestarted(
            f"the board {what}: its ACK to seq {seq} names session {reply.session:#010x}, "
            f"not {self._session:#010x}, and the upload in progress is lost"
        )

    def _first_acked(self) -> int | None:
        """The index of the oldest pending frame that asked for an ACK."""
        return next((k for k, r in enumerate(self._pending) if r.asks), None)

    def _acknowledge(self, index: int) -> None:
        """Pending frames up to `index` are acknowledged: the oldest makes progress."""
        for _ in range(index + 1):
            self._pending.popleft()
        self._go_backs = 0
        self._pending_error = None
        self._restart_pending_timer()

    def _pending_index(self, seq: int, reply: Message) -> int | None:
        """Which pending frame `reply` answers: the oldest asking for an ACK, mostly."""
        oldest = self._pending[0]
        if oldest.seq == seq and _answers(reply, oldest.message):
            return 0
        return next(
            (k for k, r in enumerate(self._pending) if r.seq == seq and _answers(reply, r.message)),
            None,
        )

    def _go_back(self) -> None:
        """Resends every unacknowledged frame, under new seqs."""
        self._go_backs += 1
        if self._go_backs > self.retries:
            oldest, error = self._pending[0], self._pending_error
            self._pending.clear()
            self._go_backs = 0
            if error is not None:
                raise BoardError(error)
            raise self._timeout_error(oldest, self.timeout, self.retries + 1)
        # An upload that a later one supersedes need not complete: resend
        # from the last LOAD at offset 0, which the rest of its upload follows.
        starts = [k for k, r in enumerate(self._pending) if r.offset == 0]
        resent, wires = deque(), []
        for sent in list(self._pending)[starts[-1] if starts else 0 :]:
            record, wire = self._renumbered(sent)
            resent.append(record)
            wires.append(wire)
        self._pending = resent
        self._send(wires, again=True)
        self._restart_pending_timer()

    def _renumbered(self, sent: _LoadSent) -> tuple[_LoadSent, bytes]:
        """A pending LOAD under the next seq, to be sent again, and its frame."""
        seq, begin_seq = self._take_seq(sent.offset == 0)
        wire = encode_message(sent.message, seq)
        return sent._replace(seq=seq, begin_seq=begin_seq, wire_len=len(wire)), wire

    # ---- the byte stream -----------------------------------------------------

    def _require_info(self) -> Info:
        return self.info if self.info is not None else self.hello()

    def _run_timeout(self, count: int) -> float:
        if self._invoke_seconds is None:
            return self.invoke_timeout
        return self.timeout + 2.0 * count * self._invoke_seconds

    def _restart_stream(self) -> None:
        """Forgets everything received so far (stale replies, a boot log) and
        any upload in flight."""
        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError) as error:
            raise PortError(f"the port failed: {error}") from error
        self._decoder = FrameDecoder()
        self._inbox.clear()
        self._pending.clear()
        self._go_backs = 0
        self._quiet_run = 0
        self._synced = False

    def _prepare(self, message: Message) -> tuple[_Request, bytes]:
        """The request's record, under the next seq, and its frame."""
        seq, _ = self._take_seq(starts_upload=False)
        wire = encode_message(message, seq)
        return _Request(message, seq, len(wire)), wire

    def _take_seq(self, starts_upload: bool) -> tuple[int, int]:
        """The next seq, and the seq of the upload the frame belongs to (its
        own, for the LOAD at offset 0 that `starts_upload`)."""
        seq = self._seq
        self._seq = (seq + 1) & 0xFF
        if starts_upload:
            self._begin_seq = seq
        return seq, self._begin_seq

    def _send(self, wires: Sequence[bytes], again: bool) -> None:
        # The leading delimiter ends any partial frame noise left in the
        # board's decoder, which would otherwise swallow our first frame.
        self._transmit([DELIMITER, *wires], len(wires), again)

    def _transmit(self, buffers: list, frames: int, again: bool) -> None:
        """Writes `frames` frames, in `buffers`, the first preceded by 0x00."""
        data = b"".join(buffers)
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as error:
            raise PortError(f"writing to the port failed: {error}") from error
        written = len(data)
        self.stats.frames_sent += frames
        self.stats.bytes_sent += written
        if again:
            self.stats.retransmissions += frames

    def _next_item(self, deadline: float) -> Frame | FrameError | None:
        """The next decoded frame or damaged frame from the board, or None at
        the deadline."""
        while not self._inbox:
            data = self._read(deadline)
            if not data:
                if time.monotonic() >= deadline:
                    return None
                continue
            self._capture.add(data)
            self._inbox.extend(self._decoder.feed(data))
        return self._inbox.popleft()

    def _item_waiting(self) -> bool:
        """Whether the board has sent something that has not been taken yet."""
        try:
            return bool(self._inbox) or self.port.in_waiting > 0
        except (serial.SerialException, OSError) as error:
            raise PortError(f"the port failed: {error}") from error

    def _reply_of(self, frame: Frame) -> Message | None:
        """The reply in a valid frame; None for our own request echoed back."""
        self._synced = True
        self._capture.frames += 1
        if frame.type in REQUESTS:
            self._echo_seen = True  # our own request came back: a loopback
            return None
        try:
            return parse_message(frame)
        except ProtocolError as error:
            raise ProtocolError(f"the board sent a frame this edgemb cannot read: {error}") from error

    def _read(self, deadline: float) -> bytes:
        if time.monotonic() >= deadline:
            return b""
        try:
            data = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as error:
            raise PortError(f"reading from the port failed: {error}") from error
        self.stats.bytes_received += len(data)
        return data

    def _wire_seconds(self, nbytes: int) -> float:
        """Time to shift nbytes out at the port's baud rate (10 bits a byte)."""
        baudrate = getattr(self.port, "baudrate", None)
        return nbytes * 10 / baudrate if isinstance(baudrate, int) and baudrate > 0 else 0.0

    def _timeout_error(self, request: _Request | _LoadSent, timeout: float, attempts: int) -> LinkTimeout:
        capture = self._capture
        name = type(request.message).TYPE.name
        lines = [
            f"no reply from the board to {name} (seq {request.seq}) within {timeout:g} s, "
            f"{attempts} attempt(s).",
            f"  sent {len(request.wire)} bytes: {_preview(request.wire)}",
        ]
        if capture.count == 0:
            lines.append("  received: nothing.")
            lines.append(
                "  Is an edgemb board on this port, powered and running its firmware? "
                "A board that is booting or in its bootloader does not answer."
            )
        else:
            lines.append(f"  received {capture.count} bytes: {_preview(capture.head)}")
            if self._echo_seen:
                lines.append("  The port sends back what we write: a loopback, not a board.")
            elif capture.frames == 0:
                lines.append(
                    "  None of it was an edgemb frame: a wrong baud rate, other firmware, "
                    "or log output on the protocol UART."
                )
        return LinkTimeout("\n".join(lines))


def _answers(reply: Message, request: Message) -> bool:
    """Whether `reply` is an answer to `request` (and not a stale one to an
    earlier request that happened to have the same seq)."""
    if isinstance(reply, ErrorReply):
        return reply.request_type == request.TYPE or reply.code in FRAME_ERRORS
    if reply.TYPE != EXPECTED_REPLY.get(request.TYPE):
        return False  # (a quiet LOAD expects no reply)
    if isinstance(reply, Ack) and isinstance(request, Load):
        return (reply.offset, reply.length) == (request.offset, len(request.data))
    return True


__all__ = ["BoardClient", "LinkStats", "Info", "Result", "BenchResult", "OpTimes"]

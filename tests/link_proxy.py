"""A man in the middle for link tests: sits between a client and a board's
serial port, on a pseudo-terminal of its own, and lets a test corrupt, drop or
inject whole frames in either direction."""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable

from edgemb.link.errors import FrameError
from edgemb.link.frames import cobs_decode, cobs_encode
from edgemb.link.messages import MsgType

# A hook gets one frame as sent (delimiter included) and returns what to
# forward instead: the same bytes, altered bytes, or b"" to drop it.
Hook = Callable[[bytes], bytes]


def frame_type(wire: bytes) -> int | None:
    """The message type of a wire frame, or None for padding or garbage."""
    try:
        body = cobs_decode(wire[:-1])
    except FrameError:
        return None
    return body[0] if body else None


def flip_crc_bit(wire: bytes) -> bytes:
    """The frame with one bit of its CRC flipped and COBS re-applied: the
    receiver sees a well-formed frame with a bad CRC, type and seq intact."""
    body = bytearray(cobs_decode(wire[:-1]))
    body[-1] ^= 0x01
    return cobs_encode(bytes(body)) + b"\x00"


def load_offset(wire: bytes) -> int | None:
    """The offset of a LOAD or quiet LOAD on the wire; None for other frames."""
    try:
        body = cobs_decode(wire[:-1])
    except FrameError:
        return None
    if len(body) < 14 or body[0] not in (MsgType.LOAD, MsgType.LOAD_QUIET):
        return None
    return int.from_bytes(body[6:10], "little")  # after type, seq and total_len


class OnceWhen:
    """A hook that applies `action` to the nth frame that `match` accepts only."""

    def __init__(self, match: Callable[[bytes], bool], action: Hook, nth: int = 1):
        self.match, self.action, self.nth = match, action, nth
        self.seen, self.done = 0, False

    def __call__(self, wire: bytes) -> bytes:
        if self.done or not self.match(wire):
            return wire
        self.seen += 1
        if self.seen < self.nth:
            return wire
        self.done = True
        return self.action(wire)


class OnceForType(OnceWhen):
    """A hook that applies `action` to the nth frame of a given type only."""

    def __init__(self, msg_type: int, action: Hook, nth: int = 1):
        super().__init__(lambda wire: frame_type(wire) == msg_type, action, nth)


class _Direction:
    """Splits one direction's byte stream into frames and passes each through a hook."""

    def __init__(self, source: int, sink: int, hook: Hook | None):
        self.source, self.sink, self.hook = source, sink, hook
        self.pending = bytearray()
        self.frames: list[bytes] = []  # as received, before the hook

    def pump(self) -> None:
        data = os.read(self.source, 65536)
        self.pending += data
        while (end := self.pending.find(0)) >= 0:
            wire = bytes(self.pending[: end + 1])
            del self.pending[: end + 1]
            self.frames.append(wire)
            out = self.hook(wire) if self.hook else wire
            if out:
                os.write(self.sink, out)


class LinkProxy:
    """`port` is the path a client opens; bytes go to and from `board_port`."""

    def __init__(self, board_port: str, *, to_board: Hook | None = None,
                 to_host: Hook | None = None):
        self._board = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._board)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.upstream = _Direction(self._master, self._board, to_board)
        self.downstream = _Direction(self._board, self._master, to_host)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        by_fd = {self._master: self.upstream, self._board: self.downstream}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(by_fd), [], [], 0.05)
            for fd in ready:
                try:
                    by_fd[fd].pump()
                except OSError:  # one side went away
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._board, self._master, self._slave):
            os.close(fd)

    def __enter__(self) -> LinkProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

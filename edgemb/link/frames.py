"""Frames on the wire (docs/protocol.md, "Framing").

A frame is [type u8][seq u8][payload][CRC-32 u32 LE], COBS-encoded and followed
by one 0x00 delimiter. COBS removes every 0x00 from the frame, so a receiver
that lost its place resynchronises at the next 0x00, whatever came before.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

from edgemb.link.errors import BadCrcError, BadFrameError, FrameError, FrameTooLongError

DELIMITER = b"\x00"
HEADER_BYTES = 2  # type, seq
CRC_BYTES = 4
OVERHEAD_BYTES = HEADER_BYTES + CRC_BYTES
# The host's own limit on a decoded frame: far above any reply (an output
# tensor), low enough that a stream of garbage cannot eat the memory.
MAX_FRAME_BYTES = 1 << 22
_COBS_FULL_BLOCK = 254  # data bytes in a block whose code is 0xFF
_RAW_KEEP = 64  # encoded bytes kept in a FrameError, for messages


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (zlib, Ethernet): check value 0xCBF43926 for b"123456789"."""
    return zlib.crc32(data)


_CODE_BYTES = [bytes((code,)) for code in range(256)]

def cobs_encode(data: bytes) -> bytes:
    """Consistent-overhead byte stuffing: at most one extra byte per 254.

    Written for speed in CPython: the data is cut at its zeros by
    bytes.split, and long zero-free runs become 0xFF blocks through one join,
    so the Python loop runs once per zero, not once per byte or block."""
    out: list[bytes] = []
    parts = bytes(data).split(b"\x00")
    last = len(parts) - 1
    for index, part in enumerate(parts):
        n = len(part)
        if n >= _COBS_FULL_BLOCK:
            full = n - n % _COBS_FULL_BLOCK
            blocks = [part[i : i + _COBS_FULL_BLOCK] for i in range(0, full, _COBS_FULL_BLOCK)]
            out.append(b"\xff")
            out.append(b"\xff".join(blocks))
            # Data that ends exactly on a full block needs no final empty block.
            if index == last and full == n:
                break
            part, n = part[full:], n - full
        out.append(_CODE_BYTES[n + 1])
        out.append(part)
    return b"".join(out)


def cobs_decode(encoded: bytes) -> bytes:
    """Inverse of cobs_encode; raises BadFrameError on input it cannot have made."""
    out = bytearray()
    i, n = 0, len(encoded)
    while i < n:
        code = encoded[i]
        if code == 0:
            raise BadFrameError("0x00 inside a COBS frame", bytes(encoded[:_RAW_KEEP]))
        end = i + code
        if end > n:
            raise BadFrameError(
                f"COBS block at byte {i} needs {code - 1} data bytes, {n - i - 1} left",
                bytes(encoded[:_RAW_KEEP]),
            )
        out += encoded[i + 1 : end]
        i = end
        # Each block but a full one stands for "data, then a zero", except the
        # last block of the frame, whose zero was never there.
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


class Frame(NamedTuple):
    # A tuple, not a dataclass: a fast upload receives thousands of ACKs a
    # second, and a tuple is several times cheaper to make.
    type: int
    seq: int
    payload: bytes = b""


def frame_body(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """The decoded frame: header, payload and CRC, before COBS."""
    body = bytes((msg_type, seq)) + bytes(payload)
    return body + crc32(body).to_bytes(CRC_BYTES, "little")


def encode_frame(msg_type: int, seq: int, payload: bytes = b"", tail: bytes = b"") -> bytes:
    """The bytes on the wire, delimiter included. The frame's payload is
    payload followed by tail (a message's header and its data)."""
    if not (0 <= msg_type <= 0xFF and 0 <= seq <= 0xFF):
        raise ValueError(f"type {msg_type} and seq {seq} must each fit in a byte")
    return cobs_encode(frame_body(msg_type, seq, bytes(payload) + bytes(tail))) + DELIMITER


def max_encoded_bytes(payload_len: int) -> int:
    """The most bytes a frame with this much payload takes on the wire,
    delimiter included: COBS adds one byte per 254 and one more."""
    body = payload_len + OVERHEAD_BYTES
    return body + body // _COBS_FULL_BLOCK + 2


def decode_frame(encoded: bytes, max_frame_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """One frame from its encoded bytes (without the delimiter); raises a
    FrameError that says what is wrong with it."""
    raw = bytes(encoded[:_RAW_KEEP])
    body = cobs_decode(encoded)
    if len(body) > max_frame_bytes:
        raise FrameTooLongError(f"frame of {len(body)} bytes, limit {max_frame_bytes}", raw)
    if len(body) < OVERHEAD_BYTES:
        raise BadFrameError(
            f"frame of {len(body)} bytes, shorter than header and CRC ({OVERHEAD_BYTES})", raw
        )
    data, crc = body[:-CRC_BYTES], int.from_bytes(body[-CRC_BYTES:], "little")
    if crc32(data) != crc:
        raise BadCrcError(f"CRC 0x{crc:08x} does not match 0x{crc32(data):08x}", raw)
    return Frame(data[0], data[1], data[HEADER_BYTES:])


class FrameDecoder:
    """Streaming decoder: feed it bytes as they come, get frames and errors out.

    Errors are returned, not raised, because a damaged frame is an event on a
    stream that goes on. Bytes before the first delimiter are noise (a boot
    log) and come out as errors too.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES):
        self.max_frame_bytes = max_frame_bytes
        # COBS adds one byte per 254, and the delimiter is not stored.
        self._max_encoded = max_frame_bytes + max_frame_bytes // _COBS_FULL_BLOCK + 1
        self._pending = bytearray()
        self._overflow = False

    @property
    def idle(self) -> bool:
        """Between frames: no bytes of a frame held."""
        return not self._pending and not self._overflow

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        items: list[Frame | FrameError] = []
        start = 0
        while True:
            end = data.find(0, start)
            if end < 0:
                self._hold(data[start:])
                return items
            self._hold(data[start:end])
            item = self._finish()
            if item is not None:
                items.append(item)
            start = end + 1

    def _hold(self, chunk: bytes) -> None:
        if self._overflow:
            return
        self._pending += chunk
        if len(self._pending) > self._max_encoded:
            # Keep the head for the error message and drop the rest.
            del self._pending[_RAW_KEEP:]
            self._overflow = True

    def _finish(self) -> Frame | FrameError | None:
        encoded, overflow = bytes(self._pending), self._overflow
        self._pending.clear()
        self._overflow = False
        if overflow:
            return FrameTooLongError(f"more than {self._max_encoded} bytes without a delimiter", encoded)
        if not encoded:
            return None  # back-to-back delimiters: padding, not a frame
        try:
            return decode_frame(encoded, self.max_frame_bytes)
        except FrameError as error:
            return error

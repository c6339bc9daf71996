"""Messages of the edgemb serial protocol (docs/protocol.md, "Messages").

Every message is a frozen dataclass with its wire type (TYPE), `pack()` for its
payload and `unpack(payload)` to read one. All integers are little-endian.
"""

from __future__ import annotations

import dataclasses
import struct
from enum import IntEnum
from typing import Any, ClassVar

from edgemb.link.errors import MessageError
from edgemb.link.frames import Frame, encode_frame

PROTOCOL_VERSION = 3


class MsgType(IntEnum):
    HELLO = 0x01
    LOAD = 0x02
    INVOKE = 0x04
    BENCH = 0x05
    OP_TIMES = 0x06
    LOAD_QUIET = 0x42  # LOAD, answered only when refused
    INFO = 0x81
    ACK = 0x82
    RESULT = 0x84
    BENCH_RESULT = 0x85
    OP_TIMES_RESULT = 0x86
    ERROR = 0xFF


class ErrorCode(IntEnum):
    BAD_CRC = 0x01
    BAD_FRAME = 0x02
    TOO_LONG = 0x03
    UNKNOWN_TYPE = 0x04
    BAD_LENGTH = 0x05
    INPUT_SIZE = 0x06
    SEQUENCE = 0x07
    OUT_OF_RANGE = 0x08
    NO_INPUT = 0x09
    INVOKE_FAILED = 0x0A
    BAD_ARGUMENT = 0x0B
    NOT_READY = 0x0C
    NO_RESULT = 0x0D


# What each code means, and what its detail field holds.
ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.BAD_CRC: "a frame reached the board corrupted (CRC mismatch)",
    ErrorCode.BAD_FRAME: "a frame reached the board malformed (broken COBS or too short)",
    ErrorCode.TOO_LONG: "a frame exceeded the board's maximum payload of {detail} bytes",
    ErrorCode.UNKNOWN_TYPE: "the board does not know message type 0x{detail:02x}",
    ErrorCode.BAD_LENGTH: "wrong payload length for this message; expected {detail} bytes",
    ErrorCode.INPUT_SIZE: "wrong input size: the board's model takes {detail} bytes",
    ErrorCode.SEQUENCE: "out of order: a LOAD past offset 0 with no upload started, or "
    "leaving a gap; the board has {detail} bytes",
    ErrorCode.OUT_OF_RANGE: "LOAD runs past the end of the {detail}-byte input",
    ErrorCode.NO_INPUT: "no complete input loaded (the board has {detail} bytes)",
    ErrorCode.INVOKE_FAILED: "the model runner failed with code {detail}",
    ErrorCode.BAD_ARGUMENT: "invalid argument (detail {detail})",
    ErrorCode.NOT_READY: "the board cannot run its model (status {detail}: see INFO)",
    ErrorCode.NO_RESULT: "no inference has run yet",
}

# Errors about the frame rather than the request: the board did not act on it,
# so sending it again is always safe.
FRAME_ERRORS = frozenset({ErrorCode.BAD_CRC, ErrorCode.BAD_FRAME, ErrorCode.TOO_LONG})


class BoardStatus(IntEnum):
    READY = 0
    RUNNER_INIT_FAILED = 1
    INPUT_TOO_BIG = 2
    OUTPUT_TOO_BIG = 3


class TickKind(IntEnum):
    TIMER = 0  # a plain timer
    CYCLES = 1  # CPU cycles
    ICOUNT = 2  # emulator ticks (QEMU -icount): instructions, not cycles


# TFLite TensorType codes the firmware may report.
TENSOR_TYPE_NAMES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    9: "int8",
    7: "int16",
}


class _Reader:
    """Reads little-endian fields off a payload, with errors that say where."""

    def __init__(self, payload: bytes, what: str):
        self.payload, self.what, self.pos = bytes(payload), what, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.payload):
            raise MessageError(
                f"{self.what}: payload of {len(self.payload)} bytes ends at byte {self.pos}, {n} more needed"
            )
        chunk = self.payload[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (n,) = self.unpack("B")
        return self.take(n).decode("utf-8", errors="replace")

    def rest(self) -> bytes:
        return self.take(len(self.payload) - self.pos)

    def left(self) -> int:
        return len(self.payload) - self.pos

    def done(self) -> None:
        if self.pos != len(self.payload):
            raise MessageError(
                f"{self.what}: {len(self.payload) - self.pos} bytes too many after byte {self.pos}"
            )


def _string(text: str) -> bytes:
    data = text.encode("utf-8")[:255]
    return bytes((len(data),)) + data


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    type: int
    dims: tuple[int, ...]
    scale: float
    zero_point: int
    bytes: int

    @property
    def type_name(self) -> str:
        return TENSOR_TYPE_NAMES.get(self.type, f"type {self.type}")

    def pack(self) -> bytes:
        return (
            struct.pack("<BB", self.type, len(self.dims))
            + struct.pack(f"<{len(self.dims)}I", *self.dims)
            + struct.pack("<fiI", self.scale, self.zero_point, self.bytes)
        )

    @classmethod
    def read(cls, r: _Reader) -> TensorInfo:
        tensor_type, ndims = r.unpack("BB")
        dims = r.unpack(f"{ndims}I")
        scale, zero_point, nbytes = r.unpack("fiI")
        return cls(tensor_type, tuple(dims), scale, zero_point, nbytes)


class Message:
    """Base of all messages: TYPE, pack(), unpack()."""

    TYPE: ClassVar[MsgType]

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, payload: bytes):
        _Reader(payload, cls.TYPE.name).done()
        return cls()


def _fixed(fmt: str):
    """Class decorator for messages that are a fixed struct of their fields, in order."""

    layout = struct.Struct("<" + fmt)

    def decorate(cls):
        names = [field.name for field in dataclasses.fields(cls)]

        def pack(self) -> bytes:
            return layout.pack(*(getattr(self, name) for name in names))

        def unpack(klass, payload: bytes):
            if len(payload) == layout.size:  # the common case, and the fast one (ACKs)
                return klass(*layout.unpack(payload))
            r = _Reader(payload, klass.TYPE.name)  # says what is wrong with it
            values = r.unpack(fmt)
            r.done()
            return klass(*values)

        cls.LAYOUT = layout  # the payload's struct, for callers that pack fields directly
        cls.pack = pack
        cls.unpack = classmethod(unpack)
        return cls

    return decorate


# ---- Requests -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hello(Message):
    """The handshake. `session` is the host's number for it, which every ACK
    repeats until the next HELLO: 0 in an ACK means the board has restarted."""

    TYPE: ClassVar = MsgType.HELLO
    version: int = PROTOCOL_VERSION
    session: int = 0

    def pack(self) -> bytes:
        return struct.pack("<HI", self.version, self.session)

    @classmethod
    def unpack(cls, payload: bytes) -> Hello:
        # Later versions may append fields: read what this version knows. A
        # host before version 3 sent no session.
        r = _Reader(payload, cls.TYPE.name)
        (version,) = r.unpack("H")
        (session,) = r.unpack("I") if len(payload) >= 6 else (0,)
        return cls(version, session)


# A LOAD's payload begins with total_len and offset, then the data.
LOAD_HEADER = struct.Struct("<II")


@dataclasses.dataclass(frozen=True)
class Load(Message):
    """Part of an input tensor: `data` at `offset` of a `total_len`-byte input.
    A LOAD at offset 0 starts a new upload."""

    TYPE: ClassVar = MsgType.LOAD
    HEADER_BYTES: ClassVar = LOAD_HEADER.size  # total_len and offset, before the data
    total_len: int
    offset: int
    data: bytes

    def header(self) -> bytes:
        return LOAD_HEADER.pack(self.total_len, self.offset)

    def pack(self) -> bytes:
        return self.header() + bytes(self.data)

    @classmethod
    def unpack(cls, payload: bytes) -> Load:
        r = _Reader(payload, cls.TYPE.name)
        total_len, offset = r.unpack("II")
        return cls(total_len, offset, r.rest())


@dataclasses.dataclass(frozen=True)
class LoadQuiet(Load):
    """A LOAD that the board answers only to refuse it. The ACK to the next
    LOAD that is not quiet covers it, since the board answers in order."""

    TYPE: ClassVar = MsgType.LOAD_QUIET


@dataclasses.dataclass(frozen=True)
class Invoke(Message):
    TYPE: ClassVar = MsgType.INVOKE


@_fixed("H")
@dataclasses.dataclass(frozen=True)
class Bench(Message):
    TYPE: ClassVar = MsgType.BENCH
    count: int


@dataclasses.dataclass(frozen=True)
class OpTimesRequest(Message):
    TYPE: ClassVar = MsgType.OP_TIMES


# ---- Replies --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Info(Message):
    """The board's answer to HELLO: what it is and what model it runs."""

    TYPE: ClassVar = MsgType.INFO
    protocol_version: int
    status: int
    status_detail: int
    max_payload: int
    window: int
    cpu_hz: int
    tick_hz: int
    tick_kind: int
    arena_bytes: int
    op_count: int
    num_labels: int
    fingerprint: bytes
    input: TensorInfo
    output: TensorInfo
    target: str
    runtime: str
    runtime_version: str
    # Appended within version 3; 0 from a board built before them, and where
    # they do not apply: the arena a runtime asked its heap for, and the
    # largest free blocks of internal and external RAM before it did.
    arena_request: int = 0
    largest_free_internal: int = 0
    largest_free_psram: int = 0

    _HEAD: ClassVar[str] = "HBiIHIIBIHH32s"
    _HEAP: ClassVar[str] = "III"

    @property
    def ready(self) -> bool:
        return self.status == BoardStatus.READY

    def pack(self) -> bytes:
        head = struct.pack(
            "<" + self._HEAD,
            self.protocol_version,
            self.status,
            self.status_detail,
            self.max_payload,
            self.window,
            self.cpu_hz,
            self.tick_hz,
            self.tick_kind,
            self.arena_bytes,
            self.op_count,
            self.num_labels,
            self.fingerprint,
        )
        return (
            head
            + self.input.pack()
            + self.output.pack()
            + _string(self.target)
            + _string(self.runtime)
            + _string(self.runtime_version)
            + struct.pack("<" + self._HEAP, self.arena_request, self.largest_free_internal,
                          self.largest_free_psram)
        )

    @classmethod
    def unpack(cls, payload: bytes) -> Info:
        r = _Reader(payload, cls.TYPE.name)
        head = r.unpack(cls._HEAD)
        tensors = TensorInfo.read(r), TensorInfo.read(r)
        strings = r.string(), r.string(), r.string()
        # The heap fields are absent from a board built before them.
        heap = r.unpack(cls._HEAP) if r.left() >= struct.calcsize("<" + cls._HEAP) else ()
        # Later versions may append fields: ignore what follows.
        return cls(*head, *tensors, *strings, *heap)


@_fixed("IIBI")
@dataclasses.dataclass(frozen=True)
class Ack(Message):
    """Acknowledges a LOAD and every quiet LOAD before it. begin_seq is the
    seq of the LOAD at offset 0 that started the upload, so the host can tell
    that none was lost on the way, leaving the board in an older upload;
    session is the last HELLO's, so the host can tell that the board has not
    restarted since (it would be 0)."""

    TYPE: ClassVar = MsgType.ACK
    offset: int
    length: int
    begin_seq: int
    session: int


@dataclasses.dataclass(frozen=True)
class Result(Message):
    TYPE: ClassVar = MsgType.RESULT
    time_us: int
    ticks: int
    output: bytes

    def pack(self) -> bytes:
        return struct.pack("<III", self.time_us, self.ticks, len(self.output)) + bytes(self.output)

    @classmethod
    def unpack(cls, payload: bytes) -> Result:
        r = _Reader(payload, cls.TYPE.name)
        time_us, ticks, n = r.unpack("III")
        output = r.take(n)
        r.done()
        return cls(time_us, ticks, output)


@_fixed("IIIIIIIQ")
@dataclasses.dataclass(frozen=True)
class BenchResult(Message):
    TYPE: ClassVar = MsgType.BENCH_RESULT
    count: int
    min_ticks: int
    mean_ticks: int
    max_ticks: int
    min_us: int
    mean_us: int
    max_us: int
    total_ticks: int


@dataclasses.dataclass(frozen=True)
class OpTime:
    op_code: int  # TFLite BuiltinOperator
    ticks: int


@dataclasses.dataclass(frozen=True)
class OpTimes(Message):
    """Per-operator ticks of the last INVOKE; empty when the runtime has none."""

    TYPE: ClassVar = MsgType.OP_TIMES_RESULT
    ops: tuple[OpTime, ...] = ()

    def pack(self) -> bytes:
        return struct.pack("<H", len(self.ops)) + b"".join(
            struct.pack("<BI", op.op_code, op.ticks) for op in self.ops
        )

    @classmethod
    def unpack(cls, payload: bytes) -> OpTimes:
        r = _Reader(payload, cls.TYPE.name)
        (count,) = r.unpack("H")
        ops = tuple(OpTime(*r.unpack("BI")) for _ in range(count))
        r.done()
        return cls(ops)


@_fixed("BBi")
@dataclasses.dataclass(frozen=True)
class ErrorReply(Message):
    TYPE: ClassVar = MsgType.ERROR
    code: int
    request_type: int
    detail: int

    @property
    def name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"ERROR_0x{self.code:02x}"

    def describe(self) -> str:
        try:
            text = ERROR_DESCRIPTIONS[ErrorCode(self.code)].format(detail=self.detail)
        except ValueError:
            text = f"unknown error code (detail {self.detail})"
        try:
            request = MsgType(self.request_type).name
        except ValueError:
            request = f"message type 0x{self.request_type:02x}"
        return f"board error {self.name} on {request}: {text}"


REQUESTS: dict[int, type[Message]] = {
    cls.TYPE: cls for cls in (Hello, Load, LoadQuiet, Invoke, Bench, OpTimesRequest)
}
REPLIES: dict[int, type[Message]] = {
    cls.TYPE: cls for cls in (Info, Ack, Result, BenchResult, OpTimes, ErrorReply)
}
# The reply each request expects when it succeeds (ERROR may answer any; a
# quiet LOAD frame has no reply of its own).
EXPECTED_REPLY: dict[int, int] = {
    MsgType.HELLO: MsgType.INFO,
    MsgType.LOAD: MsgType.ACK,
    MsgType.INVOKE: MsgType.RESULT,
    MsgType.BENCH: MsgType.BENCH_RESULT,
    MsgType.OP_TIMES: MsgType.OP_TIMES_RESULT,
}


def encode_message(message: Message, seq: int) -> bytes:
    """The frame on the wire for a message."""
    if isinstance(message, Load):  # header and data, without joining them first
        return encode_frame(message.TYPE, seq, message.header(), message.data)
    return encode_frame(message.TYPE, seq, message.pack())


def parse_message(frame: Frame) -> Message:
    """The message in a frame; MessageError if its type or payload is unknown."""
    cls = REQUESTS.get(frame.type) or REPLIES.get(frame.type)
    if cls is None:
        raise MessageError(f"unknown message type 0x{frame.type:02x}")
    try:
        return cls.unpack(frame.payload)
    except struct.error as error:  # e.g. a value out of range for its field
        raise MessageError(f"{cls.TYPE.name}: {error}") from error


def message_fields(message: Message) -> dict[str, Any]:
    """A JSON-friendly view of a message's fields (bytes as hex strings)."""
    return _jsonable(dataclasses.asdict(message))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return value

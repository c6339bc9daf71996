"""The serial link between the host and a board (docs/protocol.md).

frames: COBS framing and CRC-32; messages: message types and layouts;
client: BoardClient, the host side; ports: opening ports and resetting boards.
"""

from edgemb.link.client import BoardClient, LinkStats
from edgemb.link.errors import (
    BoardError,
    BoardRestarted,
    FrameError,
    LinkError,
    LinkTimeout,
    MessageError,
    ModelMismatch,
    PortError,
    ProtocolError,
)
from edgemb.link.messages import (
    PROTOCOL_VERSION,
    BenchResult,
    BoardStatus,
    ErrorCode,
    Info,
    OpTime,
    OpTimes,
    Result,
    TensorInfo,
    TickKind,
)
from edgemb.link.ports import available_ports, hard_reset, open_port

__all__ = [
    "PROTOCOL_VERSION",
    "BenchResult",
    "BoardClient",
    "BoardError",
    "BoardRestarted",
    "BoardStatus",
    "ErrorCode",
    "FrameError",
    "Info",
    "LinkError",
    "LinkStats",
    "LinkTimeout",
    "MessageError",
    "ModelMismatch",
    "OpTime",
    "OpTimes",
    "PortError",
    "ProtocolError",
    "Result",
    "TensorInfo",
    "TickKind",
    "available_ports",
    "hard_reset",
    "open_port",
]

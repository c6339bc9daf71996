"""What can go wrong on the serial link, one class per thing the user must fix."""

from __future__ import annotations


class LinkError(Exception):
    """Base of every error raised by edgemb.link."""


class PortError(LinkError):
    """The serial port cannot be opened or used (busy, permission, no such device)."""


class LinkTimeout(LinkError):
    """No valid reply from the board in time; the message says what was sent and received."""


class ProtocolError(LinkError):
    """The bytes on the wire do not follow the protocol, or the board speaks another version."""


class FrameError(ProtocolError):
    """A frame that cannot be decoded; `raw` holds (the start of) its encoded bytes."""

    def __init__(self, message: str, raw: bytes = b""):
        super().__init__(message)
        self.raw = raw


class BadCrcError(FrameError):
    """A well-formed frame whose CRC does not match: corrupted in transit."""


class BadFrameError(FrameError):
    """Broken COBS, or fewer bytes than a frame's header and CRC."""


class FrameTooLongError(FrameError):
    """More bytes before a delimiter than any frame may have."""


class MessageError(ProtocolError):
    """A frame with a valid CRC whose payload does not fit its message type."""


class ModelMismatch(ProtocolError):
    """The board runs another model than the one the host compares against."""


class BoardRestarted(LinkError):
    """An ACK names another session than this host's handshake set: the board
    has restarted (session 0) or greeted another host since. What it was
    sent before is lost; a new handshake and the request again recover."""


class BoardError(LinkError):
    """The board answered with an ERROR message.

    `reply` is the edgemb.link.messages.ErrorReply; `code`, `detail` and
    `request_type` are its fields.
    """

    def __init__(self, reply):
        super().__init__(reply.describe())
        self.reply = reply
        self.code = reply.code
        self.detail = reply.detail
        self.request_type = reply.request_type

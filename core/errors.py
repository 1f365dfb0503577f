"""Errors the core raises; each carries the HTTP status and WebSocket close code that reports it."""

from __future__ import annotations


class RtbenchError(Exception):
    """Base class: a request the server refuses, with a message that says what was expected."""

    status_code = 400
    close_code = 1008
    kind = "bad_request"

    def __init__(self, message: str, *, ack: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.ack = ack
        """The `ack` of the client frame that caused it, echoed in the error reply."""


class InvalidRoom(RtbenchError):
    kind = "invalid_room"


class InvalidParameter(RtbenchError):
    kind = "invalid_parameter"


class InvalidPayload(RtbenchError):
    status_code = 422
    kind = "invalid_payload"


class PayloadTooLarge(RtbenchError):
    status_code = 413
    close_code = 1009
    kind = "payload_too_large"


class ProtocolError(RtbenchError):
    """A client frame that does not follow the wire contract."""

    kind = "protocol_error"


class RoomLimitReached(RtbenchError):
    status_code = 503
    close_code = 1013
    kind = "room_limit"


class ConfigError(RtbenchError):
    kind = "config_error"

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


class RequestTimeout(RtbenchError):
    """A request body that did not arrive in time; its connection is closed."""

    status_code = 408
    kind = "body_timeout"


class UnsupportedMediaType(RtbenchError):
    """A publish whose body is neither JSON nor bytes declared as such. A browser sends a
    cross-site `text/plain` form without asking the server first; JSON makes it ask."""

    status_code = 415
    kind = "unsupported_media_type"


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


class UnknownNamespace(RtbenchError):
    status_code = 404
    kind = "unknown_namespace"


class Unauthorized(RtbenchError):
    """No valid token: missing, malformed, forged, expired or for another audience."""

    status_code = 401
    kind = "unauthorized"

    def __init__(self, message: str, *, reason: str, ack: object = None) -> None:
        super().__init__(message, ack=ack)
        self.reason = reason
        """Short label for metrics and logs: missing, expired, bad_signature, wrong_audience…"""


class Forbidden(RtbenchError):
    """A valid token without the right for this namespace or room, or a refused Origin."""

    status_code = 403
    kind = "forbidden"

    def __init__(self, message: str, *, reason: str = "no_right", ack: object = None) -> None:
        super().__init__(message, ack=ack)
        self.reason = reason


class RateLimited(RtbenchError):
    status_code = 429
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, ack: object = None) -> None:
        super().__init__(message, ack=ack)
        self.retry_after = retry_after
        """Seconds until the bucket holds a token again (the `Retry-After` header, rounded up)."""


class TooManyConnections(RtbenchError):
    status_code = 503
    close_code = 1013
    kind = "too_many_connections"

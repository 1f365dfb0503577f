"""Decoding what publishers send, shared by the HTTP publish endpoint and WebSocket frames."""

from __future__ import annotations

from typing import Any

from core import jsonc
from core.errors import InvalidPayload, PayloadTooLarge
from core.events import JSON


def check_size(size: int, limit: int, what: str = "body") -> None:
    if size > limit:
        raise PayloadTooLarge(f"expected a {what} of at most {limit} bytes, got {size}")


def loads_object(raw: bytes | str, what: str) -> dict[str, Any]:
    """Parse `raw` as a JSON object, or raise InvalidPayload naming what was wrong."""
    try:
        value = jsonc.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"expected {what} as a JSON object, got invalid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidPayload(f"expected {what} as a JSON object, got {type(value).__name__}")
    return value


def parse_publish_body(body: bytes, limit: int) -> JSON:
    """Return the `data` of a publish body `{"data": <json>}`."""
    check_size(len(body), limit)
    message = loads_object(body, 'the body {"data": <json>}')
    if "data" not in message:
        keys = ", ".join(sorted(message)) or "no keys"
        raise InvalidPayload(f'expected the body {{"data": <json>}}, got an object with {keys}')
    return message["data"]

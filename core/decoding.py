"""Decoding what publishers send, shared by the HTTP publish endpoint and WebSocket frames."""

from __future__ import annotations

from typing import Any

from core import jsonc
from core.errors import InvalidPayload, PayloadTooLarge, UnsupportedMediaType
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
    except RecursionError:
        raise InvalidPayload(
            f"expected {what} as a JSON object, got JSON nested too deep"
        ) from None
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


BINARY_MEDIA_TYPE = "application/octet-stream"
"""A publish body of this type is the event's data itself, as bytes: a binary event."""


JSON_MEDIA_TYPE = "application/json"


def parse_publish(body: bytes, content_type: str | None, limit: int) -> JSON | bytes:
    """The data of a publish request: JSON `{"data": ...}`, or raw bytes for a binary body.
    Any other media type is refused: a page of another site can POST `text/plain` without a
    CORS preflight, never `application/json`."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == BINARY_MEDIA_TYPE:
        check_size(len(body), limit)
        return bytes(body)
    if media_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"expected content-type {JSON_MEDIA_TYPE} or {BINARY_MEDIA_TYPE}, got "
            f"{(content_type or 'none')[:60]!r}"
        )
    return parse_publish_body(body, limit)


def check_depth(value: JSON, limit: int) -> None:
    """Refuse data nested deeper than `limit` arrays/objects (walked without recursion)."""
    stack: list[tuple[JSON, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise InvalidPayload(f"expected data nested at most {limit} deep, got deeper")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def filter_keys(data: JSON, allowed: tuple[str, ...], extra: str) -> JSON:
    """A namespace's schema hook: data must be an object with keys among `allowed`; other keys
    are refused (`extra="reject"`) or removed before broadcast (`extra="strip"`)."""
    if not allowed:
        return data
    if not isinstance(data, dict):
        raise InvalidPayload(
            f"expected data as an object with keys among {list(allowed)}, got {type(data).__name__}"
        )
    unknown = [key for key in data if key not in allowed]
    if not unknown:
        return data
    if extra == "strip":
        return {key: value for key, value in data.items() if key in allowed}
    raise InvalidPayload(f"expected data keys among {list(allowed)}, got also {unknown[:5]}")

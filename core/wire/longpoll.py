"""Long-poll responses: `{"events": [...], "next": <id>, "gap"?: {...}}`.

The server joins each event's pre-encoded JSON instead of re-serialising it per poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import jsonc
from core.errors import ProtocolError
from core.events import Event, Gap, delivery_from_json, dump_json


def encode_response(events: list[Event], next_id: int, gap: Gap | None = None) -> bytes:
    parts = [b'{"events":[', b",".join(e.json for e in events), b'],"next":%d' % next_id]
    if gap is not None:
        parts.append(b',"gap":' + dump_json(gap.as_json()["gap"]))
        if gap.reset:
            parts.append(b',"reset":true')
    parts.append(b"}")
    return b"".join(parts)


def event_response(event: Event) -> bytes:
    """The body answering a held poll with this one event: the same for every subscriber, so
    built once."""
    body = event.frames.get("poll")
    if body is None:
        body = event.frames["poll"] = encode_response([event], event.id)
    assert isinstance(body, bytes)
    return body


@dataclass(slots=True)
class PollResponse:
    events: list[Event]
    next: int
    gap: Gap | None = None


def decode_response(body: bytes | str, room: str = "") -> PollResponse:
    try:
        message = jsonc.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"expected a JSON poll response, got {body!r:.200}") from exc
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("events"), list)
        or not isinstance(message.get("next"), int)
    ):
        raise ProtocolError(f'expected {{"events": [...], "next": <id>}}, got {message!r:.200}')
    events: list[Event] = []
    for item in message["events"]:
        event = delivery_from_json(item)
        if not isinstance(event, Event):
            raise ProtocolError(f"expected only events in 'events', got {item!r:.200}")
        events.append(event)
    gap = None
    if "gap" in message:
        notice = delivery_from_json(
            {"gap": message["gap"], "room": room, "reset": message.get("reset") is True}
        )
        assert isinstance(notice, Gap)
        gap = notice
    return PollResponse(events, message["next"], gap)


@dataclass(slots=True)
class PollResponseParser:
    """Sans-I/O reader for one poll response body arriving in arbitrary chunks."""

    room: str = ""
    limit: int = 64 * 1024 * 1024
    _chunks: list[bytes] = field(default_factory=list)
    _size: int = 0

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.limit:
            raise ProtocolError(f"expected a poll response under {self.limit} bytes, got more")
        self._chunks.append(chunk)

    def finish(self) -> PollResponse:
        body = b"".join(self._chunks)
        self._chunks, self._size = [], 0
        return decode_response(body, self.room)

"""What flows from brokers to subscribers: events, gap notices and control replies."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from core import jsonc
from core.errors import ProtocolError

JSON: TypeAlias = Any
"""Any value `json.loads` can return."""

BASE64 = "base64"
"""The `encoding` of a binary event's `data` on the JSON transports (SSE, long polling)."""


MAX_EVENT_ID = 2**63 - 1
"""Ids are signed 64-bit integers: Redis' INCR and every client's integers hold them."""


def parse_event_id(text: str, source: str = "after") -> int:
    """An event id written in ASCII digits, from 0 to MAX_EVENT_ID. `str.isdigit` alone also
    accepts `²` or `٣`, which `int` then refuses or reads as another number."""
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else -1
    if not 0 <= value <= MAX_EVENT_ID:
        raise ProtocolError(f"expected {source} as an integer >= 0, got {text[:40]!r}")
    return value


def dump_json(value: JSON) -> bytes:
    """Compact UTF-8 JSON: unicode stays unescaped (fewer wire bytes)."""
    return jsonc.dumps(value)


@dataclass(slots=True, eq=False)
class Event:
    """One published event. Its JSON is built once and shared by every subscriber."""

    id: int
    room: str
    data: JSON | bytes
    """JSON, or bytes for a binary event: base64 in JSON, a binary frame on a WebSocket."""
    ts_ns: int = 0
    """Server clock (time.time_ns) when the broker accepted it; not sent on the wire."""
    frames: dict[str, Any] = field(default_factory=dict, repr=False)
    """Per-transport encodings, filled on first use: encode once, write N times."""

    @property
    def json(self) -> bytes:
        cached = self.frames.get("json")
        if cached is None:
            cached = self.frames["json"] = dump_json(event_json(self.id, self.room, self.data))
        assert isinstance(cached, bytes)
        return cached

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.id, self.room, self.data) == (other.id, other.room, other.data)

    __hash__ = None  # type: ignore[assignment]


def event_json(event_id: int, room: str, data: JSON | bytes) -> dict[str, JSON]:
    """The event object every JSON transport carries; binary data travels as base64."""
    if isinstance(data, bytes):
        encoded = base64.b64encode(data).decode()
        return {"id": event_id, "room": room, "data": encoded, "encoding": BASE64}
    return {"id": event_id, "room": room, "data": data}


def data_of(body: dict[str, Any]) -> JSON | bytes:
    """An event object's data, decoded from base64 when the event is binary."""
    data = body["data"]
    encoding = body.get("encoding")
    if encoding is None:
        return data
    if encoding != BASE64 or not isinstance(data, str):
        raise ProtocolError(
            f'expected "encoding": "{BASE64}" with string data, got {encoding!r:.30} '
            f"with {type(data).__name__}"
        )
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ProtocolError(f"expected base64 data, got {data!r:.60} ({exc})") from None


@dataclass(frozen=True, slots=True)
class Gap:
    """Events `first`..`last` of `room` can no longer be delivered.

    `reset` means the room's ids started again (the broker restarted without persistence): the
    subscriber's cursor referred to an earlier life of the room and the events that follow start
    from that new life.
    """

    room: str
    first: int
    last: int
    reset: bool = False

    def as_json(self) -> dict[str, JSON]:
        notice: dict[str, JSON] = {"gap": {"from": self.first, "to": self.last}, "room": self.room}
        if self.reset:
            notice["reset"] = True
        return notice


@dataclass(frozen=True, slots=True)
class Reply:
    """A pre-encoded control frame for one connection (WebSocket acks and errors)."""

    text: str


Delivery: TypeAlias = Event | Gap
Item: TypeAlias = Event | Gap | Reply


def delivery_from_json(body: object) -> Delivery:
    """Decode an event or gap notice object as every transport carries it (client side)."""
    if isinstance(body, dict) and isinstance(body.get("gap"), dict):
        gap = body["gap"]
        first, last = gap.get("from"), gap.get("to")
        if isinstance(first, int) and isinstance(last, int):
            return Gap(str(body.get("room", "")), first, last, body.get("reset") is True)
    elif isinstance(body, dict) and isinstance(body.get("id"), int) and "data" in body:
        return Event(body["id"], str(body.get("room", "")), data_of(body))
    raise ProtocolError(
        f'expected an event {{"id", "room", "data"}} or a gap notice {{"gap": {{"from", "to"}}}}, '
        f"got {body!r:.200}"
    )

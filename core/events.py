"""What flows from brokers to subscribers: events, gap notices and control replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from core import jsonc
from core.errors import ProtocolError

JSON: TypeAlias = Any
"""Any value `json.loads` can return."""


def dump_json(value: JSON) -> bytes:
    """Compact UTF-8 JSON: unicode stays unescaped (fewer wire bytes)."""
    return jsonc.dumps(value)


@dataclass(slots=True, eq=False)
class Event:
    """One published event. Its JSON is built once and shared by every subscriber."""

    id: int
    room: str
    data: JSON
    ts_ns: int = 0
    """Server clock (time.time_ns) when the broker accepted it; not sent on the wire."""
    frames: dict[str, Any] = field(default_factory=dict, repr=False)
    """Per-transport encodings, filled on first use: encode once, write N times."""

    @property
    def json(self) -> bytes:
        cached = self.frames.get("json")
        if cached is None:
            cached = self.frames["json"] = dump_json(
                {"id": self.id, "room": self.room, "data": self.data}
            )
        assert isinstance(cached, bytes)
        return cached

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.id, self.room, self.data) == (other.id, other.room, other.data)

    __hash__ = None  # type: ignore[assignment]


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
        return Event(body["id"], str(body.get("room", "")), body["data"])
    raise ProtocolError(
        f'expected an event {{"id", "room", "data"}} or a gap notice {{"gap": {{"from", "to"}}}}, '
        f"got {body!r:.200}"
    )

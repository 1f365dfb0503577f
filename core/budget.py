"""One memory budget for every resume buffer of a server, whatever the room or namespace.

Per-room caps alone let one client grow a server by gigabytes: 10,000 rooms of 4 MiB each is
40 GiB. The budget counts what each buffered event holds — its JSON, the decoded data the
publisher sent, and its wire encodings (SSE frame, WebSocket text) — plus a fixed cost per
room, and keeps the total under `max_bytes`:

- over it, the oldest events of the least recently used rooms go first (their subscribers
  resuming into that range get a gap notice, never silent loss); a room keeps its newest event
  while any other room has more than one;
- a new room that even eviction cannot make room for is refused (503), saying why.

Subscription queues hold the same Event objects as the buffers (shared, not copied), so they
are bounded by the per-connection queue (in items and in bytes), not by this budget.
"""

from __future__ import annotations

from collections import OrderedDict

from core.buffer import ResumeBuffer
from core.errors import RoomLimitReached
from core.events import Event

ROOM_COST = 2048
"""What a room costs before its first event: its buffer, deque and subscriber table."""
EVENT_OVERHEAD = 400
"""The Event object, its frames dict, the deque slot and the decoded data's containers."""
COPIES = 4
"""The JSON, the decoded data (about as large), the SSE frame and the WebSocket text."""


def event_cost(event: Event) -> int:
    """Bytes one buffered event holds, all its forms counted."""
    return COPIES * len(event.json) + EVENT_OVERHEAD


class Budget:
    """The bytes held by resume buffers against one limit, with LRU eviction across rooms."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.evicted_events = 0
        self.evicted_bytes = 0
        self.refused_rooms = 0
        self._rooms: OrderedDict[int, ResumeBuffer] = OrderedDict()
        """Least recently used first; keyed by id(): rooms of two namespaces may share a name."""
        self._plural: OrderedDict[int, ResumeBuffer] = OrderedDict()
        self._nonempty: OrderedDict[int, ResumeBuffer] = OrderedDict()
        """The rooms holding more than one event, and at least one, least recently used
        first: eviction reads only rooms it can take from, so its cost follows what it evicts,
        not how many rooms sit at their floor."""

    def open_room(self, buffer: ResumeBuffer) -> None:
        """Charge a new room, evicting events to make room, or refuse it."""
        self.held += ROOM_COST
        self._rooms[id(buffer)] = buffer
        if self.held > self.max_bytes:
            self._evict(protect=buffer)
        if self.held > self.max_bytes:
            self.close_room(buffer)
            self.refused_rooms += 1
            raise RoomLimitReached(
                f"expected room for a new room within the memory budget of "
                f"{self.max_bytes:,} bytes, got {self.held + ROOM_COST:,} bytes held by "
                f"{len(self._rooms):,} rooms that cannot be evicted further"
            )

    def close_room(self, buffer: ResumeBuffer) -> None:
        key = id(buffer)
        self._plural.pop(key, None)
        self._nonempty.pop(key, None)
        if self._rooms.pop(key, None) is not None:
            self.held -= ROOM_COST + sum(event_cost(e) for e in buffer.events)

    def touch(self, buffer: ResumeBuffer) -> None:
        """A publish or a subscription used this room: it is the most recently used."""
        key = id(buffer)
        if key in self._rooms:
            self._rooms.move_to_end(key)
            self._track(key, buffer)

    def _track(self, key: int, buffer: ResumeBuffer) -> None:
        count = len(buffer.events)
        for rooms, floor in ((self._plural, 1), (self._nonempty, 0)):
            if count > floor:
                rooms[key] = buffer
                rooms.move_to_end(key)
            else:
                rooms.pop(key, None)

    def added(self, buffer: ResumeBuffer, event: Event, dropped: list[Event]) -> None:
        """`buffer` appended `event` and dropped `dropped` by its own per-room limits."""
        self.held += event_cost(event) - sum(event_cost(e) for e in dropped)
        self.touch(buffer)
        if self.held > self.max_bytes:
            self._evict(protect=buffer)

    def _evict(self, protect: ResumeBuffer) -> None:
        """Oldest events of the least recently used rooms first, each keeping its newest
        event; then single newest events, never the protected room's last (it was just used,
        so it comes last in that order)."""
        for rooms, keep in ((self._plural, 1), (self._nonempty, 0)):
            while rooms and self.held > self.max_bytes:
                key, buffer = next(iter(rooms.items()))
                if keep == 0 and buffer is protect:
                    return
                while len(buffer.events) > keep and self.held > self.max_bytes:
                    event = buffer.events.popleft()
                    buffer.size_bytes -= len(event.json)
                    cost = event_cost(event)
                    self.held -= cost
                    self.evicted_events += 1
                    self.evicted_bytes += cost
                if len(buffer.events) <= keep:
                    rooms.pop(key)
                    if not buffer.events:
                        self._nonempty.pop(key, None)

    def status(self) -> dict[str, int]:
        return {
            "max_bytes": self.max_bytes,
            "held_bytes": self.held,
            "rooms": len(self._rooms),
            "evicted_events": self.evicted_events,
            "evicted_bytes": self.evicted_bytes,
            "refused_rooms": self.refused_rooms,
        }

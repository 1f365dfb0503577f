"""The resume buffer: the last N events of one room, so a subscriber can resume by id."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import islice

from core.events import Event, Gap


@dataclass(slots=True)
class Backlog:
    """What a subscriber resuming after `after` must receive before live events."""

    gap: Gap | None
    events: list[Event]
    last_id: int
    """The room's newest id when the backlog was taken."""


@dataclass(slots=True)
class ResumeBuffer:
    """Keeps the newest events of a room, bounded by count and by encoded bytes.

    Ids in a room are gap-free, so the buffer always holds a contiguous id range and the
    event after id `n` sits at index `n - first_id + 1`: lookups never scan.
    """

    room: str
    max_events: int
    max_bytes: int
    events: deque[Event] = field(default_factory=deque)
    size_bytes: int = 0
    last_id: int = 0

    def append(self, event: Event) -> list[Event]:
        """Keep `event`; return the oldest events its per-room limits pushed out."""
        if event.id != self.last_id + 1:
            raise ValueError(f"expected event id {self.last_id + 1}, got {event.id}")
        self.events.append(event)
        self.last_id = event.id
        self.size_bytes += len(event.json)
        dropped: list[Event] = []
        # Keep at least the newest event, so a resume just behind the head never sees a gap.
        while len(self.events) > 1 and (
            len(self.events) > self.max_events or self.size_bytes > self.max_bytes
        ):
            old = self.events.popleft()
            self.size_bytes -= len(old.json)
            dropped.append(old)
        return dropped

    @property
    def first_id(self) -> int:
        """Oldest buffered id; last_id + 1 when empty."""
        return self.events[0].id if self.events else self.last_id + 1

    def since(self, after: int, limit: int | None = None) -> Backlog:
        """Events with id > after (at most `limit`), preceded by a gap notice if some are gone."""
        if after > self.last_id:
            # The cursor is ahead of the room: the room started again since the client saw it.
            events = list(islice(self.events, limit))
            return Backlog(Gap(self.room, 1, after, reset=True), events, self.last_id)
        first = self.first_id
        gap = Gap(self.room, after + 1, first - 1) if after + 1 < first else None
        start = max(after + 1, first) - first
        return Backlog(gap, self._slice(start, limit), self.last_id)

    def _slice(self, start: int, limit: int | None) -> list[Event]:
        """`events[start:start + limit]`, walked from the nearer end: a poll or resume asks for
        the newest few, and a deque is walked item by item."""
        events, size = self.events, len(self.events)
        stop = size if limit is None else min(size, start + limit)
        if start >= stop:
            return []
        if size - start <= start:
            newest = list(islice(reversed(events), size - start))
            newest.reverse()
            return newest[: stop - start]
        return list(islice(events, start, stop))

"""Brokers: assign ids, keep the resume buffer, fan events out to subscriptions.

`Broker` is the interface every server talks to; `MemoryBroker` is the embedded default. A
Redis-backed broker implements the same methods for cluster mode.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.budget import Budget
from core.buffer import Backlog, ResumeBuffer
from core.config import Limits
from core.counters import Stats
from core.errors import RoomLimitReached
from core.events import JSON, Event, Item
from core.rooms import validate_room
from core.subscription import DROPPED, CloseReason, Subscription, fan_out


class Broker(abc.ABC):
    kind: str

    async def start(self) -> None:
        """Connect before serving (a backplane broker); the memory broker has nothing to do."""
        return None

    @abc.abstractmethod
    async def publish(self, room: str, data: JSON, *, exclude: Subscription | None = None) -> Event:
        """Assign the next id of `room`, buffer the event and offer it to every subscription."""

    @abc.abstractmethod
    async def subscribe(self, subscription: Subscription, room: str, after: int | None) -> int:
        """Attach `subscription` to `room`; queue what followed `after`, then live events.

        With `after` None only events published from now on are delivered. Returns the room's
        newest id at the time of attaching.
        """

    @abc.abstractmethod
    async def unsubscribe(self, subscription: Subscription, room: str) -> None: ...

    @abc.abstractmethod
    async def release(self, subscription: Subscription) -> None:
        """Detach `subscription` from every room it is in."""

    @abc.abstractmethod
    async def backlog(self, room: str, after: int, limit: int) -> Backlog:
        """Buffered events of `room` after `after`, at most `limit` (long polling's fast path)."""

    @abc.abstractmethod
    async def last_id(self, room: str) -> int:
        """The newest id of `room`, 0 before its first event."""

    async def reclaim_idle(self) -> None:
        """Let go of rooms idle for `limits.room_idle_seconds` (called every little while)."""
        return None

    @abc.abstractmethod
    def subscribers_by_room(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def health(self) -> dict[str, JSON]: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every subscription; no more events are delivered."""


def detach(
    subscription: Subscription,
    members_of: Callable[[str], dict[int, Subscription] | None],
    stats: Stats,
) -> None:
    """Take a closed subscription out of every room it was in (each broker's local fan-out
    tables), counting it when it was dropped for being too slow or stalled."""
    if subscription.close_reason in DROPPED:
        stats.dropped_subscribers += 1
    for room in subscription.rooms:
        members = members_of(room)
        if members is not None:
            members.pop(subscription.id, None)
    subscription.rooms.clear()


@dataclass(slots=True, eq=False)
class _Room:
    buffer: ResumeBuffer
    used_ns: int
    """When it was last published to or subscribed to (the broker's clock)."""
    subscriptions: dict[int, Subscription] = field(default_factory=dict)


class MemoryBroker(Broker):
    """Single-process broker. Every method runs without awaiting, so each is atomic."""

    kind = "memory"

    def __init__(
        self,
        limits: Limits,
        stats: Stats | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        budget: Budget | None = None,
    ) -> None:
        self.limits = limits
        self.stats = stats if stats is not None else Stats()
        self._clock_ns = clock_ns
        self._rooms: dict[str, _Room] = {}
        self.budget = budget if budget is not None else Budget(limits.memory_budget_bytes)
        """Shared by every namespace's broker of a server: one memory budget in all."""

    def _room(self, name: str) -> _Room:
        room = self._rooms.get(name)
        if room is None:
            validate_room(name)
            if len(self._rooms) >= self.limits.max_rooms:
                raise RoomLimitReached(
                    f"expected at most {self.limits.max_rooms} rooms on this server, "
                    f"got a request for a new room {name!r}"
                )
            buffer = ResumeBuffer(name, self.limits.buffer_events, self.limits.buffer_bytes)
            self.budget.open_room(buffer)  # refused (503) when even eviction cannot make room
            room = self._rooms[name] = _Room(buffer, self._clock_ns())
        return room

    async def publish(self, room: str, data: JSON, *, exclude: Subscription | None = None) -> Event:
        target = self._room(room)
        target.used_ns = now = self._clock_ns()
        event = Event(target.buffer.last_id + 1, room, data, now)
        self.budget.added(target.buffer, event, target.buffer.append(event))
        self.stats.published += 1
        self.stats.published_window.add(now / 1e9)
        written, overflowed = fan_out(target.subscriptions.values(), event, exclude)
        if written:
            self.stats.count_direct(now, self._clock_ns(), written)
        for sub in overflowed:
            self._detach_closed(sub)
        return event

    async def subscribe(self, subscription: Subscription, room: str, after: int | None) -> int:
        return self.subscribe_now(subscription, room, after)

    def subscribe_now(self, subscription: Subscription, room: str, after: int | None) -> int:
        """`subscribe`, for a caller without a task: this broker never waits."""
        target = self._room(room)
        target.used_ns = self._clock_ns()
        buffer = target.buffer
        self.budget.touch(buffer)
        if after is not None and after != buffer.last_id:  # at the newest id: nothing to queue
            backlog = buffer.since(after)
            items: list[Item] = [backlog.gap] if backlog.gap else []
            items.extend(backlog.events)
            if not subscription.replay(items):
                self._detach_closed(subscription)
                return buffer.last_id
        target.subscriptions[subscription.id] = subscription
        subscription.rooms.add(room)
        return buffer.last_id

    async def unsubscribe(self, subscription: Subscription, room: str) -> None:
        self.unsubscribe_now(subscription, room)

    def unsubscribe_now(self, subscription: Subscription, room: str) -> None:
        target = self._rooms.get(room)
        if target is not None:
            target.subscriptions.pop(subscription.id, None)
            if not target.subscriptions and target.buffer.last_id == 0:
                # Never published to and now unwatched: it holds no id a client could resume
                # from, so it goes, and reads of new names cannot fill the room cap.
                del self._rooms[room]
                self.budget.close_room(target.buffer)
        subscription.rooms.discard(room)

    async def release(self, subscription: Subscription) -> None:
        self.release_now(subscription)

    def release_now(self, subscription: Subscription) -> None:
        for room in list(subscription.rooms):
            self.unsubscribe_now(subscription, room)

    async def reclaim_idle(self) -> None:
        idle_since = self._clock_ns() - int(self.limits.room_idle_seconds * 1e9)
        for name, target in list(self._rooms.items()):
            if not target.subscriptions and target.used_ns < idle_since:
                del self._rooms[name]
                self.budget.close_room(target.buffer)
                self.stats.reclaimed_rooms += 1

    def _detach_closed(self, subscription: Subscription) -> None:
        detach(subscription, self._members, self.stats)

    def _members(self, room: str) -> dict[int, Subscription] | None:
        target = self._rooms.get(room)
        return None if target is None else target.subscriptions

    async def backlog(self, room: str, after: int, limit: int) -> Backlog:
        return self.backlog_now(room, after, limit)

    def backlog_now(self, room: str, after: int, limit: int) -> Backlog:
        """A read: a room not yet published to answers as an empty one, and is not created."""
        target = self._rooms.get(room)
        if target is None:
            validate_room(room)
            empty = ResumeBuffer(room, self.limits.buffer_events, self.limits.buffer_bytes)
            return empty.since(after, limit)
        return target.buffer.since(after, limit)

    async def last_id(self, room: str) -> int:
        target = self._rooms.get(room)
        if target is None:
            validate_room(room)
            return 0
        return target.buffer.last_id

    def subscribers_by_room(self) -> dict[str, int]:
        return {name: len(r.subscriptions) for name, r in self._rooms.items() if r.subscriptions}

    def health(self) -> dict[str, JSON]:
        return {"kind": self.kind, "ok": True, "rooms": len(self._rooms)}

    async def close(self) -> None:
        for target in self._rooms.values():
            for sub in list(target.subscriptions.values()):
                sub.close(CloseReason.SHUTDOWN)
            target.subscriptions.clear()

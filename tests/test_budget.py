"""The memory budget on its own: LRU eviction across rooms, gaps where events were evicted,
new rooms refused when nothing can be evicted, and the bytes held always what is held."""

from __future__ import annotations

import pytest

from core import Limits, MemoryBroker, RoomLimitReached, Subscription
from core.budget import EVENT_OVERHEAD, ROOM_COST, Budget, event_cost
from scenarios.tools import eviction


def broker(budget_bytes: int, **limits: int) -> MemoryBroker:
    return MemoryBroker(Limits(memory_budget_bytes=budget_bytes, **limits))


def held_by_buffers(b: MemoryBroker) -> int:
    """What the budget should hold, recomputed from the buffers themselves."""
    rooms = b._rooms.values()
    return sum(ROOM_COST + sum(event_cost(e) for e in r.buffer.events) for r in rooms)


async def test_over_budget_the_least_recently_used_room_loses_its_oldest_events_first() -> None:
    one = event_cost_of(1000)
    b = broker(3 * ROOM_COST + 12 * one)
    for room in ("a", "b", "c"):
        for _ in range(4):
            await b.publish(room, "x" * 1000)
    assert b.budget.evicted_events == 0
    await b.publish("b", "x" * 1000)  # "a" is now the least recently used
    await b.publish("c", "x" * 1000)
    assert b.budget.held <= b.budget.max_bytes
    assert b.budget.held == held_by_buffers(b)
    assert [len(b._rooms[r].buffer.events) for r in "abc"] == [2, 5, 5]
    # Resuming into the evicted range says so: a gap, then what is left.
    backlog = await b.backlog("a", 0, 10)
    assert backlog.gap is not None and (backlog.gap.first, backlog.gap.last) == (1, 2)
    assert [e.id for e in backlog.events] == [3, 4]


async def test_every_room_keeps_its_newest_event_while_others_have_more() -> None:
    one = event_cost_of(1000, "old")
    b = broker(2 * ROOM_COST + 5 * one)
    for _ in range(4):
        await b.publish("old", "x" * 1000)
    for _ in range(4):
        await b.publish("new", "x" * 1000)
    assert len(b._rooms["old"].buffer.events) == 1  # evicted down to its newest
    assert b.budget.held <= b.budget.max_bytes and b.budget.held == held_by_buffers(b)


async def test_a_new_room_that_eviction_cannot_make_room_for_is_refused() -> None:
    b = broker(3 * ROOM_COST)
    watchers = [Subscription(8) for _ in range(3)]  # a watched room holds its place
    for room, watcher in zip(("a", "b", "c"), watchers, strict=True):
        await b.subscribe(watcher, room, None)
    with pytest.raises(RoomLimitReached, match="within the memory budget of 6,144 bytes"):
        await b.publish("d", "hello")
    assert b.budget.refused_rooms == 1 and "d" not in b._rooms
    assert await b.publish("a", "still served") is not None


async def test_per_room_limits_release_what_they_drop() -> None:
    b = broker(1 << 30, buffer_events=3)
    for n in range(10):
        await b.publish("r", n)
    assert len(b._rooms["r"].buffer.events) == 3
    assert b.budget.held == held_by_buffers(b) and b.budget.evicted_events == 0


def test_the_budget_is_shared_across_brokers() -> None:
    shared = Budget(1 << 20)
    first = MemoryBroker(Limits(), budget=shared)
    second = MemoryBroker(Limits(), budget=shared)
    assert first.budget is second.budget


def event_cost_of(payload: int, room: str = "a") -> int:
    """A published string of `payload` bytes, as the budget charges it (JSON envelope too)."""
    envelope = len(b'{"id":1,"room":"","data":""}') + len(room)
    return 4 * (payload + envelope) + EVENT_OVERHEAD


def test_over_budget_eviction_tracks_only_the_rooms_it_can_take_from() -> None:
    # 1,000 rooms at their floor of one event, the budget spent: each publish takes the older
    # event of the room it went to, and only that room is ever a candidate, so a publish costs
    # the same with 10 rooms as with 10,000 (`python -m scenarios.tools.eviction` times it).
    b = eviction.filled(1000)
    for n in range(3000):
        eviction.run(b.publish(f"room-{n % 1000}", eviction.DATA))
        assert len(b.budget._plural) <= 1
    assert b.budget.evicted_events == 3000
    assert b.budget.held == held_by_buffers(b) <= b.budget.max_bytes
    assert eviction.measure(50, 100, 1)["evicted_per_publish"] == 1.0

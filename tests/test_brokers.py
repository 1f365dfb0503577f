"""One contract, every broker: the in-memory broker and the Redis broker (against a real
redis-server) assign gap-free ids, keep a bounded resume buffer that says where it has gaps,
deliver live events in order, and refuse rooms past `limits.max_rooms`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from core import Broker, Event, Limits, MemoryBroker, RoomLimitReached, Subscription
from processes.services import RedisServer
from servers.redis_broker import RedisBroker
from tests.support import service_binary

LIMITS = Limits(buffer_events=5, max_rooms=3)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(service_binary("redis-server", "redis-server")) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        made: Broker = MemoryBroker(LIMITS)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        # A namespace of its own per test: Redis keeps rooms across tests of the module.
        made = RedisBroker(server.url, LIMITS, namespace=f"t{uuid.uuid4().hex[:8]}")
    await made.start()
    yield made
    await made.close()


async def test_ids_are_gap_free_per_room(broker: Broker) -> None:
    ids = [(await broker.publish("a", n)).id for n in range(4)]
    other = [(await broker.publish("b", n)).id for n in range(2)]
    assert ids == [1, 2, 3, 4] and other == [1, 2]
    assert await broker.last_id("a") == 4


async def test_the_resume_buffer_is_bounded_and_says_where_it_has_gaps(broker: Broker) -> None:
    for n in range(12):
        await broker.publish("a", n)
    backlog = await broker.backlog("a", 0, 100)
    ids = [e.id for e in backlog.events]
    assert ids == list(range(ids[0], 13)) and len(ids) >= LIMITS.buffer_events
    if ids[0] > 1:  # what is gone is said, never silently skipped
        assert backlog.gap is not None and (backlog.gap.first, backlog.gap.last) == (1, ids[0] - 1)
    else:
        assert backlog.gap is None
    if broker.kind == "memory":
        assert len(ids) == LIMITS.buffer_events  # exact; Redis trims approximately (`MAXLEN ~`)


async def test_live_events_arrive_in_order_after_the_backlog(broker: Broker) -> None:
    for n in range(3):
        await broker.publish("a", n)
    subscription = Subscription(100)
    await broker.subscribe(subscription, "a", after=1)
    for n in range(3, 6):
        await broker.publish("a", n)

    async def six() -> list[int]:
        got: list[int] = []
        while len(got) < 5:
            await subscription.wait()
            got += [i.id for i in subscription.take(100) if isinstance(i, Event)]
        return got

    assert await asyncio.wait_for(six(), 10) == [2, 3, 4, 5, 6]
    await broker.release(subscription)


async def test_rooms_past_the_cap_are_refused(broker: Broker) -> None:
    for room in ("a", "b", "c"):
        await broker.publish(room, "x")
    with pytest.raises(RoomLimitReached, match="expected at most 3 rooms"):
        await broker.publish("d", "x")
    assert (await broker.publish("a", "still")).id == 2


async def test_reads_and_watchers_that_leave_never_take_a_room(broker: Broker) -> None:
    for n in range(10):
        assert await broker.last_id(f"read-{n}") == 0
        assert (await broker.backlog(f"read-{n}", 0, 10)).events == []
        watcher = Subscription(8)
        assert await broker.subscribe(watcher, f"watched-{n}", 0) == 0
        await broker.release(watcher)
    for room in ("a", "b", "c"):  # the cap of 3 is still whole
        assert (await broker.publish(room, "x")).id == 1


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_room_idle_past_its_time_is_reclaimed_and_a_watched_one_kept(
    kind: str, request: pytest.FixtureRequest
) -> None:
    limits = Limits(buffer_events=5, max_rooms=2, room_idle_seconds=1.0)
    if kind == "memory":
        broker: Broker = MemoryBroker(limits)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        broker = RedisBroker(server.url, limits, namespace=f"t{uuid.uuid4().hex[:8]}")
    await broker.start()
    try:
        await broker.publish("idle", 1)
        await broker.publish("watched", 1)
        watcher = Subscription(100)
        await broker.subscribe(watcher, "watched", after=None)
        for _ in range(10):  # 2.5 idle periods, each node's sweep renewing what it watches
            await asyncio.sleep(0.25)
            await broker.reclaim_idle()
        assert await broker.last_id("idle") == 0  # its events went with it
        assert await broker.last_id("watched") == 1
        # The cap of two counts the watched room and room for one more, not the idle one.
        assert (await broker.publish("new", 1)).id == 1
        with pytest.raises(RoomLimitReached):
            await broker.publish("one-too-many", 1)
        await broker.release(watcher)
    finally:
        await broker.close()


async def test_binary_events_keep_their_bytes(broker: Broker) -> None:
    blob = bytes(range(256))
    event = await broker.publish("a", blob)
    [buffered] = (await broker.backlog("a", event.id - 1, 10)).events
    assert buffered.data == blob
    assert b'"encoding":"base64"' in buffered.json

"""WebSocket operations: publish with ack, broadcast except self, dynamic rooms."""

from __future__ import annotations

import asyncio

import pytest

from clients.aio import Publisher, subscribe
from clients.aio.ws import OperationFailed, WSSubscriber
from core import Event
from processes.server import ServerProcess
from tests.conftest import ServerFactory
from tests.support import collect, ids


async def test_publish_over_socket_is_acked_and_delivered_to_all(
    ws_server: ServerProcess, room: str
) -> None:
    async with WSSubscriber(ws_server.url, room) as alice, WSSubscriber(ws_server.url, room) as bob:
        event_id = await alice.publish({"text": "hi"})
        [to_alice] = await collect(alice, 1)
        [to_bob] = await collect(bob, 1)
    assert event_id == 1
    assert to_alice == to_bob == Event(1, room, {"text": "hi"})


async def test_except_self_reaches_everyone_but_the_sender(
    ws_server: ServerProcess, room: str
) -> None:
    async with WSSubscriber(ws_server.url, room) as alice, WSSubscriber(ws_server.url, room) as bob:
        hidden = await alice.publish("to the others", except_self=True)
        shown = await alice.publish("to all")
        bob_items = await collect(bob, 2)
        alice_items = await collect(alice, 1)
    assert ids(bob_items) == [hidden, shown]
    assert ids(alice_items) == [shown]


async def test_join_and_leave_rooms(ws_server: ServerProcess, room: str) -> None:
    other = room + ".other"
    async with WSSubscriber(ws_server.url, room) as sub, Publisher(ws_server.url) as publisher:
        joined = await sub.join(other)
        in_other = await publisher.publish(other, "other room")
        in_own = await publisher.publish(room, "own room")
        first = await collect(sub, 2)
        left = await sub.leave(other)
        await publisher.publish(other, "not for me any more")
        last = await publisher.publish(room, "own again")
        second = await collect(sub, 1)
    assert joined == {"op": "joined", "room": other, "last_id": 0, "ack": 1}
    assert left["op"] == "left"
    assert [(e.room, e.id) for e in first] == [(other, in_other), (room, in_own)]  # type: ignore[union-attr]
    assert [(e.room, e.id) for e in second] == [(room, last)]  # type: ignore[union-attr]


async def test_join_with_after_replays_that_room(ws_server: ServerProcess, room: str) -> None:
    other = room + ".history"
    async with Publisher(ws_server.url) as publisher:
        for n in range(5):
            await publisher.publish(other, n)
        async with WSSubscriber(ws_server.url, room) as sub:
            await sub.join(other, after=2)
            items = await collect(sub, 3)
    assert [(e.room, e.id) for e in items] == [(other, 3), (other, 4), (other, 5)]  # type: ignore[union-attr]


async def test_publish_through_http_reaches_socket_publishers_too(
    ws_server: ServerProcess, room: str
) -> None:
    async with (
        WSSubscriber(ws_server.url, room) as sub,
        subscribe("ws", ws_server.url, room) as other,
        Publisher(ws_server.url) as publisher,
    ):
        results = await asyncio.gather(
            *(publisher.publish(room, n) for n in range(20)),
            *(sub.publish(f"ws {n}") for n in range(20)),
        )
        items = await collect(other, 40)
    assert sorted(results) == list(range(1, 41))
    assert ids(items) == list(range(1, 41))


async def test_a_second_join_of_a_joined_room_is_refused_with_an_error_frame(
    ws_server: ServerProcess, room: str
) -> None:
    other = room + ".twice"
    async with Publisher(ws_server.url) as publisher:
        for n in range(3):
            await publisher.publish(other, n)
        async with WSSubscriber(ws_server.url, room) as sub:
            await sub.join(other, after=0)
            replayed = await collect(sub, 3)
            with pytest.raises(OperationFailed, match="joined already: leave it first"):
                await sub.join(other, after=0)
            with pytest.raises(OperationFailed, match="joined already"):
                await sub.join(room)  # the socket's own room counts too
            last = await publisher.publish(other, "live")
            [live] = await collect(sub, 1)
    assert ids(replayed) == [1, 2, 3] and ids([live]) == [last]  # nothing replayed twice


async def test_a_socket_joins_at_most_its_share_of_rooms(
    server_factory: ServerFactory, room: str
) -> None:
    server = server_factory("ws", max_rooms_per_connection=3)
    async with WSSubscriber(server.url, room) as sub:
        await sub.join(room + ".1")
        await sub.join(room + ".2")
        with pytest.raises(OperationFailed, match="expected at most 3 rooms joined by one"):
            await sub.join(room + ".3")
        await sub.leave(room + ".1")
        await sub.join(room + ".3")  # a room left frees its place

"""WebSocket operations: publish with ack, broadcast except self, dynamic rooms."""

from __future__ import annotations

import asyncio

from clients.aio import Publisher, subscribe
from clients.aio.ws import WSSubscriber
from core import Event
from servers.process import ServerProcess
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

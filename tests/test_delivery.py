"""Delivery on every transport: everything, once, in order, unchanged."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from clients.aio import Publisher, subscribe
from core import Event
from servers.process import ServerProcess
from tests.conftest import ServerFactory
from tests.support import collect, eventually, ids, subscribe_path

PAYLOADS = [
    "plain",
    "ünïcødé ✓ 漢字 🚀",
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    {"nested": [1, 2.5, None, True, {"k": "v"}]},
    "line\nbreak\r\nand\rcr",
    "",
    0,
    None,
]


def payload(n: int) -> object:
    return {"seq": n, "value": PAYLOADS[n % len(PAYLOADS)]}


async def test_three_subscribers_get_1000_events_once_in_order(
    transport: str, server: ServerProcess, room: str
) -> None:
    count = 1000
    async with (
        subscribe(transport, server.url, room) as a,
        subscribe(transport, server.url, room) as b,
        subscribe(transport, server.url, room) as c,
        Publisher(server.url) as publisher,
    ):
        readers = [asyncio.create_task(collect(sub, count)) for sub in (a, b, c)]
        published = [await publisher.publish(room, payload(n)) for n in range(count)]
        results = await asyncio.gather(*readers)

    assert published == list(range(1, count + 1))
    for items in results:
        assert all(isinstance(item, Event) for item in items)
        assert ids(items) == published
        assert [item.data for item in items] == [payload(n) for n in range(count)]  # type: ignore[union-attr]
        assert {item.room for item in items} == {room}  # type: ignore[union-attr]


async def test_without_after_only_later_events_arrive(
    transport: str, server: ServerProcess, room: str
) -> None:
    async with Publisher(server.url) as publisher:
        for n in range(5):
            await publisher.publish(room, n)
        async with subscribe(transport, server.url, room) as sub:
            await publisher.publish(room, "after subscribing")
            [item] = await collect(sub, 1)
    assert isinstance(item, Event)
    assert (item.id, item.data) == (6, "after subscribing")


async def test_values_json_libraries_disagree_on_are_delivered_unchanged(
    transport: str, server: ServerProcess, room: str
) -> None:
    """Integers beyond 64 bits and lone surrogates survive the trip exactly."""
    body = b'{"data": {"big": 123456789012345678901234567890, "s": "\\ud800x", "f": 1.5}}'
    async with Publisher(server.url) as publisher, subscribe(transport, server.url, room) as sub:
        response = await publisher.post(room, body)
        [item] = await collect(sub, 1)
    assert response.status_code == 201
    assert isinstance(item, Event)
    assert item.data == {"big": 123456789012345678901234567890, "s": "\ud800x", "f": 1.5}


async def test_the_fan_out_takes_the_path_the_server_was_told(
    transport: str, fanout: str, server: ServerProcess, room: str
) -> None:
    """`direct`: an event published while the subscriber waits is written by the fast path
    (counted in `/status`): every event of a stream, the answer to a held poll; `asgi`:
    none. Every event arrives once and in order either way."""
    count = 50
    async with Publisher(server.url) as publisher:
        before = await publisher.status()
        async with subscribe(transport, server.url, room) as sub:
            reader = asyncio.create_task(collect(sub, count))

            async def waiting() -> bool:
                by_room = (await publisher.status())["connections"]["by_room"]
                return by_room.get(room) == 1  # type: ignore[union-attr]

            await eventually(waiting)  # the stream is open, or the poll is held
            published = [await publisher.publish(room, 0)]
            first = (await publisher.status())["events"]
            published += [await publisher.publish(room, n) for n in range(1, count)]
            items = await reader
        after = await publisher.status()
    assert ids(items) == published
    assert after["fanout"] == fanout

    def delta(key: str, now: dict[str, object] = after["events"]) -> int:  # type: ignore[assignment]
        return int(now[key] - before["events"][key])  # type: ignore[index,operator]

    assert delta("delivered") == count
    direct = fanout == "direct"
    assert delta("delivered_direct", first) == (1 if direct else 0)
    if transport == "longpoll":  # a poll that finds events already waiting goes through ASGI
        assert delta("delivered_direct") <= count
    else:
        assert delta("delivered_direct") == (count if direct else 0)


@pytest.mark.parametrize("fanout", ["direct", "asgi"])
async def test_a_held_poll_on_a_connection_that_closes_after_it_is_answered(
    fanout: str, server_factory: ServerFactory, room: str
) -> None:
    """A client that sends `Connection: close` (an HTTP/1.0 proxy such as nginx's default
    upstream) cannot get the fast path's keep-alive answer: its poll is answered through
    ASGI, at once, when the event is published."""
    server = server_factory("longpoll", fanout)
    async with Publisher(server.url) as publisher:
        last = await publisher.publish(room, "before")
        parts = urlsplit(server.url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(
            f"GET {subscribe_path('longpoll', room, last)} HTTP/1.1\r\nhost: x\r\n"
            "connection: close\r\n\r\n".encode()
        )

        async def held() -> bool:
            by_room = (await publisher.status())["connections"]["by_room"]
            return by_room.get(room) == 1  # type: ignore[union-attr]

        await eventually(held)
        published = await publisher.publish(room, "after")
        answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert [e["id"] for e in json.loads(body)["events"]] == [published]

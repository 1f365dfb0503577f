"""Delivery on every transport: everything, once, in order, unchanged."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from urllib.parse import urlsplit

import pytest

from clients.aio import Publisher, subscribe
from core import Event
from processes.server import ServerProcess
from tests.conftest import TIGHT, ServerFactory
from tests.support import (
    PATIENCE,
    collect,
    eventually,
    ids,
    open_stalled_subscriber,
    subscribe_path,
)

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


def read_event_ids(sock: socket.socket, last: bytes) -> list[int]:
    """The ids of the events a raw subscriber reads, in order, until `last` arrives."""
    received = bytearray()
    sock.settimeout(PATIENCE)
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        received += chunk
        if last in received[-len(chunk) - len(last) :]:
            break
    return [int(n) for n in re.findall(rb'\{"id":(\d+),"room"', received)]


@pytest.mark.parametrize("stream", ["ws", "sse"])
async def test_a_paused_subscriber_is_queued_then_written_to_directly_again(
    stream: str, server_factory: ServerFactory, room: str
) -> None:
    """While a subscriber's socket is paused (its reader is behind), the fast path leaves
    events to its queue; once the queue is written and the socket drains, events go direct
    again. Every event arrives once and in order through both paths."""
    server = server_factory(stream, "direct", **TIGHT)
    blob = "x" * (16 * 1024)
    async with Publisher(server.url) as publisher:
        before = (await publisher.status())["events"]

        def delta(now: dict[str, int], key: str) -> int:
            return now[key] - before[key]  # type: ignore[index,no-any-return]

        async def events() -> dict[str, int]:
            return (await publisher.status())["events"]  # type: ignore[return-value]

        sock = open_stalled_subscriber(server.url, stream, room)
        try:

            async def attached() -> bool:
                by_room = (await publisher.status())["connections"]["by_room"]
                return by_room.get(room) == 1  # type: ignore[union-attr]

            await eventually(attached)
            published: list[int] = []
            # The kernel's buffers take the first events; then the transport pauses and the
            # next event is queued (bounded: the queue holds 64 before the subscriber is slow).
            while delta(await events(), "delivered_direct") == len(published):
                assert len(published) < 400, "the socket never paused"
                published.append(await publisher.publish(room, {"b": blob}))
            reader = asyncio.create_task(asyncio.to_thread(read_event_ids, sock, b'"done"'))

            async def queue_written() -> bool:
                return delta(await events(), "delivered") == len(published)

            await eventually(queue_written)
            for _ in range(100):  # the socket drains below its low-water mark: direct again
                direct_before = delta(await events(), "delivered_direct")
                published.append(await publisher.publish(room, len(published)))
                if delta(await events(), "delivered_direct") > direct_before:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("expected the fast path to write again after the socket drained")
            published.append(await publisher.publish(room, "done"))
            received = await reader
        finally:
            sock.close()
        after = await events()
    assert received == published
    assert delta(after, "delivered_direct") < len(published)  # the queue took some
    assert delta(after, "dropped_subscribers") == 0

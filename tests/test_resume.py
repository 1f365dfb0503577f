"""Resuming by id: exactly the missed events; an explicit gap when the buffer has moved on."""

from __future__ import annotations

import asyncio

import httpx

from clients.aio import Publisher, Reconnecting, subscribe
from core import Event, Gap
from core.backoff import Backoff
from core.wire import sse
from processes.server import ServerProcess
from tests.support import collect, ids


async def test_resume_gets_exactly_the_missed_events(
    transport: str, server: ServerProcess, room: str
) -> None:
    async with Publisher(server.url) as publisher:
        async with subscribe(transport, server.url, room) as sub:
            for n in range(10):
                await publisher.publish(room, n)
            first = await collect(sub, 10)
            last_seen = sub.last_id
        missed = [await publisher.publish(room, f"missed {n}") for n in range(50)]
        async with subscribe(transport, server.url, room, after=last_seen) as sub:
            again = await collect(sub, 50)
            later = await publisher.publish(room, "live")
            [live] = await collect(sub, 1)
    assert ids(first) == list(range(1, 11)) and last_seen == 10
    assert ids(again) == missed == list(range(11, 61))
    assert isinstance(live, Event) and live.id == later


async def test_resume_older_than_buffer_gives_gap_then_the_rest(
    transport: str, tight_server: ServerProcess, room: str
) -> None:
    url = tight_server.url  # buffer_events = 100
    async with Publisher(url) as publisher:
        for n in range(150):
            await publisher.publish(room, n)
        async with subscribe(transport, url, room, after=10) as sub:
            items = await collect(sub, 101)
    gap, *events = items
    assert gap == Gap(room, 11, 50)
    assert ids(events) == list(range(51, 151))


async def test_cursor_ahead_of_room_is_reported_as_reset(
    transport: str, server: ServerProcess, room: str
) -> None:
    """A cursor from before a (memory) broker restart: say so, then deliver the new life."""
    async with Publisher(server.url) as publisher:
        await publisher.publish(room, "new life 1")
        async with subscribe(transport, server.url, room, after=500) as sub:
            gap, event = await collect(sub, 2)
    assert isinstance(gap, Gap) and gap.reset and (gap.first, gap.last) == (1, 500)
    assert isinstance(event, Event) and (event.id, event.data) == (1, "new life 1")


async def test_sse_last_event_id_wins_over_after(sse_server: ServerProcess, room: str) -> None:
    server = sse_server
    async with Publisher(server.url) as publisher:
        for n in range(20):
            await publisher.publish(room, n)
    parser = sse.SSEParser()
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "GET", f"{server.url}/rooms/{room}/sse?after=2", headers={"Last-Event-ID": "15"}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        messages: list[sse.SSEMessage] = []
        async for chunk in response.aiter_raw():
            messages += parser.feed(chunk)
            if len(messages) >= 5:
                break
    assert parser.retry_ms is not None
    assert [m.id for m in messages] == ["16", "17", "18", "19", "20"]


async def test_reconnecting_client_loses_nothing_across_drops(
    transport: str, server: ServerProcess, room: str
) -> None:
    client = Reconnecting(transport, server.url, room, backoff=Backoff(initial=0.01, maximum=0.1))
    total = 120
    received: list[Event] = []

    async def read() -> None:
        async for item in client:
            assert isinstance(item, Event)
            received.append(item)
            if len(received) == total:
                return

    reader = asyncio.create_task(read())
    async with Publisher(server.url) as publisher:
        await asyncio.wait_for(client.connected.wait(), 10)
        for n in range(total):
            await publisher.publish(room, n)
            if n % 30 == 29:
                client.disconnect()  # as if the network dropped
                await asyncio.sleep(0.02)
    await asyncio.wait_for(reader, 30)
    assert [e.id for e in received] == list(range(1, total + 1))
    assert [e.data for e in received] == list(range(total))
    assert client.connects >= 2
    assert client.duplicates == 0

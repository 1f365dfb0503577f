"""One client's abuse, on every transport with the default limits where they matter: each probe
gets its clear error or close, and a legitimate subscriber receives every event meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from clients.aio import Publisher, subscribe
from core import Event
from processes.server import ServerProcess
from tests.conftest import ServerFactory
from tests.support import collect, eventually, ids, subscribe_path

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="session", params=["uvicorn", "granian"])
def guarded_server(
    transport: str, server_factory: ServerFactory, request: pytest.FixtureRequest
) -> ServerProcess:
    """The default header size limit (16 KiB), a header timeout short enough to test; under
    uvicorn (our guard, `servers.protocol`) and granian (hyper's own limits)."""
    return server_factory(transport, server=request.param, header_timeout_seconds=HEADER_TIMEOUT)


@asynccontextmanager
async def bystander(
    transport: str, url: str, room: str, events: int
) -> AsyncIterator[Callable[[], Awaitable[list[int]]]]:
    """A legitimate subscriber and a publisher publishing `events` while the abuse runs; the
    callable returns the ids the subscriber received, and what was published."""
    async with Publisher(url) as publisher, subscribe(transport, url, room, after=0) as sub:
        reader = asyncio.create_task(collect(sub, events, patience=60))
        published: list[int] = []

        async def publish() -> None:
            for n in range(events):
                published.append(await publisher.publish(room, {"n": n}))
                await asyncio.sleep(0.02)

        publishing = asyncio.create_task(publish())

        async def received() -> list[int]:
            await publishing
            got = ids(await reader)
            assert got == published, (len(got), len(published))
            return got

        yield received


async def raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """One response with a `content-length` body, read whole; its head."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    return head


async def closed_after(reader: asyncio.StreamReader, patience: float) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it sent before."""
    started = time.monotonic()
    got = b""
    async with asyncio.timeout(patience):
        while chunk := await reader.read(65536):
            got += chunk
    return time.monotonic() - started, got


async def test_a_200_kib_header_is_answered_431_and_nothing_is_lost(
    transport: str, guarded_server: ServerProcess, room: str
) -> None:
    url = guarded_server.url
    async with bystander(transport, url, room, 40) as received:
        reader, writer = await raw(url)
        path = subscribe_path(transport, room, after=0)
        head = f"GET {path} HTTP/1.1\r\nhost: x\r\nx-big: {'a' * 200 * 1024}\r\n\r\n"
        writer.write(head.encode())
        _, answer = await closed_after(reader, 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        if guarded_server.server == "uvicorn":  # granian's 431 has no body
            assert b"expected a request head of at most 16384 bytes" in answer
        assert len(await received()) == 40


async def test_slow_headers_are_cut_at_the_timeout_and_nothing_is_lost(
    transport: str, guarded_server: ServerProcess, room: str
) -> None:
    url = guarded_server.url
    async with bystander(transport, url, room, 60) as received:
        slow = [await raw(url) for _ in range(20)]
        for _, writer in slow:
            writer.write(b"GET /rooms/x/sse HTTP/1.1\r\nhost: x\r\nx-slow: ")

        async def trickle(writer: asyncio.StreamWriter) -> None:
            while not writer.is_closing():
                await asyncio.sleep(0.3)
                writer.write(b"a")

        tricklers = [asyncio.create_task(trickle(w)) for _, w in slow]
        closed = await asyncio.gather(*(closed_after(r, HEADER_TIMEOUT + 2) for r, _ in slow))
        for task in tricklers:
            task.cancel()
        for _, writer in slow:
            writer.close()
        assert all(seconds <= HEADER_TIMEOUT + 2 for seconds, _ in closed)
        assert len(await received()) == 60


async def test_a_silent_connection_is_closed_at_the_timeout(
    transport: str, guarded_server: ServerProcess
) -> None:
    reader, writer = await raw(guarded_server.url)
    seconds, got = await closed_after(reader, HEADER_TIMEOUT + 2)
    writer.close()
    assert got == b"" and HEADER_TIMEOUT - 0.2 <= seconds <= HEADER_TIMEOUT + 2


async def test_keep_alive_requests_within_the_timeout_are_served(
    transport: str, guarded_server: ServerProcess, room: str
) -> None:
    """The timer is per request head: a client pausing between requests is not cut off."""
    reader, writer = await raw(guarded_server.url)
    try:
        for _ in range(3):
            writer.write(f"GET /rooms/{room} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            head = await read_answer(reader)
            assert head.startswith(b"HTTP/1.1 200 "), head
            await asyncio.sleep(HEADER_TIMEOUT * 0.6)
    finally:
        writer.close()


async def test_a_slow_head_after_a_served_request_is_cut_at_the_timeout(
    transport: str, guarded_server: ServerProcess, room: str
) -> None:
    """The next head on a keep-alive connection is timed from the end of the last response,
    not from the connection's start or the first head's."""
    reader, writer = await raw(guarded_server.url)
    try:
        await asyncio.sleep(HEADER_TIMEOUT * 0.3)  # the first head starts late on the connection
        writer.write(f"GET /rooms/{room} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        await read_answer(reader)
        answered = time.monotonic()
        await asyncio.sleep(HEADER_TIMEOUT * 0.6)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")

        async def trickle() -> None:
            while not writer.is_closing():
                await asyncio.sleep(0.2)
                writer.write(b"a")

        trickling = asyncio.create_task(trickle())
        _, got = await closed_after(reader, HEADER_TIMEOUT + 2)
        seconds = time.monotonic() - answered
        trickling.cancel()
    finally:
        writer.close()
    assert got == b"" and HEADER_TIMEOUT - 0.2 <= seconds <= HEADER_TIMEOUT + 2, (seconds, got)


@pytest.fixture(scope="session")
def budget_server(transport: str, server_factory: ServerFactory) -> ServerProcess:
    """A small memory budget, so a flood reaches it in a second."""
    return server_factory(transport, memory_budget_bytes=8 * 1024 * 1024)


async def test_a_room_flood_stays_inside_the_memory_budget_and_says_what_it_evicted(
    transport: str, budget_server: ServerProcess, room: str
) -> None:
    url = budget_server.url
    blob = "x" * (60 * 1024)
    async with bystander(transport, url, room, 40) as received, Publisher(url) as flood:
        before = await flood.status()
        flooded = [f"{room}-flood-{n}" for n in range(40)]
        for _ in range(8):
            for name in flooded:
                await flood.publish(name, {"b": blob})  # every POST is accepted: 201
        after = await flood.status()
        memory = after["memory"]
        assert isinstance(memory, dict)
        assert memory["held_bytes"] <= memory["max_bytes"] == 8 * 1024 * 1024
        evicted = memory["evicted_events"] - before["memory"]["evicted_events"]  # type: ignore[index]
        assert evicted > 0
        # Resuming into an evicted range: a gap notice, never silent loss.
        async with subscribe(transport, url, flooded[0], after=0) as late:
            [first, *_] = await collect(late, 1)
        assert not isinstance(first, Event) and first.first == 1, first
        assert len(await received()) == 40


@pytest.fixture(scope="session")
def capped_server(transport: str, server_factory: ServerFactory) -> ServerProcess:
    return server_factory(transport, max_connections_per_address=5)


async def status_of_one_more(transport: str, url: str, room: str) -> tuple[int, str]:
    """The status (and body) a subscribe handshake gets: 200 / 101 when admitted."""
    reader, writer = await raw(url)
    try:
        path = subscribe_path(transport, room, after=0) + (
            "&timeout=5" if transport == "longpoll" else ""
        )
        extra = (
            "connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n"
            "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            if transport == "ws"
            else ""
        )
        writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        body = await asyncio.wait_for(reader.read(4096), 2) if b" 503 " in head else b""
        return int(head.split()[1]), body.decode(errors="replace")
    finally:
        writer.close()


async def test_one_address_cannot_take_more_than_its_share_and_the_rest_is_served(
    transport: str, capped_server: ServerProcess, room: str
) -> None:
    url = capped_server.url
    subscribers = [subscribe(transport, url, room, after=0) for _ in range(5)]
    for sub in subscribers:
        await sub.__aenter__()
    readers = [asyncio.create_task(collect(sub, 1, patience=30)) for sub in subscribers]
    try:
        async with Publisher(url) as publisher:

            async def all_held() -> bool:
                status = await publisher.status()
                return status["connections"]["by_room"].get(room) == 5  # type: ignore[index,union-attr]

            await eventually(all_held)
            code, body = await status_of_one_more(transport, url, room)
            assert code == 503, (code, body)
            assert "expected at most 5 connections from one address" in body
            event_id = await publisher.publish(room, "still served")
            got = await asyncio.gather(*readers)
            assert all(ids(items) == [event_id] for items in got)
    finally:
        for sub in subscribers:
            await sub.__aexit__(None, None, None)


@pytest.mark.parametrize("fanout", ["direct", "asgi"])
async def test_a_head_poll_gets_no_body_so_the_next_answer_stays_framed(
    server_factory: ServerFactory, room: str, fanout: str
) -> None:
    server = server_factory("longpoll", fanout)
    async with Publisher(server.url) as publisher:
        await publisher.publish(room, "waiting")
    reader, writer = await raw(server.url)
    try:
        writer.write(
            f"HEAD /rooms/{room}/poll?after=0 HTTP/1.1\r\nhost: x\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        # No body follows a HEAD answer: the next bytes are the next answer's status line.
        second = await read_answer(reader)
        assert second.startswith(b"HTTP/1.1 200"), second
    finally:
        writer.close()


async def answer_of(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response with a `content-length` body: its status line and its body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head.split(b"\r\n")[0], await asyncio.wait_for(reader.readexactly(length), 5)


@pytest.mark.parametrize("fanout", ["direct", "asgi"])
async def test_a_request_pipelined_behind_a_held_poll_is_answered_after_it(
    server_factory: ServerFactory, room: str, fanout: str
) -> None:
    """Both in one write: the held poll is answered first (with what it has, as at its
    timeout), then the request behind it, on the same connection."""
    server = server_factory("longpoll", fanout)
    reader, writer = await raw(server.url)
    try:
        writer.write(
            f"GET /rooms/{room}/poll?after=0&timeout=2 HTTP/1.1\r\nhost: x\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".encode()
        )
        assert await answer_of(reader) == (b"HTTP/1.1 200 OK", b'{"events":[],"next":0}')
        status, body = await answer_of(reader)
        assert (status, body) == (b"HTTP/1.1 200 OK", b"ok")
    finally:
        writer.close()


@pytest.mark.parametrize("fanout", ["direct", "asgi"])
async def test_a_poll_sent_while_the_last_is_held_is_read_after_its_answer(
    server_factory: ServerFactory, room: str, fanout: str
) -> None:
    server = server_factory("longpoll", fanout)
    reader, writer = await raw(server.url)
    poll = f"GET /rooms/{room}/poll?after=0&timeout=5 HTTP/1.1\r\nhost: x\r\n\r\n".encode()
    try:
        writer.write(poll)
        await asyncio.sleep(0.3)  # held
        writer.write(poll)  # the next poll, sent early
        await asyncio.sleep(0.3)
        async with Publisher(server.url) as publisher:
            await publisher.publish(room, "first")
        for _ in range(2):  # the held one, then the early one, from the backlog
            status, body = await answer_of(reader)
            assert status == b"HTTP/1.1 200 OK" and json.loads(body)["next"] == 1, body
    finally:
        writer.close()


async def test_reads_of_new_rooms_never_lock_out_publishers(
    transport: str, server_factory: ServerFactory, room: str
) -> None:
    server = server_factory(transport, max_rooms=5)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for n in range(20):
            assert (await client.get(f"/rooms/{room}-read-{n}")).status_code == 200
            if transport == "longpoll":
                poll = await client.get(f"/rooms/{room}-poll-{n}/poll")
                assert poll.status_code == 200 and poll.json()["next"] == 0
        for n in range(8):  # a subscriber of a new room that leaves before anything is published
            async with subscribe(transport, server.url, f"{room}-gone-{n}", after=0):
                pass
        for n in range(5):
            published = await client.post(f"/rooms/{room}-new-{n}/events", json={"data": n})
            assert published.status_code == 201, published.text


async def test_rooms_used_once_are_reclaimed_so_the_cap_frees_up(
    transport: str, server_factory: ServerFactory, room: str
) -> None:
    server = server_factory(transport, max_rooms=3, room_idle_seconds=0.5)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for n in range(3):
            assert (
                await client.post(f"/rooms/{room}-{n}/events", json={"data": n})
            ).status_code == 201
        assert (await client.post(f"/rooms/{room}-3/events", json={"data": 3})).status_code == 503

        async def reclaimed() -> bool:
            answer = await client.post(f"/rooms/{room}-3/events", json={"data": 3})
            return answer.status_code == 201

        await eventually(reclaimed, patience=5)
        assert (await client.get(f"/rooms/{room}-0")).json()["last_id"] == 0
        status = (await client.get("/status")).json()
        assert status["events"]["reclaimed_rooms"] >= 3


async def test_a_body_that_never_comes_is_answered_408_and_its_connection_closed(
    transport: str, server_factory: ServerFactory, room: str
) -> None:
    server = server_factory(transport, body_timeout_seconds=1.0)
    reader, writer = await raw(server.url)
    try:
        writer.write(
            f"POST /rooms/{room}/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            'content-length: 1000\r\n\r\n{"data": 1'.encode()
        )
        seconds, got = await closed_after(reader, 10)
    finally:
        writer.close()
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b"expected the request body within 1 s" in got
    assert seconds < 5
    async with Publisher(server.url) as publisher:  # everyone else is still served
        assert await publisher.publish(room, "after") >= 1

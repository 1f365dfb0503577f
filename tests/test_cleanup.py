"""Nothing outlives its client: connections, subscriptions and tasks are released; a slow
subscriber is dropped without costing the others anything; SIGTERM ends everything fast."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import httpx
import pytest

from clients.aio import Publisher, subscribe
from core import CloseReason, ServerConfig
from processes.server import ServerProcess
from servers import runner
from servers.app import create_app
from servers.connection import Connection
from servers.hub import Hub
from servers.registry import get_transport
from tests.conftest import ServerFactory
from tests.support import collect, eventually, open_stalled_subscriber


async def test_status_returns_to_zero_after_clients_leave(
    transport: str, server: ServerProcess, room: str
) -> None:
    async with Publisher(server.url) as publisher:
        baseline = await publisher.status()
        subscribers = [subscribe(transport, server.url, room) for _ in range(5)]
        for sub in subscribers:
            await sub.__aenter__()
        # Long polling holds a request only while the client is polling.
        readers = [asyncio.create_task(collect(sub, 1)) for sub in subscribers]

        async def all_connected() -> bool:
            status = await publisher.status()
            return status["connections"]["by_room"].get(room) == 5  # type: ignore[index,union-attr]

        await eventually(all_connected)
        for reader in readers:
            reader.cancel()
        for sub in subscribers:
            await sub.__aexit__(None, None, None)

        async def released() -> dict[str, object] | None:
            status = await publisher.status()
            connections = status["connections"]
            assert isinstance(connections, dict)
            idle = (
                connections["total"] == 0
                and room not in connections["by_room"]
                and status["tasks"] == baseline["tasks"]
            )
            return status if idle else None

        status = await eventually(released)
    # The server is shared by the session: count this test's closes, not everyone's.
    left_before = baseline["connections"]["closes_by_reason"].get("client_left", 0)  # type: ignore[index,union-attr]
    closes = status["connections"]["closes_by_reason"]
    assert closes.get("client_left", 0) - left_before >= 5


async def publish_until_dropped(url: str, transport: str, room: str) -> tuple[int, bool]:
    """Publish 16 KiB events to a room with one stalled and one reading subscriber, until the
    stalled one is dropped (at most 400 events, about 6 MiB): (how many subscribers were
    dropped, whether the reading one got every event)."""
    blob = "x" * (16 * 1024)
    async with Publisher(url) as publisher, subscribe(transport, url, room) as fast:
        dropped_before = (await publisher.status())["events"]["dropped_subscribers"]  # type: ignore[index]
        stalled = open_stalled_subscriber(url, transport, room)
        try:
            await asyncio.sleep(0.2)
            reader = asyncio.create_task(collect(fast, 10_000, patience=120))
            published = 0
            while published < 400:
                await publisher.publish(room, {"n": published, "b": blob})
                published += 1
                if published % 20 == 0:
                    status = await publisher.status()
                    if status["events"]["dropped_subscribers"] - dropped_before:  # type: ignore[index,operator]
                        break
            last = await publisher.publish(room, "done")
            status = await publisher.status()
            dropped = status["events"]["dropped_subscribers"] - dropped_before  # type: ignore[index,operator]

            async def fast_caught_up() -> bool:
                return fast.last_id == last

            await eventually(fast_caught_up)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        finally:
            stalled.close()
    return int(dropped), fast.last_id == last


async def test_slow_subscriber_is_dropped_fast_one_gets_everything(
    transport: str, tight_server: ServerProcess, room: str
) -> None:
    # queue_events = 64, max_message_bytes = 32 KiB
    dropped, complete = await publish_until_dropped(tight_server.url, transport, room)
    # A poll is answered and forgotten: a client that stops reading holds nothing.
    assert dropped == (0 if transport == "longpoll" else 1)
    assert complete


async def test_a_stalled_reader_of_large_events_is_dropped_by_the_bytes_it_holds(
    transport: str, fanout: str, server_factory: ServerFactory, room: str
) -> None:
    # 4,096 events would take 64 MiB of these; 256 KiB is sixteen.
    server = server_factory(
        transport, fanout, queue_events=4096, queue_bytes=256 * 1024, max_message_bytes=32 * 1024
    )
    dropped, complete = await publish_until_dropped(server.url, transport, room)
    assert dropped == (0 if transport == "longpoll" else 1)
    assert complete


async def _held_subscribers(transport: str, url: str, room: str) -> list[asyncio.Task[object]]:
    async def run() -> object:
        async with subscribe(transport, url, room) as sub:
            items = [item async for item in sub]
            return sub.closed_reason, items, getattr(sub, "close_code", None)

    return [asyncio.create_task(run()) for _ in range(3)]


async def test_sigterm_with_live_subscribers_exits_promptly(transport: str, room: str) -> None:
    server = ServerProcess(transport).start()
    try:
        tasks = await _held_subscribers(transport, server.url, room)
        async with Publisher(server.url) as publisher:

            async def connected() -> bool:
                status = await publisher.status()
                return status["connections"]["by_room"].get(room) == 3  # type: ignore[index,union-attr]

            await eventually(connected)
        server.terminate()
        # The contract (docs/protocol.md): stopped within 2 s of SIGTERM, subscribers attached.
        code = await asyncio.to_thread(server.wait, 2.0)
        assert code in (0, -signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)
    finally:
        server.stop()
    for result in results:
        if transport == "longpoll":
            # The held poll is answered; the next poll finds the server gone.
            assert isinstance(result, httpx.TransportError), repr(result)
        else:
            assert isinstance(result, tuple), result
            _reason, items, close_code = result
            assert items == []
            if transport == "ws":
                assert close_code in (1001, 1012)
    assert server.events("shutdown")


async def test_an_exit_wakes_the_main_loop_without_waiting_for_its_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The main loop ticks once a second (the Date header) instead of polling `should_exit` ten
    # times a second; an exit must wake it. With an hour's tick, only the wake can end it.
    monkeypatch.setattr(runner, "TICK_SECONDS", 3600.0)
    config = ServerConfig(port=0)
    app = create_app(get_transport("sse"), config)
    server = runner.Server(runner.uvicorn_config(app, config), lambda: None, lambda url: {})
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started))
    date = dict(server.server_state.default_headers)[b"date"]
    assert date, "the first tick sets the Date header"
    server.should_exit = True
    await asyncio.wait_for(serving, timeout=5)


@pytest.mark.parametrize("transport", ["sse", "ws"])
@pytest.mark.parametrize("then", ["more_events", "silence"])
async def test_a_stream_that_takes_no_bytes_is_dropped_as_stalled(
    transport: str, server_factory: ServerFactory, room: str, then: str
) -> None:
    server = server_factory(transport, stall_seconds=1.0, max_message_bytes=64 * 1024)
    blob = "x" * (32 * 1024)
    async with Publisher(server.url) as publisher:
        before = (await publisher.status())["connections"]["closes_by_reason"]  # type: ignore[index]
        stalled = open_stalled_subscriber(server.url, transport, room)
        try:
            await asyncio.sleep(0.2)
            # Enough to fill the kernel's buffers (a few MiB), far below the queue's bounds
            # (4,096 events, 16 MiB): only the time it takes nothing can drop it, whether
            # events keep coming or the room falls silent with the writer stuck.
            for n in range(150):
                await publisher.publish(room, {"n": n, "b": blob})
            stalled_closes = 0
            for n in range(20):
                await asyncio.sleep(0.25)
                if then == "more_events":
                    await publisher.publish(room, {"n": n, "b": "tick"})
                closes = (await publisher.status())["connections"]["closes_by_reason"]  # type: ignore[index]
                stalled_closes = closes.get("stalled_subscriber", 0) - before.get(  # type: ignore[union-attr]
                    "stalled_subscriber", 0
                )
                if stalled_closes:
                    break
        finally:
            stalled.close()
    assert stalled_closes == 1


async def test_a_reader_that_fails_releases_its_subscription_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub("ws", ServerConfig())
    space = hub.default
    sent: list[object] = []

    async def send(message: object) -> None:
        sent.append(message)

    connection = Connection(hub, space, send, capacity=8, max_bytes=1 << 20, room="r", address="a")
    await space.broker.subscribe(connection.subscription, "r", None)
    await connection.open()

    async def write(items: list[object]) -> None:
        sent.extend(items)

    async def broken_reader() -> None:
        raise RuntimeError("the reader broke")

    # Without the close, the writer would wait for events that never fill its queue.
    reason = await asyncio.wait_for(
        connection.run(lambda: connection.pump(write), broken_reader), 5
    )
    assert reason is CloseReason.CLIENT_LEFT
    assert hub.status()["connections"]["total"] == 0  # type: ignore[index]
    assert space.broker.subscribers_by_room() == {}
    assert any("reader failed" in r.getMessage() for r in caplog.records)

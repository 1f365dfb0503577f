"""A closed connection is freed the moment it closes, by reference counting: nothing of it waits
in a reference cycle for Python's cyclic collector. (Such cycles do not leak, but under churn
they pile up between full collections and the server's RSS keeps their high-water mark.)

The server runs in this process, in a thread, so the collector can be stopped and asked what it
would have freed."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from clients.aio import Publisher, subscribe
from core import ServerConfig
from record import TRANSPORTS
from servers import create_app, get_transport
from servers.protocol import GuardedHttpToolsProtocol
from servers.runner import uvicorn_config
from tests.support import collect, eventually

SERVER_SIDE = ("servers.", "uvicorn.", "core.subscription", "websockets.server")
VARIANTS = [(t, f) for f in ("direct", "asgi") for t in TRANSPORTS]


@contextlib.contextmanager
def server_in_thread(transport: str, fanout: str) -> Iterator[str]:
    config = ServerConfig(port=0, fanout=fanout)
    server = uvicorn.Server(uvicorn_config(create_app(get_transport(transport), config), config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def collector_stopped() -> Iterator[list[object]]:
    """Between enter and the caller's `gc.collect()`, nothing in a cycle is freed; the
    collector then keeps what it found (`gc.garbage`) instead of freeing it."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def churn(transport: str, url: str, room: str, subscribers: int) -> None:
    """`subscribers` subscribe, receive three events each, and leave."""
    async with Publisher(url) as publisher:
        subs = [subscribe(transport, url, room) for _ in range(subscribers)]
        for sub in subs:
            await sub.__aenter__()
        readers = [asyncio.create_task(collect(sub, 3)) for sub in subs]
        for n in range(3):
            await publisher.publish(room, {"n": n})
        for got in await asyncio.gather(*readers):
            assert len(got) == 3
        for sub in subs:
            await sub.__aexit__(None, None, None)

        async def all_closed() -> bool:
            connections = (await publisher.status())["connections"]
            assert isinstance(connections, dict)
            return connections["total"] == 0

        await eventually(all_closed)


@pytest.mark.parametrize(("transport", "fanout"), VARIANTS, ids=[f"{t}-{f}" for t, f in VARIANTS])
async def test_closed_connections_are_freed_without_the_cyclic_collector(
    transport: str, fanout: str
) -> None:
    with server_in_thread(transport, fanout) as url:
        await churn(transport, url, "warm-up", 2)  # imports and caches, made once
        with collector_stopped() as garbage:
            await churn(transport, url, "churn", 10)
            gc.collect()
            left = collections.Counter(
                f"{type(o).__module__}.{type(o).__qualname__}"
                for o in garbage
                if type(o).__module__.startswith(SERVER_SIDE)
            )
    assert not left, f"expected no server object in a reference cycle, got {dict(left)}"


async def test_an_upgraded_connections_http_protocol_is_freed_at_once() -> None:
    """After the upgrade the WebSocket protocol has the socket: nothing (a pending head timer,
    the parser's callbacks) may keep the HTTP protocol that read the handshake alive."""
    with server_in_thread("ws", "direct") as url:
        subs = [subscribe("ws", url, "upgraded") for _ in range(5)]
        for sub in subs:
            await sub.__aenter__()
        try:
            gc.collect()
            upgraded = [
                o
                for o in gc.get_objects()
                if isinstance(o, GuardedHttpToolsProtocol) and o.parser is None
            ]
        finally:
            for sub in subs:
                await sub.__aexit__(None, None, None)
    assert upgraded == [], f"expected no HTTP protocol kept after its upgrade, got {len(upgraded)}"

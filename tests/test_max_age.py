"""`heartbeat.stream_max_seconds`: the server ends SSE streams and WebSockets after a while,
and the client resumes by id (what the browser scenario's EventSource reconnection uses)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.aio import Publisher
from processes.server import ServerProcess


@pytest.fixture(scope="module")
def aging_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tmp_path_factory.mktemp("aging") / "aging.toml"
    config.write_text("[heartbeat]\nstream_max_seconds = 0.5\nsse_retry_ms = 100\n")
    return config


async def test_an_sse_stream_ends_at_its_max_age_and_resumes_by_id(
    aging_config: Path, room: str
) -> None:
    with ServerProcess("sse", config=aging_config) as server:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=10) as client,
            Publisher(server.url) as publisher,
        ):
            started = time.monotonic()
            async with client.stream("GET", f"/rooms/{room}/sse") as response:
                first = await publisher.publish(room, "while the stream lives")
                body = b"".join([chunk async for chunk in response.aiter_bytes()])
            lived = time.monotonic() - started
            missed = await publisher.publish(room, "between the streams")
            async with client.stream(
                "GET", f"/rooms/{room}/sse", headers={"last-event-id": str(first)}
            ) as response:
                resumed = b""
                async for chunk in response.aiter_bytes():
                    resumed += chunk
                    if b"id: %d" % missed in resumed:
                        break
    assert 0.4 < lived < 3.0
    assert b"retry: 100" in body and b"id: %d" % first in body
    assert b"id: %d" % missed in resumed


async def test_a_websocket_closes_1001_at_its_max_age(aging_config: Path, room: str) -> None:
    with ServerProcess("ws", config=aging_config) as server:
        url = server.url.replace("http", "ws", 1) + f"/rooms/{room}/ws"
        async with connect(url) as socket:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 5)
    assert socket.close_code == 1001
    assert "max age" in (socket.close_reason or "")

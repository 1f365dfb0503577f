"""Binary events: published as bytes (HTTP `application/octet-stream` or a WebSocket's
`publish_binary` + binary frame), delivered as binary frames on a WebSocket and as base64 in
JSON on SSE and long polling, byte for byte, resumable like any event."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.aio import Publisher, WSSubscriber, subscribe
from core import Event
from processes.server import ServerProcess
from tests.conftest import TIGHT, ServerFactory
from tests.support import collect, ids

BLOBS = [b"", b"\x00", bytes(range(256)), os.urandom(16 * 1024), b'{"not": "json"}']


async def test_binary_events_arrive_byte_for_byte_on_every_transport(
    transport: str, server: ServerProcess, room: str
) -> None:
    async with subscribe(transport, server.url, room) as sub, Publisher(server.url) as publisher:
        published = [await publisher.publish(room, blob) for blob in BLOBS]
        published.append(await publisher.publish(room, {"text": "still JSON"}))
        items = await collect(sub, len(published))
    assert ids(items) == published
    assert [item.data for item in items] == [*BLOBS, {"text": "still JSON"}]  # type: ignore[union-attr]


async def test_binary_events_resume_from_the_buffer(
    transport: str, server: ServerProcess, room: str
) -> None:
    async with Publisher(server.url) as publisher:
        first = await publisher.publish(room, b"\x01\x02")
        second = await publisher.publish(room, b"\xff" * 100)
        async with subscribe(transport, server.url, room, after=first - 1) as sub:
            items = await collect(sub, 2)
    assert ids(items) == [first, second]
    assert [item.data for item in items] == [b"\x01\x02", b"\xff" * 100]  # type: ignore[union-attr]


async def test_sse_and_long_polling_carry_binary_as_base64_in_json(
    server_factory: ServerFactory, room: str
) -> None:
    server = server_factory("longpoll")
    blob = bytes(range(200))
    async with Publisher(server.url) as publisher:
        event_id = await publisher.publish(room, blob)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        body = (await client.get(f"/rooms/{room}/poll?after={event_id - 1}")).json()
    [event] = body["events"]
    assert event == {
        "id": event_id,
        "room": room,
        "data": base64.b64encode(blob).decode(),
        "encoding": "base64",
    }


async def test_a_binary_frame_is_one_event_on_the_websocket(
    server_factory: ServerFactory, room: str
) -> None:
    """On the wire: a binary frame of the id (u64), the room's length and name, the bytes."""
    server = server_factory("ws")
    url = server.url.replace("http", "ws", 1) + f"/rooms/{room}/ws"
    async with connect(url) as socket, Publisher(server.url) as publisher:
        event_id = await publisher.publish(room, b"\xde\xad\xbe\xef")
        frame = await asyncio.wait_for(socket.recv(), 10)
    name = room.encode()
    assert frame == event_id.to_bytes(8, "big") + bytes([len(name)]) + name + b"\xde\xad\xbe\xef"


async def test_websocket_publish_binary_round_trip(
    server_factory: ServerFactory, room: str
) -> None:
    server = server_factory("ws")
    blob = os.urandom(4096)
    async with (
        WSSubscriber(server.url, room) as sender,
        WSSubscriber(server.url, room) as witness,
    ):
        event_id = await sender.publish(blob)
        text_id = await sender.publish({"after": "the binary one"})
        items = await collect(witness, 2)
    assert ids(items) == [event_id, text_id]
    assert isinstance(items[0], Event) and items[0].data == blob


# -- bad input --------------------------------------------------------------------------------


@pytest.fixture
def tight_ws(server_factory: ServerFactory) -> ServerProcess:
    return server_factory("ws", **TIGHT)


async def test_a_text_frame_where_the_announced_binary_frame_was_expected_gets_an_error(
    tight_ws: ServerProcess, room: str
) -> None:
    async with (
        WSSubscriber(tight_ws.url, room) as sub,
        WSSubscriber(tight_ws.url, room) as witness,
    ):
        await sub.send_raw(json.dumps({"op": "publish_binary", "ack": 9}))
        await sub.send_raw(json.dumps({"op": "publish", "data": "not the bytes"}))
        error = await sub.next_reply()
        event_id = await sub.publish(b"the socket serves on")
        items = await collect(witness, 1)
    assert error["op"] == "error" and error["ack"] == 9
    assert "expected the binary frame announced by publish_binary, got a text frame" in str(
        error["error"]
    )
    assert ids(items) == [event_id]  # the refused text frame published nothing
    assert isinstance(items[0], Event) and items[0].data == b"the socket serves on"


async def test_a_binary_frame_over_the_size_limit_closes_1009(
    tight_ws: ServerProcess, room: str
) -> None:
    limit = int(TIGHT["max_message_bytes"])
    async with WSSubscriber(tight_ws.url, room) as witness, Publisher(tight_ws.url) as publisher:
        socket = await connect(tight_ws.url.replace("http", "ws", 1) + f"/rooms/{room}/ws")
        await socket.send(json.dumps({"op": "publish_binary"}))
        await socket.send(os.urandom(limit + 1))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
        after = await publisher.publish(room, b"after the oversize frame")
        items = await collect(witness, 1)
    assert socket.close_code == 1009
    assert ids(items) == [after]


async def test_an_http_binary_body_over_the_size_limit_is_413(
    tight_ws: ServerProcess, room: str
) -> None:
    limit = int(TIGHT["max_message_bytes"])
    async with Publisher(tight_ws.url) as publisher:
        refused = await publisher.post(room, os.urandom(limit + 1), "application/octet-stream")
        accepted = await publisher.post(room, os.urandom(limit), "application/octet-stream")
    assert refused.status_code == 413 and "expected a body of at most" in refused.json()["error"]
    assert accepted.status_code == 201

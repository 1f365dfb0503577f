"""Bad input gets a clear, specific refusal; the server keeps serving everyone else and a
subscriber in the same room loses nothing meanwhile."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from clients.aio import Publisher, subscribe
from clients.aio.ws import OperationFailed, WSSubscriber
from processes.server import ServerProcess
from tests.conftest import TIGHT, ServerFactory
from tests.support import collect, ids

TOO_BIG = json.dumps({"data": "x" * 40_000}).encode()  # over the tight server's 32 KiB

BAD_BODIES = [
    pytest.param(b"not json", 422, "expected the body", id="not-json"),
    pytest.param(b'{"dat": 1}', 422, '"data"', id="missing-data"),
    pytest.param(b"[1, 2]", 422, "got list", id="array"),
    pytest.param(b"\xff\xfe", 422, "invalid JSON", id="not-utf8"),
    pytest.param(b"", 422, "invalid JSON", id="empty"),
    pytest.param(TOO_BIG, 413, "at most 32768 bytes", id="oversize"),
]


@pytest.mark.parametrize(("body", "status", "says"), BAD_BODIES)
async def test_bad_publish_body_is_refused_and_nothing_is_lost(
    transport: str, tight_server: ServerProcess, room: str, body: bytes, status: int, says: str
) -> None:
    url = tight_server.url
    async with Publisher(url) as publisher, subscribe(transport, url, room) as witness:
        reader = asyncio.create_task(collect(witness, 2))
        first = await publisher.publish(room, "before")
        response = await publisher.post(room, body)
        second = await publisher.publish(room, "after")
        items = await reader
    assert response.status_code == status
    error = response.json()
    assert says in error["error"] and error["error"].startswith("expected")
    assert ids(items) == [first, second] == [first, first + 1]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_publish_that_is_not_json_or_bytes_is_refused_415(
    server: ServerProcess, room: str, content_type: str | None
) -> None:
    # What a page of another site can send without a CORS preflight: never accepted.
    headers = {} if content_type is None else {"content-type": content_type}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        refused = await client.post(f"/rooms/{room}/events", content=b'{"data": 1}',
                                    headers=headers)  # fmt: skip
        assert refused.status_code == 415
        assert refused.json()["error"].startswith("expected content-type application/json or")
        ok = await client.post(f"/rooms/{room}/events", json={"data": 1})
        assert ok.status_code == 201


BAD_ROOMS = ["x" * 65, "bad%20room", "semi%3Bcolon", "%C3%A9t%C3%A9"]


@pytest.mark.parametrize("bad_room", BAD_ROOMS)
async def test_bad_room_name_is_refused_everywhere(
    transport: str, server: ServerProcess, bad_room: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        publish = await client.post(f"/rooms/{bad_room}/events", json={"data": 1})
        info = await client.get(f"/rooms/{bad_room}")
        if transport == "ws":
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.url.replace("http", "ws") + f"/rooms/{bad_room}/ws")
            subscribe_status = refused.value.response.status_code
        else:
            path = "poll?after=0" if transport == "longpoll" else "sse"
            subscribe_status = (await client.get(f"/rooms/{bad_room}/{path}")).status_code
    assert publish.status_code == 400 and "expected a room name" in publish.json()["error"]
    assert info.status_code == 400
    assert subscribe_status == 400


# `%C2%B2` is `²` and `%D9%A3` is `٣`: digits to `str.isdigit`, which `int` refuses or misreads;
# 2^63 is one past the largest id.
@pytest.mark.parametrize(
    "bad_after", ["abc", "-1", "1.5", "9" * 30, "%C2%B2", "%D9%A3", str(2**63)]
)
async def test_bad_after_is_refused(
    transport: str, server: ServerProcess, room: str, bad_after: str
) -> None:
    path = {"longpoll": "poll", "sse": "sse", "ws": "ws"}[transport]
    if transport == "ws":
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url.replace("http", "ws") + f"/rooms/{room}/ws?after={bad_after}")
        assert refused.value.response.status_code == 400
        assert b"expected after as an integer" in refused.value.response.body
        return
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get(f"/rooms/{room}/{path}?after={bad_after}")
    assert response.status_code == 400
    assert "expected after as an integer >= 0" in response.json()["error"]


async def test_a_last_event_id_of_non_ascii_digits_is_refused(
    server_factory: ServerFactory, room: str
) -> None:
    server = server_factory("sse")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        # `²` in latin-1, the encoding of HTTP header values.
        response = await client.get(f"/rooms/{room}/sse", headers={"Last-Event-ID": b"\xb2"})
        assert response.status_code == 400
        assert "expected Last-Event-ID as an integer >= 0" in response.json()["error"]
        assert (await client.get("/healthz")).status_code == 200


async def test_a_join_after_past_the_largest_id_gets_an_error_frame(
    server_factory: ServerFactory, room: str
) -> None:
    server = server_factory("ws")
    async with WSSubscriber(server.url, room) as sub:
        await sub.send_raw(
            json.dumps({"op": "join", "room": "other", "after": 2**64 + 5, "ack": 3})
        )
        error = await sub.next_reply()
        assert error["op"] == "error" and error["ack"] == 3
        assert f"expected after as an integer from 0 to {2**63 - 1}" in error["error"]
        await sub.join("other")  # the socket is still usable


@pytest.mark.parametrize("seconds", ["-1", "61", "soon", "nan"])
async def test_bad_poll_timeout_is_refused(
    server_factory: ServerFactory, room: str, seconds: str
) -> None:
    server = server_factory("longpoll")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get(f"/rooms/{room}/poll?after=0&timeout={seconds}")
    assert response.status_code == 400
    assert "expected timeout in seconds from 0 to 60" in response.json()["error"]


async def test_poll_timeout_returns_empty_batch(server_factory: ServerFactory, room: str) -> None:
    server = server_factory("longpoll")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        first = (await client.get(f"/rooms/{room}/poll")).json()
        held = (await client.get(f"/rooms/{room}/poll?after=0&timeout=0.2")).json()
    assert first == {"events": [], "next": 0}
    assert held == {"events": [], "next": 0}


# -- WebSocket frames ----------------------------------------------------------------------


@pytest.fixture
def tight_ws(server_factory: ServerFactory) -> ServerProcess:
    return server_factory("ws", **TIGHT)


MALFORMED = [
    pytest.param("not json", "expected a frame", id="not-json"),
    pytest.param("[1]", "got list", id="array"),
    pytest.param(
        '{"op": "shout"}',
        "expected op one of publish, publish_binary, join, leave",
        id="unknown-op",
    ),
    pytest.param('{"op": "publish"}', '"data"', id="publish-no-data"),
    pytest.param('{"op": "join", "room": "no spaces"}', "expected a room name", id="join-bad-room"),
    pytest.param('{"op": "join", "room": "ok", "after": "x"}', "expected after", id="bad-after"),
    pytest.param(b"\x00\x01", "expected a JSON text frame, got a binary frame", id="binary"),
]


@pytest.mark.parametrize(("frame", "says"), MALFORMED)
async def test_malformed_ws_frame_gets_error_frame_and_socket_stays_usable(
    tight_ws: ServerProcess, room: str, frame: str | bytes, says: str
) -> None:
    async with (
        WSSubscriber(tight_ws.url, room) as sub,
        WSSubscriber(tight_ws.url, room) as witness,
    ):
        await sub.send_raw(frame)
        error = await sub.next_reply()
        event_id = await sub.publish("still works")
        items = await collect(witness, 1)
    assert error["op"] == "error" and says in str(error["error"])
    assert ids(items) == [event_id]


async def test_error_frame_echoes_ack(tight_ws: ServerProcess, room: str) -> None:
    async with WSSubscriber(tight_ws.url, room) as sub:
        await sub.send_raw('{"op": "nope", "ack": 42}')
        error = await sub.next_reply()
        with pytest.raises(OperationFailed):
            await sub.join("bad room")
    assert error["ack"] == 42


async def test_oversize_ws_frame_closes_1009(tight_ws: ServerProcess, room: str) -> None:
    async with WSSubscriber(tight_ws.url, room) as witness, Publisher(tight_ws.url) as publisher:
        socket = await connect(tight_ws.url.replace("http", "ws") + f"/rooms/{room}/ws")
        await socket.send(json.dumps({"op": "publish", "data": "x" * 40_000}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
        after = await publisher.publish(room, "after the oversize frame")
        items = await collect(witness, 1)
    assert socket.close_code == 1009
    assert ids(items) == [after]


async def test_repeated_abuse_closes_1008(tight_ws: ServerProcess, room: str) -> None:
    async with WSSubscriber(tight_ws.url, room) as witness, Publisher(tight_ws.url) as publisher:
        socket = await connect(tight_ws.url.replace("http", "ws") + f"/rooms/{room}/ws")
        for _ in range(10):  # ws_max_errors = 5
            try:
                await socket.send("garbage")
            except ConnectionClosed:
                break
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(socket.recv(), 10)
        after = await publisher.publish(room, "after the abuse")
        items = await collect(witness, 1)
    assert socket.close_code == 1008
    assert ids(items) == [after]

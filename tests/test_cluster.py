"""Cluster mode with real processes: redis-server as the backplane, nodes on each transport,
nginx in front. What the course says about several instances, shown on running code."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clients.aio import Publisher, Reconnecting, RequestRefused, subscribe
from core import Event, Gap
from processes.server import ServerProcess
from processes.services import Nginx, RedisServer
from tests.conftest import TRANSPORTS
from tests.support import PATIENCE, collect, eventually, ids, service_binary, subscribe_path


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(service_binary("redis-server", "redis-server")) as server:
        yield server


@pytest.fixture(scope="module")
def nodes(redis_server: RedisServer) -> Iterator[dict[str, list[ServerProcess]]]:
    """Two nodes per transport on the same Redis."""
    started: dict[str, list[ServerProcess]] = {}
    try:
        for transport in TRANSPORTS:
            started[transport] = [
                ServerProcess(transport, broker=redis_server.url).start() for _ in range(2)
            ]
        yield started
    finally:
        for pair in started.values():
            for node in pair:
                node.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_publish_on_one_node_reaches_subscribers_on_the_other(
    transport: str, nodes: dict[str, list[ServerProcess]], room: str
) -> None:
    a, b = nodes[transport]
    async with (
        subscribe(transport, b.url, room) as on_b,
        subscribe(transport, a.url, room) as on_a,
        Publisher(a.url) as via_a,
        Publisher(b.url) as via_b,
    ):
        published = []
        for n in range(30):
            publisher = via_a if n % 2 == 0 else via_b  # both nodes publish, ids stay one sequence
            published.append(await publisher.publish(room, {"n": n}))
        assert published == list(range(1, 31))
        got_b, got_a = await collect(on_b, 30), await collect(on_a, 30)
    for got in (got_a, got_b):
        assert ids(got) == published
        assert [e.data for e in got] == [{"n": n} for n in range(30)]  # type: ignore[union-attr]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_resume_on_another_node_comes_from_the_shared_buffer(
    transport: str, nodes: dict[str, list[ServerProcess]], room: str
) -> None:
    a, b = nodes[transport]
    async with Publisher(a.url) as publisher:
        for n in range(10):
            await publisher.publish(room, n)
    async with subscribe(transport, b.url, room, after=4) as on_b:
        got = await collect(on_b, 6)
    assert ids(got) == list(range(5, 11))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_memory_broker_nodes_do_not_see_each_others_events(transport: str, room: str) -> None:
    """Without a backplane, an event stays on the node that published it."""
    with ServerProcess(transport) as a, ServerProcess(transport) as b:
        async with subscribe(transport, b.url, room) as on_b:
            async with Publisher(a.url) as via_a:
                for n in range(5):
                    await via_a.publish(room, f"from A {n}")
            async with Publisher(b.url) as via_b:
                marker = await via_b.publish(room, "from B")
            [first] = await collect(on_b, 1)
            async with Publisher(b.url) as via_b:
                assert await via_b.last_id(room) == 1
    # B's own event is B's first: nothing of A's five ever reached it.
    assert isinstance(first, Event) and (first.id, first.data) == (marker, "from B") == (
        1,
        "from B",
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_redis_restart_resumes_service_and_announces_the_lost_range(
    transport: str, tmp_path: Path, room: str
) -> None:
    binary = service_binary("redis-server", "redis-server")
    redis_server = RedisServer(binary).start()
    node = ServerProcess(transport, broker=redis_server.url).start()
    try:
        async with (
            subscribe(transport, node.url, room, after=0) as sub,
            Publisher(node.url) as publisher,
        ):
            before = [await publisher.publish(room, f"first life {n}") for n in range(5)]
            assert ids(await collect(sub, 5)) == before
            redis_server.stop()
            for _ in range(20):
                with pytest.raises(RequestRefused) as refused:
                    await publisher.publish(room, "while Redis is down")
                assert refused.value.status == 503  # refused, not lost: the publisher knows
            # Twenty refusals, one warning (at most one more, should the outage cross the
            # interval): an outage under load does not flood the log.
            await asyncio.sleep(0.5)  # the node's log is read by a thread

            async def warned() -> list[object]:
                return [line for line in node.logs if "redis unavailable" in str(line)]

            warnings = await eventually(warned)
            assert 1 <= len(warnings) <= 2, warnings
            redis_server = RedisServer(binary, port=redis_server.port).start()

            async def broker_back() -> bool:
                status = await publisher.status()
                return bool(status["broker"]["ok"])  # type: ignore[index]

            await eventually(broker_back)
            after = [await publisher.publish(room, f"second life {n}") for n in range(3)]
            assert after == [1, 2, 3]  # Redis came back empty: the room's ids began again
            got = await collect(sub, 4)
    finally:
        node.stop()
        redis_server.stop()
    gap, *events = got
    assert isinstance(gap, Gap) and gap.reset and (gap.first, gap.last) == (1, 5)
    assert [e.data for e in events] == [f"second life {n}" for n in range(3)]  # type: ignore[union-attr]


# -- behind nginx ------------------------------------------------------------------------------


@pytest.fixture
def cluster(
    redis_server: RedisServer, transport: str, tmp_path: Path
) -> Iterator[tuple[Nginx, list[ServerProcess]]]:
    nginx_binary = service_binary("nginx", "nginx")
    nodes = [ServerProcess(transport, broker=redis_server.url).start() for _ in range(2)]
    lb = Nginx(nginx_binary, tmp_path / "nginx", [n.url for n in nodes])
    try:
        lb.start()
        yield lb, nodes
    finally:
        lb.stop()
        for node in nodes:
            node.stop()


async def test_through_nginx_every_event_once_in_order(
    transport: str, cluster: tuple[Nginx, list[ServerProcess]], room: str
) -> None:
    lb, _ = cluster
    async with (
        subscribe(transport, lb.url, room) as first,
        subscribe(transport, lb.url, room) as second,
        Publisher(lb.url) as publisher,
    ):
        published = [await publisher.publish(room, n) for n in range(20)]
        for sub in (first, second):
            assert ids(await collect(sub, 20)) == published


async def test_killed_node_clients_resume_through_nginx_without_loss(
    transport: str, cluster: tuple[Nginx, list[ServerProcess]], room: str
) -> None:
    lb, nodes = cluster
    subscribers = [Reconnecting(transport, lb.url, room, after=0) for _ in range(4)]
    received: list[list[Event]] = [[] for _ in subscribers]

    async def follow(index: int) -> None:
        async for item in subscribers[index]:
            if isinstance(item, Event):
                received[index].append(item)

    tasks = [asyncio.create_task(follow(i)) for i in range(len(subscribers))]
    try:
        async with httpx.AsyncClient(base_url=lb.url, timeout=10) as client:

            async def publish(n: int) -> int:
                for _ in range(50):  # the node that took this request may have just died
                    answer = await client.post(f"/rooms/{room}/events", json={"data": n})
                    if answer.status_code == 201:
                        return int(answer.json()["id"])
                    await asyncio.sleep(0.1)
                raise AssertionError(f"publish {n} never accepted")

            published = [await publish(n) for n in range(10)]
            nodes[0].proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            nodes[0].proc.wait(5)  # type: ignore[union-attr]
            for n in range(10, 30):
                published.append(await publish(n))
                await asyncio.sleep(0.02)

        async def all_caught_up() -> bool:
            for task in tasks:  # a follower that gave up says why, instead of a timeout
                if task.done():
                    task.result()
            return all(len(r) >= len(published) for r in received)

        await eventually(all_caught_up, PATIENCE)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for sub, got in zip(subscribers, received, strict=True):
        assert [e.id for e in got] == published  # 0 lost, in order
        assert sub.duplicates == 0 and sub.gaps == []  # the server resent nothing, lost nothing
    if transport != "longpoll":
        # Streams on the killed node broke and reconnected through nginx. A held long poll is
        # retried by nginx itself on the other node (GET is idempotent): the client never knows.
        assert sum(sub.connects for sub in subscribers) > len(subscribers)


def test_backplane_tool_reports_its_own_measurements() -> None:
    service_binary("redis-server", "redis-server")
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.tools.backplane", "--events", "300", "--nodes", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["events"] == 300 and figures["events_per_second"] > 0
    assert figures["redis_cpu_us_per_event"] is not None and figures["stream_length"] == 300


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"flavour": "fast"}, "expected an nginx flavour among ('tuned', 'defaults'), got 'fast'"),
        ({"read_timeout_seconds": 0}, "expected a read timeout of 1–3600 s, got 0"),
        ({"read_timeout_seconds": 86400}, "expected a read timeout of 1–3600 s, got 86400"),
    ],
)
def test_nonsense_nginx_parameters_are_refused_clearly(
    tmp_path: Path, options: dict[str, object], says: str
) -> None:
    binary = service_binary("nginx", "nginx")
    with pytest.raises(ValueError) as refused:
        Nginx(binary, tmp_path, ["http://127.0.0.1:1"], **options)  # type: ignore[arg-type]
    assert str(refused.value) == says


async def test_the_redis_password_is_never_shown(room: str) -> None:
    secret = "s3cret-" + uuid.uuid4().hex
    binary = service_binary("redis-server", "redis-server")
    redis_server = RedisServer(binary, password=secret).start()
    node = ServerProcess("ws", broker=redis_server.url).start()
    try:
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as client:
            status = await client.get("/status")
            assert status.status_code == 200 and secret not in status.text
            assert ":***@127.0.0.1" in status.json()["broker"]["url"]
            metrics = await client.get("/metrics")
            assert secret not in metrics.text
            redis_server.stop()
            refused = await client.post(f"/rooms/{room}/events", json={"data": 1})
            assert refused.status_code == 503
            assert secret not in refused.text and "unavailable" in refused.json()["error"]
    finally:
        node.stop()
        redis_server.stop()
    assert secret not in json.dumps(list(node.logs))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_malformed_pub_sub_payload_is_skipped_and_delivery_goes_on(
    transport: str, redis_server: RedisServer, room: str
) -> None:
    import redis.asyncio as aioredis

    node = ServerProcess(transport, broker=redis_server.url).start()
    try:
        async with (
            subscribe(transport, node.url, room, after=0) as sub,
            Publisher(node.url) as publisher,
        ):
            first = await publisher.publish(room, "before")
            assert ids(await collect(sub, 1)) == [first]
            client = aioredis.Redis.from_url(redis_server.url)
            for garbage in (b"garbage", b"12 {not json", b"\xff\xfe"):
                await client.publish(f"rtbench:default:ch:{room}", garbage)
            await client.aclose()
            second = await publisher.publish(room, "after")
            assert ids(await collect(sub, 1)) == [second]
            status = await publisher.status()
    finally:
        node.stop()
    # A stream holds its room on the node; a long poll only while a poll is out, and a payload
    # for a room the node does not hold is not even read.
    if transport != "longpoll":
        assert status["broker"]["malformed_payloads"] == 3  # type: ignore[index]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_behind_nginx_a_page_of_the_proxys_own_origin_passes_a_foreign_one_does_not(
    cluster: tuple[Nginx, list[ServerProcess]], transport: str, room: str
) -> None:
    lb, _ = cluster
    async with httpx.AsyncClient(base_url=lb.url, timeout=10) as client:
        own = await client.post(f"/rooms/{room}/events", json={"data": 1},
                                headers={"origin": lb.url})  # fmt: skip
        assert own.status_code == 201, own.text  # nginx forwards the Host with its port
        foreign = await client.post(f"/rooms/{room}/events", json={"data": 1},
                                    headers={"origin": "http://evil.example"})  # fmt: skip
        assert foreign.status_code == 403


def handshake_request(transport: str, netloc: str, room: str, after: int) -> bytes:
    lines = [f"GET {subscribe_path(transport, room, after=after)} HTTP/1.1", f"Host: {netloc}"]
    if transport == "ws":
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_handshakes_admitted_together_never_pass_the_connection_cap(
    transport: str, redis_server: RedisServer, tmp_path: Path, room: str
) -> None:
    config = tmp_path / "rtbench.toml"
    config.write_text("[limits]\nmax_connections_per_address = 3\n")
    with ServerProcess(transport, broker=redis_server.url, config=config) as node:
        async with Publisher(node.url) as publisher:
            await publisher.publish(room, "backlog")  # each resume reads it from Redis: an await
        netloc = node.url.removeprefix("http://")
        host, port = netloc.split(":")
        opened = [await asyncio.open_connection(host, int(port)) for _ in range(30)]
        # A stream resumes from 0 (it reads the backlog from Redis); a poll waits after the
        # newest id (it asks Redis for events after it first): either way, an await between
        # the handshake's check of the caps and the connection counted in.
        after = 1 if transport == "longpoll" else 0
        for _, writer in opened:  # all at once: every handshake is admitted before any opens
            writer.write(handshake_request(transport, netloc, room, after))

        async def status_line(reader: asyncio.StreamReader) -> bytes:
            try:
                return await asyncio.wait_for(reader.readline(), 3)
            except TimeoutError:
                return b"held"  # a poll waiting for an event

        try:
            lines = await asyncio.gather(*(status_line(reader) for reader, _ in opened))
            async with httpx.AsyncClient(base_url=node.url) as client:
                total = (await client.get("/status")).json()["connections"]["total"]
        finally:
            for _, writer in opened:
                writer.close()
    refused = sum(line.startswith(b"HTTP/1.1 503") for line in lines)
    accepted = sum(line.startswith((b"HTTP/1.1 200", b"HTTP/1.1 101", b"held")) for line in lines)
    assert refused + accepted == 30, lines
    assert total <= 3 and accepted <= 3 and refused >= 27, (total, accepted, refused)

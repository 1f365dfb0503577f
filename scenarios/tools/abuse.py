"""The abuse probes of one unauthenticated client, against each server with its default
configuration and the memory broker, measured: what the server's memory and descriptors do.

    python -m scenarios.tools.abuse                   # all three transports, the full probes
    python -m scenarios.tools.abuse --transports ws --rooms 50

- room flood: `--rooms` rooms × `--events` events × `--payload-kib` KiB published as fast as
  one client can: server RSS growth against the memory budget, POSTs accepted, evictions;
- slow headers: `--slow` connections sending a partial request line, then one header byte
  every 2 s: how many are still open at the header timeout + 2 s;
- one request with a 200 KiB header: the status it gets;
- read flood: `--reads` reads (and, on long polling, polls without a cursor) of new room names,
  then a publish to a new room: its status, and how many rooms the server holds;
- join amplification (WebSocket): one socket sends `--joins` join frames (`after=0`) to a room
  of 1,024 events and never reads: RSS growth, and whether it was dropped;
- bodies that never come: `--bodies` POSTs announcing 1,000 bytes and sending 10: their
  statuses and how many are open at the body timeout + 2 s;
- request smuggling by HEAD: a HEAD poll with events waiting, then `GET /healthz` on the same
  connection: whether the second answer starts where it should;
- ids that are digits to Python only (`?after=²`), a foreign `Origin` on a subscribe, a
  cross-site "simple" publish (`text/plain`, foreign Origin): the statuses;
- a stalled reader of large events: one subscriber that never reads while 400 events of 60 KiB
  are published: RSS growth, and whether it was dropped (queue bytes, stall time).

A benchmark, not a test (tests/test_abuse.py asserts the behaviour); it prints one JSON line
per transport. Everything targets loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from core import Limits
from core.urls import events_path, subscribe_path
from core.wire import ws
from processes.server import ServerProcess
from scenarios.measure import sample_process


async def flood(server: ServerProcess, rooms: int, events: int, payload_kib: int) -> dict[str, Any]:
    before = sample_process(server.pid)
    body = json.dumps({"data": {"b": "x" * (payload_kib * 1024)}}).encode()
    codes: dict[int, int] = {}
    prefix = uuid.uuid4().hex[:6]
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for _ in range(events):
            for n in range(rooms):
                response = await client.post(
                    events_path(f"{prefix}-{n}"),
                    content=body,
                    headers={"content-type": "application/json"},
                )
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        status = (await client.get("/status")).json()
    after = sample_process(server.pid)
    growth = (after.rss_bytes - before.rss_bytes) if before and after else None
    budget = Limits().memory_budget_bytes
    return {
        "payload_mib": round(rooms * events * payload_kib / 1024, 1),
        "seconds": round(time.monotonic() - started, 1),
        "statuses": codes,
        "rss_growth_mib": None if growth is None else round(growth / 2**20, 1),
        "rss_growth_over_budget": None if growth is None else round(growth / budget, 2),
        "memory": status.get("memory"),
    }


async def slow_headers(server: ServerProcess, connections: int) -> dict[str, Any]:
    parts = urlsplit(server.url)
    timeout = Limits().header_timeout_seconds
    opened = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(connections)]
    for _, writer in opened:
        writer.write(b"GET /rooms/x/sse HTTP/1.1\r\nhost: x\r\nx-slow: ")

    async def trickle() -> None:
        while True:
            await asyncio.sleep(2)
            for _, writer in opened:
                if not writer.is_closing():
                    writer.write(b"a")

    trickling = asyncio.create_task(trickle())
    await asyncio.sleep(timeout + 2)
    still_open = 0
    for reader, _ in opened:
        try:
            chunk = await asyncio.wait_for(reader.read(1), 0.05)
            still_open += 0 if chunk == b"" else 1
        except TimeoutError:
            still_open += 1
        except ConnectionError:
            pass
    trickling.cancel()
    for _, writer in opened:
        writer.close()
    return {"connections": connections, "still_open_at_timeout_plus_2s": still_open,
            "header_timeout_seconds": timeout}  # fmt: skip


async def big_header(server: ServerProcess) -> int:
    parts = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"GET /status HTTP/1.1\r\nhost: x\r\nx-big: {'a' * 200 * 1024}\r\n\r\n".encode())
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
    except ConnectionError:
        return 0
    finally:
        writer.close()
    return int(line.split()[1]) if len(line.split()) > 1 else 0


WS_UPGRADE = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
}


def header_lines(headers: dict[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())


async def closes(client: httpx.AsyncClient) -> dict[str, int]:
    return dict((await client.get("/status")).json()["connections"]["closes_by_reason"])


async def read_flood(server: ServerProcess, transport: str, reads: int) -> dict[str, Any]:
    prefix = uuid.uuid4().hex[:6]
    codes: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for n in range(reads):
            paths = [f"/rooms/{prefix}-{n}"]
            if transport == "longpoll":
                paths.append(f"/rooms/{prefix}-p{n}/poll")
            for path in paths:
                code = (await client.get(path)).status_code
                codes[code] = codes.get(code, 0) + 1
        after = await client.post(events_path(f"{prefix}-new"), json={"data": 1})
        rooms = (await client.get("/status")).json()["broker"]["rooms"]
    return {"reads": reads, "statuses": codes, "publish_after": after.status_code,
            "rooms_held": rooms}  # fmt: skip


async def join_amplification(server: ServerProcess, joins: int) -> dict[str, Any]:
    room = f"amp-{uuid.uuid4().hex[:6]}"
    parts = urlsplit(server.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for n in range(1024):
            await client.post(events_path(room), json={"data": {"n": n, "pad": "x" * 200}})
        before_closes = await closes(client)
        before = sample_process(server.pid)
        _, writer = await asyncio.open_connection(parts.hostname, parts.port)
        head = f"GET /rooms/{room}/ws HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        writer.write((head + header_lines(WS_UPGRADE) + "\r\n").encode())
        frame = ws.client_frame(json.dumps({"op": "join", "room": room, "after": 0}).encode())
        sent = 0
        try:
            for _ in range(joins):
                writer.write(frame)
                sent += 1
                if sent % 500 == 0:
                    await asyncio.wait_for(writer.drain(), 5)
        except (ConnectionError, TimeoutError):
            pass
        await asyncio.sleep(2)
        after = sample_process(server.pid)
        writer.close()
        await asyncio.sleep(0.5)
        dropped = {k: v - before_closes.get(k, 0) for k, v in (await closes(client)).items()}
    growth = (after.rss_bytes - before.rss_bytes) if before and after else None
    return {
        "joins_sent": sent,
        "rss_growth_mib": None if growth is None else round(growth / 2**20, 1),
        "closes": {k: v for k, v in dropped.items() if v},
    }


async def bodies_that_never_come(server: ServerProcess, count: int) -> dict[str, Any]:
    parts = urlsplit(server.url)
    timeout = Limits().body_timeout_seconds
    opened = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(count)]
    for _, writer in opened:
        writer.write(b"POST /rooms/slow/events HTTP/1.1\r\nhost: x\r\n"
                     b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
                     b'{"data": 1')  # fmt: skip
    await asyncio.sleep(timeout + 2)
    statuses: dict[str, int] = {}
    still_open = 0
    for reader, writer in opened:
        try:
            answer = await asyncio.wait_for(reader.read(), 0.2)
            status = answer.split(b" ")[1].decode() if answer.count(b" ") else "closed"
            statuses[status] = statuses.get(status, 0) + 1
        except TimeoutError:
            still_open += 1
        writer.close()
    return {"connections": count, "statuses": statuses, "still_open_at_timeout_plus_2s": still_open,
            "body_timeout_seconds": timeout}  # fmt: skip


async def head_then_get(server: ServerProcess) -> str:
    """The first line of the answer to a GET sent after a HEAD poll on one connection."""
    room = f"head-{uuid.uuid4().hex[:6]}"
    parts = urlsplit(server.url)
    async with httpx.AsyncClient(base_url=server.url) as client:
        await client.post(events_path(room), json={"data": "waiting"})
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(f"HEAD /rooms/{room}/poll?after=0 HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    return line.decode("latin-1").strip()


async def statuses_of_odd_requests(server: ServerProcess, transport: str) -> dict[str, int]:
    path = subscribe_path(transport, "odd", None).split("?")[0]
    foreign = {"origin": "http://evil.example"}
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        superscript = await client.get(f"{path}?after=\u00b2") if transport != "ws" else None
        simple = await client.post(
            events_path("odd"), content=b'{"data": 1}',
            headers={**foreign, "content-type": "text/plain"},
        )  # fmt: skip
        origin_headers = {**foreign, **(WS_UPGRADE if transport == "ws" else {})}
        if transport == "longpoll":
            foreign_subscribe = await client.get(
                f"{path}?after=0&timeout=0.1", headers=origin_headers
            )
        else:
            async with client.stream("GET", f"{path}?after=0", headers=origin_headers) as answer:
                foreign_subscribe = answer
    found = {"foreign_origin_subscribe": foreign_subscribe.status_code,
             "cross_site_text_plain_publish": simple.status_code}  # fmt: skip
    if superscript is not None:
        found["after_superscript_two"] = superscript.status_code
    return found


async def stalled_reader(server: ServerProcess, transport: str) -> dict[str, Any]:
    room = f"stall-{uuid.uuid4().hex[:6]}"
    blob = "x" * (60 * 1024)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        before_closes = await closes(client)
        before = sample_process(server.pid)
        sock = socket.create_connection((urlsplit(server.url).hostname, urlsplit(server.url).port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = f"GET {subscribe_path(transport, room, None)} HTTP/1.1\r\nhost: x\r\n"
        if transport == "ws":
            request += header_lines(WS_UPGRADE)
        sock.sendall((request + "\r\n").encode())
        await asyncio.sleep(0.3)
        for n in range(400):
            await client.post(events_path(room), json={"data": {"n": n, "b": blob}})
        after = sample_process(server.pid)
        sock.close()
        await asyncio.sleep(0.5)
        dropped = {k: v - before_closes.get(k, 0) for k, v in (await closes(client)).items()}
    growth = (after.rss_bytes - before.rss_bytes) if before and after else None
    return {"published_mib": round(400 * 60 / 1024, 1),
            "rss_growth_mib": None if growth is None else round(growth / 2**20, 1),
            "closes": {k: v for k, v in dropped.items() if v}}  # fmt: skip


async def probe(transport: str, args: argparse.Namespace) -> dict[str, Any]:
    with ServerProcess(transport, extra_args=["--log-level", "warning"]) as server:
        result: dict[str, Any] = {"transport": transport}
        result["big_header_status"] = await big_header(server)
        # First on a fresh server: the RSS a flood adds depends on what the heap went through
        # before (after the stalled reader's 16 MiB of large events, WebSocket's was 2–3×).
        result["room_flood"] = await flood(server, args.rooms, args.events, args.payload_kib)
        result["odd_requests"] = await statuses_of_odd_requests(server, transport)
        if transport == "longpoll":
            result["head_then_get"] = await head_then_get(server)
        result["bodies_that_never_come"] = await bodies_that_never_come(server, args.bodies)
        result["slow_headers"] = await slow_headers(server, args.slow)
        result["read_flood"] = await read_flood(server, transport, args.reads)
        if transport == "ws":
            result["join_amplification"] = await join_amplification(server, args.joins)
        if transport != "longpoll":
            result["stalled_reader"] = await stalled_reader(server, transport)
        return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scenarios.tools.abuse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--transports", default="longpoll,sse,ws")
    p.add_argument("--rooms", type=int, default=300)
    p.add_argument("--events", type=int, default=64)
    p.add_argument("--payload-kib", type=int, default=60)
    p.add_argument("--slow", type=int, default=400, help="slow-header connections")
    p.add_argument("--reads", type=int, default=10_000, help="reads of new room names")
    p.add_argument("--joins", type=int, default=30_000, help="join frames on one WebSocket")
    p.add_argument("--bodies", type=int, default=100, help="POSTs whose body never comes")
    args = p.parse_args(argv)
    for transport in args.transports.split(","):
        print(json.dumps(asyncio.run(probe(transport, args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

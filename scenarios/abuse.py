"""The abuse probes of one unauthenticated client, against each server with its default
configuration and the memory broker, measured: what the server's memory and descriptors do.

    python -m scenarios.abuse                   # all three transports, the full probes
    python -m scenarios.abuse --transports ws --rooms 50

- room flood: `--rooms` rooms × `--events` events × `--payload-kib` KiB published as fast as
  one client can: server RSS growth against the memory budget, POSTs accepted, evictions;
- slow headers: `--slow` connections sending a partial request line, then one header byte
  every 2 s: how many are still open at the header timeout + 2 s;
- one request with a 200 KiB header: the status it gets.

A benchmark, not a test (tests/test_abuse.py asserts the behaviour); it prints one JSON line
per transport. Everything targets loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from core import Limits
from core.urls import events_path
from scenarios.measure import sample_process
from servers.process import ServerProcess


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


async def probe(transport: str, args: argparse.Namespace) -> dict[str, Any]:
    with ServerProcess(transport, extra_args=["--log-level", "warning"]) as server:
        result: dict[str, Any] = {"transport": transport}
        result["big_header_status"] = await big_header(server)
        result["slow_headers"] = await slow_headers(server, args.slow)
        result["room_flood"] = await flood(server, args.rooms, args.events, args.payload_kib)
        return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scenarios.abuse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--transports", default="longpoll,sse,ws")
    p.add_argument("--rooms", type=int, default=300)
    p.add_argument("--events", type=int, default=64)
    p.add_argument("--payload-kib", type=int, default=60)
    p.add_argument("--slow", type=int, default=400, help="slow-header connections")
    args = p.parse_args(argv)
    for transport in args.transports.split(","):
        print(json.dumps(asyncio.run(probe(transport, args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

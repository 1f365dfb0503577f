"""Each transport behind a real nginx, as a distribution's example proxy leaves it and as the
cluster tunes it: does the handshake pass, how late and how batched do events arrive, and
what happens to an idle stream past the proxy's read timeout, without and with heartbeats.

Two scenario kinds, one module:

- `proxy`: the step's server behind one nginx (`nginx = "defaults" | "tuned"`): the subscribe
  handshake's status through it, then the broadcast through it when the handshake passed.
- `proxy_idle`: two servers of the step's transport (heartbeats on, heartbeats off), each
  behind both nginx flavours; one idle stream through each of the four, watched past the read
  timeout: when did the proxy close it, if it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.wire import http
from scenarios.cluster import NGINX_FLAVOURS, Nginx, find_binary
from scenarios.target import Target
from scenarios.workers import RUN_MARKER, WorkerFailed
from servers.process import ServerProcess

if TYPE_CHECKING:
    from scenarios.profile import Step
    from scenarios.run import Run

SUBSCRIBE = {"longpoll": "poll?after=0&timeout=1", "sse": "sse?after=0", "ws": "ws?after=0"}
UPGRADE = {
    "connection": "Upgrade",
    "upgrade": "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def open_subscribe(
    transport: str, url: str, room: str
) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send the subscribe request (poll, stream or upgrade) through `url`: the status of its
    answer (101 for an upgrade, 200 for a stream or a poll, a refusal otherwise) and the
    connection, still open."""
    host_port = url.removeprefix("http://")
    host, _, port = host_port.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    headers = dict(UPGRADE) if transport == "ws" else {"accept": "text/event-stream"}
    writer.write(http.build_request("GET", f"/rooms/{room}/{SUBSCRIBE[transport]}",
                                    host_port, headers))  # fmt: skip
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    parts = line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        await close(writer)
        raise WorkerFailed(f"expected an HTTP status line through nginx, got {line!r:.100}")
    return int(parts[1]), reader, writer


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def handshake_status(transport: str, url: str, room: str) -> int:
    status, _, writer = await open_subscribe(transport, url, room)
    await close(writer)
    return status


async def idle_stream(
    transport: str, url: str, room: str, seconds: float
) -> tuple[int, float | None]:
    """Open a stream (SSE) or socket (WebSocket) through `url` and publish nothing: (the
    handshake's status, after how many seconds the stream was closed or None if it was still
    open after `seconds`). A refused handshake is not watched."""
    started = time.monotonic()
    try:
        status, reader, writer = await open_subscribe(transport, url, room)
    except (ConnectionError, OSError):
        return 0, round(time.monotonic() - started, 1)
    try:
        if status != (101 if transport == "ws" else 200):
            return status, None
        deadline = started + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                return status, None
            if not chunk:
                return status, round(time.monotonic() - started, 1)
            if transport == "ws" and chunk[:1] == b"\x89":
                # A server ping (opcode 9, unmasked, short): answer with a masked pong.
                payload = chunk[2 : 2 + (chunk[1] & 0x7F)]
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
        return status, None
    except (ConnectionError, OSError):
        return status, round(time.monotonic() - started, 1)
    finally:
        await close(writer)


def nginx_binary() -> str:
    binary = find_binary("nginx")
    if binary is None:
        raise WorkerFailed("expected nginx: apt-get install nginx (or scripts/system-deps)")
    return binary


async def start_nginx(run: Run, step: Step, upstream: str, flavour: str, name: str) -> Nginx:
    folder: Path = run.out / "nginx" / f"{step.id}-{name}"
    lb = Nginx(nginx_binary(), folder, [upstream], env={RUN_MARKER: run.run_id}, flavour=flavour,
               read_timeout_seconds=float(step.params["read_timeout_seconds"]))  # fmt: skip
    run.services.append(lb)
    await asyncio.to_thread(lb.start)
    await asyncio.sleep(0.2)  # its worker forked
    for pid in lb.pids():
        os.sched_setaffinity(pid, set(run.pinning.server))
    return lb


async def stop_nginx(run: Run, lb: Nginx) -> None:
    await asyncio.to_thread(lb.stop)
    run.services.remove(lb)


async def proxied(run: Run, step: Step, server: ServerProcess) -> dict[str, Any]:
    """The `proxy` step: the handshake through nginx, then the broadcast through it."""
    flavour = step.params["nginx"]
    lb = await start_nginx(run, step, server.url, flavour, flavour)
    try:
        room = f"proxy-{uuid.uuid4().hex[:10]}"
        status = await handshake_status(step.transport, lb.url, room)
        passed = status == (101 if step.transport == "ws" else 200)
        figures: dict[str, Any] = {"nginx": flavour, "handshake_status": status,
                                   "handshake_passed": passed}  # fmt: skip
        if not passed:
            # A refused subscribe is this step's finding, not its failure.
            figures.update(status="ok", note=f"nginx {flavour}: subscribe answered {status}")
            return figures
        # Subscribers go through nginx; the publisher goes to the server: only the subscribe
        # path crosses the proxy. nginx's CPU counts with the server core's.
        target = Target(lb.url, server.publish_url, {"server": [server.pid], "nginx": lb.pids()})
        figures.update(await run.broadcast(step, target))
        return figures
    finally:
        await stop_nginx(run, lb)


async def idle(run: Run, step: Step) -> dict[str, Any]:
    """The `proxy_idle` step: four idle streams (heartbeats on/off × nginx flavour)."""
    p = step.params
    if step.transport == "longpoll":
        raise WorkerFailed("expected sse or ws for proxy_idle: a long poll answers by itself")
    watch = float(p["read_timeout_seconds"]) + 5.0
    proxies: list[tuple[bool, str, Nginx]] = []
    try:
        for heartbeat in (True, False):
            every = float(p["heartbeat_seconds"]) if heartbeat else 0.0
            server = await run.extra_server(
                step.transport,
                f"heartbeat-{heartbeat}-{p['heartbeat_seconds']:g}".lower(),
                "[heartbeat]\n"
                f"sse_ping_seconds = {every if heartbeat else 86400.0}\n"
                f"ws_ping_seconds = {every}\n",
            )
            for flavour in NGINX_FLAVOURS:
                name = f"{flavour}-heartbeat-{'on' if heartbeat else 'off'}"
                proxies.append((heartbeat, flavour, await start_nginx(run, step, server.url,
                                                                      flavour, name)))  # fmt: skip
        room = f"idle-{uuid.uuid4().hex[:10]}"
        closed = await asyncio.gather(
            *(idle_stream(step.transport, lb.url, room, watch) for _, _, lb in proxies)
        )
        results = [
            {
                "nginx": flavour,
                "heartbeat": heartbeat,
                "handshake_status": status,
                "closed_after_seconds": after,
            }
            for (heartbeat, flavour, _), (status, after) in zip(proxies, closed, strict=True)
        ]
        return {
            "status": "ok",
            "watched_seconds": watch,
            "read_timeout_seconds": p["read_timeout_seconds"],
            "heartbeat_seconds": p["heartbeat_seconds"],
            "streams": results,
        }
    finally:
        for _, _, lb in proxies:
            await stop_nginx(run, lb)
        await run.stop_extra_servers()

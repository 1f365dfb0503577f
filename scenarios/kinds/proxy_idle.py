"""Idle streams through nginx past its read timeout: two servers of the step's transport
(heartbeats on, heartbeats off), each behind both nginx flavours (`scenarios.kinds.proxy`); one idle
stream through each of the four, watched past the read timeout: when did the proxy close it,
if it did.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from processes.server import ServerProcess
from processes.services import NGINX_FLAVOURS, Nginx
from record import IdleStream, StepResult
from scenarios.kind import Kind, Parameters
from scenarios.kinds.proxy import close, open_subscribe, start_nginx, stop_nginx
from scenarios.target import Target
from scenarios.workers import WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures
    from scenarios.step import Step


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


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
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
        results: list[IdleStream] = [
            {
                "nginx": flavour,
                "heartbeat": heartbeat,
                "handshake_status": status,
                "closed_after_seconds": after,
            }
            for (heartbeat, flavour, _), (status, after) in zip(proxies, closed, strict=True)
        ]
        return {
            **step.header(),
            "result": "proxy_idle",
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


def summary(step: StepResult) -> str:
    if step["result"] != "proxy_idle":
        return ""
    return ", ".join(
        f"{s['nginx']}/{'heartbeat' if s['heartbeat'] else 'silent'}: "
        + ("refused" if s["handshake_status"] not in (101, 200)
           else "open" if s["closed_after_seconds"] is None
           else f"closed at {s['closed_after_seconds']:g} s")
        for s in step["streams"]
    )  # fmt: skip


def load_text(p: dict[str, Any]) -> str:
    return f"idle streams through nginx, {p['read_timeout_seconds']:g} s read timeout"


# Idle streams through both nginx configs, heartbeats on and off, past the read timeout.
PROXY_IDLE_PARAMETERS: Parameters = {
    "read_timeout_seconds": [60.0],
    "heartbeat_seconds": [15.0],
}

KIND = Kind(
    name="proxy_idle",
    about="Idle streams through both nginx configs, heartbeats on and off, past the read timeout.",
    parameters=PROXY_IDLE_PARAMETERS,
    measure=measure,
    servers="own",
    summary=summary,
    load=load_text,
)

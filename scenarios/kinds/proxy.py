"""Each transport behind a real nginx, as a distribution's example proxy leaves it and as the
cluster tunes it (`nginx = "defaults" | "tuned"`): the subscribe handshake's status through
it, then, when it passed, the broadcast through it (how late, how batched). What an idle stream
does past the proxy's read timeout is `scenarios.kinds.proxy_idle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.urls import subscribe_path
from core.wire import http
from processes.server import ServerProcess
from processes.services import Nginx, find_binary
from record import Handshake, StepResult
from scenarios.kind import Kind, Parameters
from scenarios.kinds import broadcast
from scenarios.target import Target
from scenarios.workers import RUN_MARKER, WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures
    from scenarios.step import Step

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
    timeout = 1 if transport == "longpoll" else None
    path = subscribe_path(transport, room, 0, timeout=timeout)
    writer.write(http.build_request("GET", path, host_port, headers))
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


def nginx_binary() -> str:
    binary = find_binary("nginx")
    if binary is None:
        raise WorkerFailed("expected nginx: apt-get install nginx (or scripts/system-deps)")
    return binary


async def start_nginx(run: Fixtures, step: Step, upstream: str, flavour: str, name: str) -> Nginx:
    folder: Path = run.out / "nginx" / f"{step.id}-{name}"
    lb = Nginx(nginx_binary(), folder, [upstream], env={RUN_MARKER: run.run_id}, flavour=flavour,
               read_timeout_seconds=float(step.params["read_timeout_seconds"]))  # fmt: skip
    run.services.append(lb)
    await asyncio.to_thread(lb.start)
    await asyncio.sleep(0.2)  # its worker forked
    for pid in lb.pids():
        os.sched_setaffinity(pid, set(run.pinning.server))
    return lb


async def stop_nginx(run: Fixtures, lb: Nginx) -> None:
    await asyncio.to_thread(lb.stop)
    run.services.remove(lb)


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    """The `proxy` step: the handshake through nginx, then the broadcast through it."""
    assert isinstance(server, ServerProcess)
    flavour = step.params["nginx"]
    lb = await start_nginx(run, step, server.url, flavour, flavour)
    try:
        room = f"proxy-{uuid.uuid4().hex[:10]}"
        status = await handshake_status(step.transport, lb.url, room)
        passed = status == (101 if step.transport == "ws" else 200)
        handshake: Handshake = {"nginx": flavour, "handshake_status": status,
                                "handshake_passed": passed}  # fmt: skip
        if passed:
            # Subscribers go through nginx; the publisher goes to the server: only the
            # subscribe path crosses the proxy. nginx's CPU counts with the server core's.
            pids = {"server": [server.pid], "nginx": lb.pids()}
            target = Target(lb.url, server.publish_url, pids)
            delivery = (await broadcast.broadcast(run, step, target)).delivery
        else:
            # A refused subscribe is this step's finding, not its failure.
            delivery = {"status": "ok", "note": f"nginx {flavour}: subscribe answered {status}"}
        return {**step.header(), "result": "proxy", **handshake, **delivery}
    finally:
        await stop_nginx(run, lb)


def load_text(p: dict[str, Any]) -> str:
    return broadcast.load_text(p) + f", through nginx {p['nginx']}"


# Each transport behind nginx: a distribution's defaults vs the cluster's tuned config.
PROXY_PARAMETERS: Parameters = {
    **broadcast.BROADCAST_LOAD,
    "nginx": ["defaults", "tuned"],
    "read_timeout_seconds": [60.0],
    "sse_proxy_buffering_off": [True],
    "driver_processes": [1],
}

KIND = Kind(
    name="proxy",
    about="Each transport behind nginx: a distribution's defaults against the tuned config.",
    parameters=PROXY_PARAMETERS,
    measure=measure,
    load=load_text,
)

"""Idle connections: N subscribers that receive nothing; the server's memory and CPU per held
connection."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import httpx

from processes.server import ServerProcess
from record import StepResult
from scenarios import figures as figure
from scenarios import ipc
from scenarios.kind import Kind, Parameters
from scenarios.load import driver as driver_program
from scenarios.measure import (
    sample_process,
)
from scenarios.step import Step
from scenarios.target import Target

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    assert isinstance(server, ServerProcess), "its own server, its pid sampled"
    p = step.params
    room = f"idle-{uuid.uuid4().hex[:10]}"
    await asyncio.sleep(0.5)
    before = sample_process(server.pid)
    args = [*run.driver_args(step, server, room, p["connections"]), *run.token_args(step)]
    driver = await run.worker(driver_program, args, "driver")
    ready = await driver.receive(ipc.DriverReady, 300)
    await asyncio.sleep(p["settle_seconds"])
    after = sample_process(server.pid)
    driver_sample = sample_process(driver.pid)
    async with httpx.AsyncClient(timeout=10) as client:
        status = (await client.get(f"{server.publish_url}/status")).json()
    await driver.send(cmd="stop")
    await driver.receive(ipc.DriverResult, 60)
    await driver.aclose()
    held = status["connections"]["by_room"].get(room, 0)
    connected = ready["connected"]
    per_connection = (
        round((after.rss_bytes - before.rss_bytes) / connected)
        if before and after and connected
        else None
    )
    return {
        **step.header(),
        "result": "idle",
        "status": "ok" if connected == p["connections"] == held else "degraded",
        "requested": p["connections"],
        "connected": connected,
        "held_by_server": held,
        "connect_seconds": ready["seconds"],
        "server_rss_before_bytes": before.rss_bytes if before else None,
        "server_rss_after_bytes": after.rss_bytes if after else None,
        "rss_per_connection_bytes": per_connection,
        # Server CPU to accept, check (TLS, token) and hold each connection, settle included.
        "server_cpu_us_per_connection": figure.cpu_us_per(before, after, connected),
        "driver_rss_bytes": driver_sample.rss_bytes if driver_sample else None,
        "errors": ready["errors"],
    }


def load_text(p: dict[str, Any]) -> str:
    return f"{p['connections']:,} idle" + (", JWT" if p.get("auth") else "")


IDLE_PARAMETERS: Parameters = {
    "connections": [1000],
    "settle_seconds": [2.0],
    "auth": [False],
}

KIND = Kind(
    name="idle",
    about="Held connections that receive nothing: the server's memory and CPU per connection.",
    parameters=IDLE_PARAMETERS,
    measure=measure,
    servers="fresh",
    peers=True,
    load=load_text,
)

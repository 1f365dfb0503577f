"""Question 1 at a distance: each transport's subscriber through the delay proxy
(`scenarios.load.delayproxy`) at a given round-trip time, where the mechanisms show and CPU queueing
does not.

- **Time to first event**: from opening a connection to holding an event already published —
  TCP's round trip, then the subscribe request (poll, stream, upgrade) and its answer.
- **Burst latency**: ten events published back to back; the latency of each by its place in
  the burst. A long poll answers with what it has, and pays a round trip to ask for the rest.
- **Resume after a drop**: the subscriber's connection is closed, an event is published while
  it is away, and it reconnects with its cursor: the time until that event arrives.

The publisher reaches the server directly: only the subscribe path crosses the delay. The
proxy runs pinned to the driver core and its CPU is recorded; the few clients this scenario
needs run in the orchestrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

from clients.aio import Publisher, Subscriber, subscribe
from core import Event
from processes.server import ServerProcess
from record import StepResult
from scenarios import figures as figure
from scenarios import ipc
from scenarios.kind import Kind, Parameters
from scenarios.load import delayproxy
from scenarios.target import Target
from scenarios.workers import WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures
    from scenarios.step import Step

PATIENCE = 30.0


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


async def time_to_first_event(transport: str, url: str, room: str, publisher: Publisher) -> float:
    """ms from opening a subscriber to holding the event published just before."""
    last = await publisher.publish(room, {"t": time.time_ns()})
    return await first_arrival(subscribe(transport, url, room, after=last - 1), last)


async def first_arrival(sub: Subscriber, event_id: int) -> float:
    """ms from connecting `sub` (already built: an HTTP client's set-up is not the network's)
    to holding `event_id`; the closing handshake afterwards is not counted."""
    started = time.perf_counter()
    async with asyncio.timeout(PATIENCE), sub:
        async for item in sub:
            if isinstance(item, Event) and item.id == event_id:
                return (time.perf_counter() - started) * 1000
    raise WorkerFailed(f"expected event {event_id}, got the end of the stream")


async def burst(
    transport: str, url: str, room: str, publisher: Publisher, size: int, rtt_ms: float
) -> list[float]:
    """ms from each event's publish to its arrival, by its place in one burst of `size`."""
    last = await publisher.last_id(room)
    arrived: dict[int, float] = {}
    async with subscribe(transport, url, room, after=last) as sub:

        async def read() -> None:
            async for item in sub:
                if isinstance(item, Event):
                    arrived[item.id] = time.perf_counter()
                    if len(arrived) == size:
                        return

        reader = asyncio.create_task(read())
        # Let the subscription stand (TCP, then the request or upgrade) before the burst.
        await asyncio.sleep(3 * rtt_ms / 1000 + 0.1)
        sent: dict[int, float] = {}
        for k in range(size):
            stamp = time.perf_counter()
            sent[await publisher.publish(room, {"k": k})] = stamp
        async with asyncio.timeout(PATIENCE):
            await reader
    return [(arrived[i] - sent[i]) * 1000 for i in sorted(sent)]


async def resume_after_drop(transport: str, url: str, room: str, publisher: Publisher) -> float:
    """ms from reconnecting with a cursor to holding the event missed while away."""
    async with subscribe(transport, url, room, after=await publisher.last_id(room)) as sub:
        seen = await publisher.publish(room, {"before": True})
        async with asyncio.timeout(PATIENCE):
            async for item in sub:
                if isinstance(item, Event) and item.id == seen:
                    break
    missed = await publisher.publish(room, {"while": "away"})
    return await first_arrival(subscribe(transport, url, room, after=seen), missed)


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    assert isinstance(server, ServerProcess)
    p = step.params
    rtt = float(p["rtt_ms"])
    target = server.url.removeprefix("http://")
    proxy = await run.worker(
        delayproxy, ["--target", target, "--delay-ms", f"{rtt / 2:g}"], "delay proxy"
    )
    try:
        ready = await proxy.receive(ipc.ProxyReady, 30)
        url = ready["url"]
        room = f"delay-{uuid.uuid4().hex[:10]}"
        with run.on_driver_cpus():
            started = run.sample(server, proxy, None)
            async with Publisher(server.publish_url) as publisher:
                first = [
                    await time_to_first_event(step.transport, url, room, publisher)
                    for _ in range(p["repeats"])
                ]
                bursts = [
                    await burst(step.transport, url, room, publisher, p["burst"], rtt)
                    for _ in range(p["repeats"])
                ]
                resumed = [
                    await resume_after_drop(step.transport, url, room, publisher)
                    for _ in range(p["repeats"])
                ]
            ended = run.sample(server, proxy, None)
    finally:
        with contextlib.suppress(Exception):
            await proxy.aclose()
        run.workers.remove(proxy)
    by_place = [median([b[k] for b in bursts]) for k in range(p["burst"])]
    chunks = 2 * p["repeats"] * (2 + p["burst"])  # a rough count of what crossed, for the CPU
    return {
        **step.header(),
        "result": "delay",
        "status": "ok",
        "rtt_ms": rtt,
        "time_to_first_event_ms": [round(v, 2) for v in first],
        "time_to_first_event_median_ms": median(first),
        "burst_latency_ms_by_place": by_place,
        "burst_first_median_ms": by_place[0] if by_place else None,
        "burst_rest_median_ms": median([v for v in by_place[1:] if v is not None]),
        "burst_rest_ms": [median(b[1:]) for b in bursts],
        "resume_ms": [round(v, 2) for v in resumed],
        "resume_median_ms": median(resumed),
        "proxy_cpu_us_per_chunk": figure.cpu_us_per(started["driver"], ended["driver"], chunks),
        "clients": "clients.aio in the orchestrator (httpx, websockets) and the proxy, both on "
        "the driver core",
        "utilisation": run.utilisation(started, ended, driver_by_cpu=True),
    }


def summary(step: StepResult) -> str:
    if step["result"] != "delay":
        return ""
    return (
        f"first event {step['time_to_first_event_median_ms']} ms, burst rest "
        f"{step['burst_rest_median_ms']} ms, resume {step['resume_median_ms']} ms"
    )


def load_text(p: dict[str, Any]) -> str:
    return f"through the delay proxy, RTT {p['rtt_ms']:g} ms"


# Through the delay proxy at a round-trip time: time to first event, bursts, resume.
DELAY_PARAMETERS: Parameters = {
    "rtt_ms": [0.0, 20.0, 100.0],
    "repeats": [5],
    "burst": [10],
}

KIND = Kind(
    name="delay",
    about="Through the delay proxy at a round-trip time: time to first event, bursts, resume.",
    parameters=DELAY_PARAMETERS,
    measure=measure,
    summary=summary,
    load=load_text,
)

"""Coming back after a while: a subscriber away while `backlog` events were published to its
room reconnects with its cursor and catches up from the server's resume buffer.

How long until it holds every event it missed, in how many requests, and what the server's
CPU paid per event replayed. A long poll answers with at most `limits.poll_batch` events and
asks again; a stream replays the backlog in one response, a WebSocket in frames on one
connection. The publisher posts the backlog before the subscriber connects, so only the
catch-up is timed; the clients run in the orchestrator, pinned to the driver core.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

from clients.aio import Publisher, subscribe
from clients.aio.longpoll import PollSubscriber
from core import Event
from record import FigureRecord, Scalar, StepResult
from scenarios.kind import Kind, Parameters
from scenarios.target import Target
from scenarios.workers import WorkerFailed

if TYPE_CHECKING:
    from processes.server import ServerProcess
    from scenarios.fixtures import Fixtures
    from scenarios.step import Step

PATIENCE = 30.0


async def catch_up(
    transport: str, url: str, room: str, after: int, last: int
) -> tuple[float, list[int], int]:
    """ms from opening a subscriber with cursor `after` to holding event `last`; the ids it
    received on the way, and the subscribe requests that took."""
    received: list[int] = []
    sub = subscribe(transport, url, room, after=after)
    started = time.perf_counter()
    async with asyncio.timeout(PATIENCE), sub:
        async for item in sub:
            if isinstance(item, Event):
                received.append(item.id)
                if item.id >= last:
                    elapsed = (time.perf_counter() - started) * 1000
                    requests = sub.polls if isinstance(sub, PollSubscriber) else 1
                    return elapsed, received, requests
    raise WorkerFailed(
        f"expected events up to {last}, got the end of the stream after {received[-1:]}"
    )


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    assert server is not None, "a pooled scenario is given its server"
    target = Target.of(server)
    p = step.params
    size, tries = int(p["backlog"]), int(p["tries"])
    payload = "x" * int(p["payload_bytes"])
    times: list[float] = []
    requests: list[int] = []
    lost = duplicated = 0
    cpu_ns: int | None = 0
    with run.on_driver_cpus():
        started = run.sample(server, None, None)
        async with Publisher(target.publish_url) as publisher:
            for _ in range(tries):
                room = f"backlog-{uuid.uuid4().hex[:10]}"
                after = await publisher.last_id(room)
                for _ in range(size):
                    last = await publisher.publish(room, {"p": payload})
                before = run.sample(server, None, None)["server"]
                elapsed, ids, asked = await catch_up(step.transport, target.url, room, after, last)
                done = run.sample(server, None, None)["server"]
                # Only the catch-up is counted: the backlog's publishing is not the resume's.
                if cpu_ns is not None and before is not None and done is not None:
                    cpu_ns += done.cpu_ns - before.cpu_ns
                else:
                    cpu_ns = None
                times.append(elapsed)
                requests.append(asked)
                lost += len(set(range(after + 1, last + 1)) - set(ids))
                duplicated += len(ids) - len(set(ids))
        ended = run.sample(server, None, None)
    median = statistics.median(times)
    figures: dict[str, Scalar] = {
        "backlog": size,
        "tries": tries,
        "catch_up_median_ms": round(median, 2),
        "catch_up_max_ms": round(max(times), 2),
        "events_per_second": round(size / (median / 1000)) if median else None,
        "requests_per_catch_up": statistics.median(requests),
        "server_cpu_us_per_event": None
        if cpu_ns is None
        else round(cpu_ns / 1e3 / (size * tries), 3),
        "lost": lost,
        "duplicated": duplicated,
    }
    faults = [f"{n} {what}" for n, what in ((lost, "lost"), (duplicated, "duplicated")) if n]
    return {
        **step.header(),
        "result": "scalars",
        "status": "degraded" if faults else "ok",
        "degraded_because": ", ".join(faults) or None,
        "figures": figures,
        "utilisation": run.utilisation(started, ended, driver_by_cpu=True),
    }


def load_text(p: dict[str, Any]) -> str:
    return f"{p['backlog']:,} events missed, {p['tries']} catch-ups"


def summary(step: StepResult) -> str:
    if step["result"] != "scalars":
        return ""
    f = step["figures"]
    return (
        f"caught up in {f['catch_up_median_ms']} ms (median), {f['requests_per_catch_up']} "
        f"request(s), {f['server_cpu_us_per_event']} µs server CPU per event"
    )


FIGURES: dict[str, FigureRecord] = {
    "catch_up_median_ms": {"label": "catch-up (median)", "unit": "ms"},
    "catch_up_max_ms": {"label": "catch-up (slowest)", "unit": "ms"},
    "events_per_second": {"label": "events caught up per second", "unit": "/s"},
    "requests_per_catch_up": {"label": "subscribe requests", "unit": ""},
    "server_cpu_us_per_event": {"label": "server CPU per event", "unit": "µs"},
    "lost": {"label": "lost", "unit": ""},
    "duplicated": {"label": "duplicated", "unit": ""},
}

BACKLOG_PARAMETERS: Parameters = {
    "backlog": [100, 1000],
    "tries": [5],
    "payload_bytes": [90],
}

KIND = Kind(
    name="backlog",
    about=(
        "A subscriber away while a backlog was published resumes with its cursor: time to "
        "catch up, subscribe requests, and server CPU per event replayed."
    ),
    parameters=BACKLOG_PARAMETERS,
    measure=measure,
    load=load_text,
    summary=summary,
    figures=FIGURES,
)

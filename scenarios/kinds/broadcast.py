"""The broadcast scenario: N subscribers of one room (the lean driver, in one or more
processes), an open-loop publisher at a fixed rate, latency from raw samples, wire bytes, CPU
and memory. Its variants share it: the null-server baseline, churn (drops and resumes) and the
reconnect storm."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from clients.aio.adapters import adapter_of
from processes.server import ServerProcess
from record import BytesPerMessage, Delivery, Endurance, StepResult, Storm
from scenarios import figures as figure
from scenarios import ipc
from scenarios.clocks import clock_figures, start_clock
from scenarios.kind import Kind, Parameters
from scenarios.load import driver as driver_program
from scenarios.load import publisher as publisher_program
from scenarios.measure import (
    decode,
    merge,
    open_fds,
    sample_process,
    summary,
)
from scenarios.shares import merge_driver_results, split
from scenarios.step import Step
from scenarios.target import Target
from scenarios.workers import Worker, WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A broadcast's figures, for this kind and for the kinds that broadcast through
    something (a proxy, a cluster) or at several rates (the knee)."""

    delivery: Delivery
    endurance: Endurance


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    done = await broadcast(run, step, server)
    return {**step.header(), "result": "broadcast", **done.delivery, **done.endurance}


async def broadcast(
    run: Fixtures,
    step: Step,
    server: ServerProcess | Target | None,
    during: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> Broadcast:
    """The broadcast of `step`; `during`, when given, runs from the opening of the measured
    window and is awaited before the drain (an outage of the link, for instance)."""
    assert server is not None, "a pooled scenario is given its server"
    p = step.params
    room = f"bench-{uuid.uuid4().hex[:10]}"
    storm = p.get("storm_within_seconds")
    origin_ns = time.time_ns()
    closes = await run.server_closes(server)
    clock = await start_clock(run, Target.of(server))
    options = driver_options(run, step, origin_ns) + (clock.driver_options if clock else [])
    drivers, readies = await start_drivers(run, step, server, room, options)
    publisher = await run.worker(
        publisher_program,
        publisher_options(run, step, server, room),
        "publisher",
        Target.of(server).publisher_host,
    )
    patience = p["warmup_seconds"] + p["duration_seconds"] + 60
    await publisher.receive(ipc.Measuring, patience)
    happening = asyncio.create_task(during()) if during is not None else None
    before = run.sample(server, drivers, publisher)
    every = float(p.get("sample_seconds") or 0)
    watched: list[list[float | None]] = []
    watching = asyncio.create_task(watch(server, every, watched)) if every else None
    storm_ns = 0
    if storm:
        # Every subscriber drops and resumes with its cursor, a while into the window.
        await asyncio.sleep(p["storm_after_seconds"])
        storm_ns = time.time_ns()
        for driver in drivers:
            await driver.send(cmd="storm", within=storm)
    published = await publisher.receive(ipc.PublisherResult, patience)
    if happening is not None:
        await happening
    window = run.sample(server, drivers, publisher)
    if watching is not None:
        watching.cancel()
    publisher_after = window["publisher"]
    for driver in drivers:
        await driver.send(cmd="drain", last_id=published["last_id"] or 0, seconds=run.drain_seconds)
    received = merge_driver_results(
        await asyncio.gather(
            *(d.receive(ipc.DriverResult, run.drain_seconds + 60) for d in drivers)
        )
    )
    after = run.sample(server, drivers, None)
    after["publisher"] = publisher_after
    closing = [publisher, *drivers] + ([clock.worker] if clock else [])
    await asyncio.gather(*(worker.aclose() for worker in closing))
    dropped = await run.dropped_since(server, closes)
    figures = figures_of(
        run, step, published, received, before, after, room, server_dropped=dropped
    )
    figures["utilisation"] = run.utilisation(before, window)
    figures["driver_processes"] = len(drivers)
    clock_figures(readies, figures)
    endurance: Endurance = {}
    if every:
        endurance["soak"] = {
            "sample_seconds": every,
            "warmup_seconds": p["soak_warmup_seconds"],
            "samples": watched,
            **figure.soak(watched, p["soak_warmup_seconds"]),
        }
    if storm:
        endurance["storm"] = storm_figures(p, received["timeline"], storm_ns - origin_ns)
    return Broadcast(figures, endurance)


def driver_options(run: Fixtures, step: Step, origin_ns: int) -> list[str]:
    """What every driver process of the step is told besides its share of subscribers."""
    p = step.params
    options = ["--measure-from-seq", str(int(p["warmup_seconds"] * p["rate"]))]
    options += ["--compression"] if p.get("compression") else []
    options += ["--browser-headers"] if p.get("browser_headers") else []
    if p.get("http2"):
        options += ["--http2", "--streams-per-connection", str(p["streams_per_connection"])]
    options += ["--latencies-over-time"] if p.get("storm_within_seconds") else []
    options += ["--reconnect"] if p.get("reconnect") else []
    if p.get("churn_per_second"):
        options += ["--churn-per-second", str(p["churn_per_second"])]
    options += run.tls_args(step) + run.token_args(step)
    return [*options, "--timeline-origin-ns", str(origin_ns)]


async def start_drivers(
    run: Fixtures, step: Step, server: ServerProcess | Target, room: str, options: list[str]
) -> tuple[list[Worker], list[ipc.DriverReady]]:
    """The step's driver processes, each once every one of its subscribers is connected, and
    what each said when ready."""
    p = step.params
    drivers = []
    hosts = Target.of(server).driver_hosts
    processes = max(p.get("driver_processes", 1), len(hosts))  # one on each host at least
    for index, share in enumerate(split(p["subscribers"], processes)):
        args = [*run.driver_args(step, server, room, share), *options]
        host = hosts[index % len(hosts)] if hosts else None
        drivers.append(await run.worker(driver_program, args, f"driver {index}", host))
    readies = await asyncio.gather(*(d.receive(ipc.DriverReady, 120) for d in drivers))
    failed = sum(ready["failed"] for ready in readies)
    if failed:
        errors = [e for ready in readies for e in ready["errors"]][:5]
        raise WorkerFailed(f"{failed} subscribers could not connect: {errors}")
    return drivers, list(readies)


def publisher_options(
    run: Fixtures, step: Step, server: ServerProcess | Target, room: str
) -> list[str]:
    p = step.params
    return [
        "--url", server.publish_url,
        "--room", room,
        "--rate", str(p["rate"]),
        "--warmup", str(p["warmup_seconds"]),
        "--duration", str(p["duration_seconds"]),
        "--payload-bytes", str(p["payload_bytes"]),
        *(["--binary"] if p.get("binary") else []),
        *([] if adapter_of(step.transport).numbers_events else ["--ids-by-sequence"]),
        *run.tls_args(step),
        *run.token_args(step),
    ]  # fmt: skip


def storm_figures(p: dict[str, Any], timeline: dict[str, Any], storm_after_ns: int) -> Storm:
    """The storm's bucket in the timeline, and how p99 went through it and back."""
    bucket_ms = timeline["bucket_ms"]
    storm_bucket = storm_after_ns // (bucket_ms * 1_000_000)
    within = p["storm_within_seconds"]
    return {
        "subscribers": p["subscribers"],
        "within_seconds": within,
        "timeline_bucket": storm_bucket,
        **figure.storm_recovery(timeline["p99_us"], bucket_ms, storm_bucket, within),
    }


async def watch(
    server: ServerProcess | Target, every: float, into: list[list[float | None]]
) -> None:
    """Every `every` seconds: [seconds since start, the server's RSS, its open fds, the blocks
    Python holds in it, the objects its cyclic collector has freed (both from `/status`; None
    from a server that does not say)]."""
    started = time.monotonic()
    target = Target.of(server)
    pid = target.pids["server"][0]
    async with httpx.AsyncClient(base_url=target.publish_url, timeout=every) as client:
        while True:
            sample, fds = sample_process(pid), open_fds(pid)
            try:
                memory = (await client.get("/status")).json().get("memory", {})
                blocks, freed = memory.get("python_allocated_blocks"), memory.get("cyclic_gc_freed")
            except (httpx.HTTPError, ValueError, AttributeError):
                blocks = freed = None
            if sample is not None and fds is not None:
                elapsed = round(time.monotonic() - started, 2)
                into.append([elapsed, sample.rss_bytes, fds, blocks, freed])
            await asyncio.sleep(every)


def figures_of(
    run: Fixtures,
    step: Step,
    published: ipc.Published,
    received: ipc.DriverResult,
    before: dict[str, Any],
    after: dict[str, Any],
    room: str,
    nominal_rate: float | None = None,
    server_dropped: dict[str, int] | None = None,
) -> Delivery:
    """The step's figures; `room` names a typical event's room, which the wire split sizes."""
    p = step.params
    measured = received["measured"]

    def cpu_us_per(name: str, count: int) -> float | None:
        return figure.cpu_us_per(before.get(name), after.get(name), count)

    nominal = nominal_rate if nominal_rate is not None else p["rate"]
    degraded = figure.degraded_reasons(
        nominal,
        published["achieved_rate"],
        received["lost"],
        received["duplicated"],
        received["complete"],
        received["error_count"],
        sum(published["errors"].values()),
        received["reconnect_failure_count"],
        server_dropped,
    )
    server_after = after["server"]
    figures: Delivery = {
        "status": "degraded" if degraded else "ok",
        "degraded_because": "; ".join(degraded) or None,
        "nominal_rate": nominal,
        "kept_up": (published["achieved_rate"] or 0) >= figure.KEPT_UP * nominal,
        "achieved_rate": published["achieved_rate"],
        "published": published["published"],
        "publish_errors": published["errors"],
        "expected": received["expected"],
        "delivered": received["delivered"],
        "lost": received["lost"],
        "duplicated": received["duplicated"],
        "reordered": received["reordered"],
        "gap_notices": received["gap_notices"],
        "drained": received["complete"],
        "subscriber_errors": received["errors"],
        "latency_us": summary(merge([received["histogram"]])),
        "publisher_lag_us": summary(decode(published["lag_histogram"])),
        "bytes_per_message": wire_bytes(step, room, published, received),
        "server_cpu_us_per_message": cpu_us_per("server", measured),
        "driver_cpu_us_per_message": cpu_us_per("driver", measured),
        "publisher_cpu_us_per_event": cpu_us_per(
            "publisher", published["published"] - published["warmup"]
        ),
        "server_rss_bytes": server_after.rss_bytes if server_after else None,
        "polls": received["polls"] or None,
        "reconnects": received["reconnects"],
        "reconnect_failures": received["reconnect_failures"],
        "server_dropped": server_dropped,
    }
    figures["histogram_file"], figures["timeline_file"] = raw_files(run, step, published, received)
    processes = {
        key.removeprefix("process:"): cpu_us_per(key, measured)
        for key in after
        if key.startswith("process:")
    }
    if processes:
        figures["process_cpu_us_per_message"] = processes
    return figures


def raw_files(
    run: Fixtures, step: Step, published: ipc.Published, received: ipc.DriverResult
) -> tuple[str, str]:
    """Write the step's raw latency and publisher-lag histograms and its timeline beside the
    results file; the step names the first and the last (its `histogram_file` and
    `timeline_file`)."""
    histograms, timelines = run.out / "histograms", run.out / "timelines"
    histograms.mkdir(parents=True, exist_ok=True)
    timelines.mkdir(parents=True, exist_ok=True)
    latency = histograms / f"{step.id}.hdr"
    latency.write_text(received["histogram"] + "\n")
    (histograms / f"{step.id}.publisher-lag.hdr").write_text(published["lag_histogram"] + "\n")
    timeline = timelines / f"{step.id}.json"
    timeline.write_text(json.dumps(received["timeline"]) + "\n")
    return str(latency.relative_to(run.out)), str(timeline.relative_to(run.out))


def wire_bytes(
    step: Step, room: str, published: ipc.Published, received: ipc.DriverResult
) -> BytesPerMessage:
    """Bytes per delivered message each way, from the kernel's TCP counters when the driver
    could read them (else what the application read and wrote), split into payload,
    envelope, framing and the rest; and TCP segments per message."""
    p = step.params
    delivered = received["delivered"]
    tcp_down, tcp_up = received["tcp_bytes_in"], received["tcp_bytes_out"]
    if tcp_down is not None and tcp_up is not None:
        source, down, up = "tcp_info", tcp_down, tcp_up
    else:
        source, down, up = "application", received["app_bytes_in"], received["app_bytes_out"]
    segments_out, segments_in = received.get("tcp_segments_out"), received.get("tcp_segments_in")
    down_per = down / delivered if delivered else None
    polls = received["polls"] or 0
    split = (
        figure.wire_split(
            step.transport,
            room,
            p["payload_bytes"],
            published["last_id"] or 1,
            down_per,
            delivered / polls if polls else 1.0,
            binary=bool(p.get("binary")),
        )
        if down_per is not None and source == "tcp_info"
        else {}
    )
    return {
        "down": round(down / delivered, 1) if delivered else None,
        "up": round(up / delivered, 1) if delivered else None,
        "payload": p["payload_bytes"],
        "source": source,
        "total_down": down,
        "total_up": up,
        "app_down": received["app_bytes_in"],
        "down_split": split,
        "segments_down": round(segments_in / delivered, 3)
        if segments_in is not None and delivered
        else None,
        "segments_up": round(segments_out / delivered, 3)
        if segments_out is not None and delivered
        else None,
        "ip_tcp_header_bytes_per_segment": figure.ip_tcp_header_bytes(),
    }


KNOBS = {"compression": "deflate", "tls": "TLS", "auth": "JWT", "ratelimit": "rate limits"}


def knobs_text(p: dict[str, Any]) -> str:
    return "".join(f", {label}" for key, label in KNOBS.items() if p.get(key))


def load_text(p: dict[str, Any]) -> str:
    return f"{p['subscribers']:,} sub × {p['rate']:g}/s, {p['payload_bytes']} B" + knobs_text(p)


def churn_load(p: dict[str, Any]) -> str:
    return load_text(p) + f", {p['churn_per_second']:g} drops/s"


def storm_load(p: dict[str, Any]) -> str:
    return load_text(p) + f", all reconnect within {p['storm_within_seconds']:g} s"


# One room, N subscribers, an open-loop publisher: the load every broadcast-like kind shares.
BROADCAST_LOAD: Parameters = {
    "subscribers": [100],
    "rate": [50.0],
    "payload_bytes": [90],
    "duration_seconds": [5.0],
    "warmup_seconds": [1.0],
    "compression": [False],
}
# tls, auth (a JWT checked at each handshake) and ratelimit (buckets that never trigger): knobs
# whose cost the report shows against the same step without them.
BROADCAST_PARAMETERS: Parameters = {
    **BROADCAST_LOAD,
    "tls": [False],
    "auth": [False],
    "ratelimit": [False],
    "driver_processes": [1],
    # Polls and handshakes carry Chromium's header set and a cookie, not the lean client's.
    "browser_headers": [False],
    # Random bytes published as binary events: binary frames on a WebSocket, base64 in JSON
    # on SSE and long polling.
    "binary": [False],
    # The ASGI server of the same app: uvicorn (HTTP/1.1) or hypercorn.
    "server": ["uvicorn"],
    # How events reach SSE and WebSocket sockets: `direct` (framed once, written as
    # published) or `asgi` (each connection's queue and ASGI send).
    "fanout": ["direct"],
    # Long polling and SSE over HTTP/2 (hypercorn, TLS with ALPN h2), with this many
    # subscribers multiplexed on each connection.
    "http2": [False],
    "streams_per_connection": [1],
}
# The same measurement against scenarios.load.null_server: what the harness itself adds.
BASELINE_PARAMETERS: Parameters = BROADCAST_LOAD
# Broadcast while subscribers drop and resume: loss must stay 0.
CHURN_PARAMETERS: Parameters = {**BROADCAST_LOAD, "churn_per_second": [20.0]}
# Every subscriber drops and resumes with its cursor within a second: 0 lost, and how long until
# p99 is back to its level before.
STORM_PARAMETERS: Parameters = {
    **BROADCAST_LOAD,
    "subscribers": [2000],
    "rate": [10.0],
    "duration_seconds": [8.0],
    "storm_after_seconds": [2.0],
    "storm_within_seconds": [1.0],
    "driver_processes": [1],
}
# A long broadcast with churn: the server's RSS and open fds sampled throughout; after a warm-up
# the RSS slope (MiB/h) and the fd range say whether anything leaks.
SOAK_PARAMETERS: Parameters = {
    **BROADCAST_LOAD,
    "subscribers": [200],
    "rate": [20.0],
    "duration_seconds": [600.0],
    "warmup_seconds": [2.0],
    "churn_per_second": [5.0],
    "sample_seconds": [5.0],
    "soak_warmup_seconds": [60.0],
}

KINDS = (
    Kind(
        name="broadcast",
        about=(
            "One room, N subscribers, an open-loop publisher: latency, loss, wire bytes and CPU "
            "per delivery."
        ),
        parameters=BROADCAST_PARAMETERS,
        measure=measure,
        targets=True,
        peers=True,
        load=load_text,
    ),
    Kind(
        name="baseline",
        about=(
            "The broadcast against the null server of the transport: what the harness itself adds."
        ),
        parameters=BASELINE_PARAMETERS,
        measure=measure,
        load=load_text,
    ),
    Kind(
        name="churn",
        about="Broadcast while subscribers drop and resume by id: loss must stay 0.",
        parameters=CHURN_PARAMETERS,
        measure=measure,
        targets=True,
        load=churn_load,
    ),
    Kind(
        name="storm",
        about=(
            "Every subscriber drops and resumes within a second: 0 lost, and how long until p99 "
            "recovers."
        ),
        parameters=STORM_PARAMETERS,
        measure=measure,
        targets=True,
        load=storm_load,
    ),
    Kind(
        name="soak",
        about=(
            "A long broadcast with churn, the server's RSS and open fds sampled throughout: does "
            "anything leak."
        ),
        parameters=SOAK_PARAMETERS,
        measure=measure,
        load=churn_load,
    ),
)

"""The lean measuring driver: N subscribers of one transport in one process.

    python -m scenarios.load.driver --transport sse --url http://127.0.0.1:8000 --room r \
        --subscribers 100 --measure-from-seq 50

Connects every subscriber (bounded concurrency), reports `ready`, then records the latency of
each event whose `seq` is at or after --measure-from-seq: receive time − the publisher's
scheduled send time, in an HdrHistogram. On `{"cmd": "drain", "last_id": L}` it waits until
every subscriber has L (or the drain time runs out) and reports counts, bytes and the encoded
histogram. Connections stay open and idle until then (the idle-connection scenario uses that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import time
from collections.abc import Callable
from typing import Any

from clients.aio.adapters import PROBES
from clients.aio.h2probe import H2_PROBES, H2Pool
from clients.aio.probe import Probe, client_tls
from scenarios import ipc
from scenarios.load import clock
from scenarios.load.members import Chat
from scenarios.load.recording import LatencyRecorder, drain, report, same_everywhere


async def connect_all(
    probes: list[Probe], concurrency: int, patience: float
) -> tuple[int, list[str]]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(probe: Probe) -> None:
        async with gate:
            try:
                await asyncio.wait_for(probe.open(), patience)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(p) for p in probes))
    return len(probes) - len(errors), errors


RESUME_CHECK_SECONDS = 0.1
"""How often `--reconnect` looks for subscribers whose connection ended."""


class Churn:
    """Drops a random subscriber's connection at a steady rate; it resumes on a new connection
    from the last id it saw (as `after` / `Last-Event-ID`), keeping its tally, so any event the
    drop cost shows up as lost."""

    def __init__(
        self,
        probes: list[Probe],
        make: Callable[..., Probe],
        recorder: LatencyRecorder,
        per_second: float,
    ) -> None:
        self.probes = probes
        self.make = make
        self.recorder = recorder
        self.interval = 1 / per_second if per_second else 0.0
        self.reconnects = 0
        self.failures: list[str] = []
        self.retired_tcp = [0, 0]
        self.retired_app = [0, 0]
        self.retired_segments: list[int] | None = [0, 0]
        self.rng = random.Random(1)
        self.task: asyncio.Task[None] | None = None
        self.resuming: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.replace(self.rng.randrange(len(self.probes)))

    def resume_lost(self) -> None:
        """From now on, a subscriber whose connection ends without the driver closing it (the
        server or the network closed it) resumes on a new one from its last id, as a client
        does, and counts as a reconnect."""
        self.resuming = asyncio.create_task(self.watch_lost())

    async def watch_lost(self) -> None:
        while True:
            await asyncio.sleep(RESUME_CHECK_SECONDS)
            for index, probe in enumerate(self.probes):
                if probe.closed.done() and not probe.error:
                    await self.replace(index)

    async def stop_resuming(self) -> None:
        if self.resuming is not None:
            self.resuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.resuming

    async def storm(self, within: float) -> None:
        """Every subscriber drops and resumes with its cursor, all within `within` seconds."""

        async def one(index: int) -> None:
            await asyncio.sleep(self.rng.uniform(0, within))
            await self.replace(index)

        await asyncio.gather(*(one(i) for i in range(len(self.probes))))

    async def replace(self, index: int) -> None:
        """Drop subscriber `index`'s connection; resume it on a new one from its last id."""
        old = self.probes[index]
        counted = old.wire_bytes()
        if counted is not None:
            self.retired_tcp[0] += counted[0]
            self.retired_tcp[1] += counted[1]
        segments = old.wire_segments()
        if segments is None or self.retired_segments is None:
            self.retired_segments = None
        else:
            self.retired_segments[0] += segments[0]
            self.retired_segments[1] += segments[1]
        self.retired_app[0] += old.bytes_out
        self.retired_app[1] += old.bytes_in
        old.close()
        new = self.make(after=old.tally.last_id, tally=old.tally)
        self.probes[index] = new
        self.reconnects += 1
        self.recorder.timeline.reconnect(time.time_ns())
        try:
            await new.open()
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")


async def main(args: argparse.Namespace) -> None:
    recorder = LatencyRecorder(
        args.measure_from_seq, args.drop_every, args.timeline_origin_ns, args.latencies_over_time
    )
    cls = PROBES[args.transport]
    options: dict[str, Any] = {"tls": client_tls(args.tls_ca)}
    if args.http2:
        cls = H2_PROBES[args.transport]
        options["pool"] = H2Pool(args.streams_per_connection)
    if args.token:
        options["token"] = args.token
    if args.browser_headers:
        options["browser_headers"] = True
    if args.transport == "ws":
        options["compression"] = args.compression
    make = functools.partial(cls, args.url, args.room, recorder, **options)
    probes = [make() for _ in range(args.subscribers)]
    if args.rooms > 1:  # chat: members spread over rooms, each room its own conversation
        for index, probe in enumerate(probes):
            probe.room = f"{args.room}-{index % args.rooms}"
    churn = (
        Churn(probes, make, recorder, args.churn_per_second)
        if args.churn_per_second or args.latencies_over_time or args.reconnect
        else None
    )
    offset = await clock.offset(*address_of(args.clock)) if args.clock else None
    if offset is not None:
        recorder.offset_ns = offset.offset_ns
    started = time.monotonic()
    connected, errors = await connect_all(probes, args.connect_concurrency, args.patience)
    ready = ipc.DriverReady(
        event="ready",
        connected=connected,
        failed=len(errors),
        errors=errors[:5],
        seconds=round(time.monotonic() - started, 3),
    )
    if offset is not None:
        ready["clock_offset_ns"] = offset.offset_ns
        ready["clock_uncertainty_ns"] = offset.uncertainty_ns
    ipc.emit(ready)
    if churn is not None and args.churn_per_second:
        churn.start()
    if churn is not None and args.reconnect:
        churn.resume_lost()
    storming: asyncio.Task[None] | None = None
    commands = await ipc.commands()
    while line := await commands.readline():
        command = json.loads(line)
        if command["cmd"] == "storm" and churn is not None:
            storming = asyncio.create_task(churn.storm(float(command["within"])))
            continue
        if storming is not None:
            await storming
        if churn is not None:
            await churn.stop()
        if command["cmd"] == "drain":
            target = same_everywhere(command["last_id"])
            complete = await drain(probes, target, command["seconds"])
            if churn is not None:
                await churn.stop_resuming()
            report(probes, recorder, target, complete, churn)
            break
        if command["cmd"] == "chat":
            await Chat(args, probes, recorder, command).run()
            break
        if command["cmd"] == "stop":
            report(probes, recorder, None, True, churn)
            break
    for probe in probes:
        probe.close()


def address_of(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.driver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--transport", choices=list(PROBES), required=True)
    p.add_argument("--url", required=True, help="server base URL (loopback or a host's)")
    p.add_argument(
        "--clock",
        metavar="HOST:PORT",
        help="the publisher host's clock (scenarios.load.clock): its offset against this "
        "host's, estimated before connecting, is added to every receive time",
    )
    p.add_argument("--room", required=True)
    p.add_argument("--subscribers", type=int, required=True)
    p.add_argument("--measure-from-seq", type=int, default=0)
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--patience", type=float, default=30.0, help="seconds to connect one")
    p.add_argument("--compression", action="store_true", help="WebSocket permessage-deflate")
    p.add_argument(
        "--http2",
        action="store_true",
        help="long polling or SSE over HTTP/2 (ALPN h2: needs an https:// server and --tls-ca)",
    )
    p.add_argument(
        "--streams-per-connection",
        type=int,
        default=1,
        help="with --http2: subscribers multiplexed on one connection (default 1)",
    )
    p.add_argument("--tls-ca", metavar="PEM", help="CA to trust for an https:// server")
    p.add_argument("--token", help="JWT sent with every subscribe (servers with auth on)")
    p.add_argument(
        "--browser-headers",
        action="store_true",
        help="send the request headers (and a typical cookie) Chromium sends, on every poll "
        "and handshake, instead of the lean client's minimal set",
    )
    p.add_argument(
        "--timeline-origin-ns",
        type=int,
        default=0,
        help="time zero of the delivery timeline (default: start of this process)",
    )
    p.add_argument("--rooms", type=int, default=1, help="spread subscribers over this many rooms")
    p.add_argument(
        "--churn-per-second",
        type=float,
        default=0.0,
        help="drop and resume this many subscriber connections per second",
    )
    p.add_argument(
        "--latencies-over-time",
        action="store_true",
        help='keep p99 per 100 ms in the timeline, and accept {"cmd": "storm", '
        '"within": S}: every subscriber drops and resumes with its cursor within S seconds',
    )
    p.add_argument(
        "--reconnect",
        action="store_true",
        help="a subscriber whose connection ends without the driver closing it resumes on a "
        "new one from its last id, as a client does (counted as a reconnect)",
    )
    p.add_argument("--drop-every", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cpus", type=str, default="", help="comma-separated CPUs to pin to")
    return p


def run() -> None:
    args = parser().parse_args()
    if args.http2 and (args.transport not in H2_PROBES or not args.url.startswith("https://")):
        raise SystemExit(
            f"expected --http2 with {' or '.join(H2_PROBES)} on an https:// server, "
            f"got {args.transport} on {args.url}"
        )
    ipc.pin({int(c) for c in args.cpus.split(",") if c})
    ipc.raise_open_files_limit()
    ipc.use_fast_loop()
    asyncio.run(main(args))


if __name__ == "__main__":
    run()

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

from clients.aio import socketio_probe
from clients.aio.h2probe import H2_PROBES, H2Pool
from clients.aio.probe import PROBES, Probe, Recorder, Tally, WSProbe, client_tls
from clients.stamped import payload, schedule_of
from core import jsonc
from core.urls import events_path
from core.wire import http
from scenarios import ipc
from scenarios.load.publisher import PublishConnection, Schedule
from scenarios.measure import Samples, encode, new_histogram, record_us, summary

ALL_PROBES: dict[str, type[Probe]] = {**PROBES, **socketio_probe.PROBES}

TIMELINE_BUCKET_NS = 100_000_000
TIMELINE_BUCKETS = 6000


class Timeline:
    """Deliveries and reconnects per 100 ms, so a report can show a drop and its recovery.
    Several driver processes given one origin produce timelines that add up bucket by bucket."""

    def __init__(self, origin_ns: int = 0, latencies: bool = False) -> None:
        self.start_ns = origin_ns or time.time_ns()
        self.delivered: list[int] = []
        self.reconnects: list[int] = []
        self.latencies: list[list[int]] | None = [] if latencies else None
        """Per bucket, every latency (µs) delivered in it: a storm's p99 over time."""

    def _bucket(self, now_ns: int) -> int:
        index = min((now_ns - self.start_ns) // TIMELINE_BUCKET_NS, TIMELINE_BUCKETS - 1)
        while len(self.delivered) <= index:
            self.delivered.append(0)
            self.reconnects.append(0)
            if self.latencies is not None:
                self.latencies.append([])
        return int(index)

    def deliver(self, now_ns: int, latency_us: int | None = None) -> None:
        index = (now_ns - self.start_ns) // TIMELINE_BUCKET_NS
        if not 0 <= index < len(self.delivered):
            index = self._bucket(now_ns)
        self.delivered[index] += 1
        if self.latencies is not None and latency_us is not None:
            self.latencies[index].append(latency_us)

    def p99_us(self) -> list[int | None]:
        assert self.latencies is not None
        return [sorted(b)[int(0.99 * (len(b) - 1))] if b else None for b in self.latencies]

    def reconnect(self, now_ns: int) -> None:
        self.reconnects[self._bucket(now_ns)] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "bucket_ms": TIMELINE_BUCKET_NS // 1_000_000,
            "start_ns": self.start_ns,
            "delivered": self.delivered,
            "reconnects": self.reconnects,
            **({"p99_us": self.p99_us()} if self.latencies is not None else {}),
        }


class LatencyRecorder(Recorder):
    def __init__(
        self,
        measure_from_seq: int,
        drop_every: int = 0,
        origin_ns: int = 0,
        latencies_over_time: bool = False,
    ) -> None:
        self.measure_from_seq = measure_from_seq
        self.drop_every = drop_every
        self.seen = 0
        self.timeline = Timeline(origin_ns, latencies_over_time)
        self.samples = Samples()
        self.measured = 0
        self.unmeasurable = 0

    def record(self, tally: Tally, event_id: int, data: Any, received_ns: int) -> None:
        self.seen += 1
        if self.drop_every and self.seen % self.drop_every == 0:
            return  # fault injection: proves that loss is seen, never used in a benchmark
        if not tally.see(event_id):
            return
        schedule = schedule_of(data)
        if schedule is None:
            self.timeline.deliver(received_ns)
            self.unmeasurable += 1
            return
        seq, scheduled_ns = schedule
        latency_us = (received_ns - scheduled_ns) // 1000
        self.timeline.deliver(received_ns, latency_us)
        if seq >= self.measure_from_seq:
            self.samples.add(latency_us)
            self.measured += 1


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


LastId = Callable[[Probe], int]
"""The last id published in a probe's room (what it must have received)."""


def same_everywhere(last_id: int) -> LastId:
    """One room (broadcast): every probe must reach the same id."""
    return lambda probe: last_id


async def drain(probes: list[Probe], last_id: LastId, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(
            p.tally.last_id >= last_id(p) and not p.tally.missing for p in probes if not p.error
        ):
            return True
        await asyncio.sleep(0.01)
    return False


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
    cls = ALL_PROBES[args.transport]
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
        if args.churn_per_second or args.latencies_over_time
        else None
    )
    started = time.monotonic()
    connected, errors = await connect_all(probes, args.connect_concurrency, args.patience)
    ipc.emit(
        ipc.DriverReady(
            event="ready",
            connected=connected,
            failed=len(errors),
            errors=errors[:5],
            seconds=round(time.monotonic() - started, 3),
        )
    )
    if churn is not None and args.churn_per_second:
        churn.start()
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


def report(
    probes: list[Probe],
    recorder: LatencyRecorder,
    last_id: LastId | None,
    complete: bool,
    churn: Churn | None,
    also_counted: tuple[list[int], list[int]] | None = None,
    published: ipc.Published | None = None,
) -> None:
    """`also_counted`: (tcp, app) [out, in] bytes of connections no longer in `probes` (churned)
    or not subscribers at all (chat members' publish connections)."""
    # Segments are counted only where every connection that carried the step is known: the
    # subscribers, and those a churn retired; a chat's publish connections are not.
    segments: list[int] | None = [0, 0] if also_counted is None else None
    if also_counted is None and churn is not None:
        also_counted = (churn.retired_tcp, churn.retired_app)
        segments = list(churn.retired_segments) if churn.retired_segments is not None else None
    (tcp_out, tcp_in), (app_out, app_in) = also_counted or ([0, 0], [0, 0])
    tcp_ok = True
    for probe in probes:
        counted = probe.wire_bytes()
        if counted is None:
            tcp_ok = False
        else:
            tcp_out += counted[0]
            tcp_in += counted[1]
        seen = probe.wire_segments()
        if seen is None or segments is None:
            segments = None
        else:
            segments = [segments[0] + seen[0], segments[1] + seen[1]]
    tallies = [p.tally for p in probes]
    errors = [p.error for p in probes if p.error]
    result = ipc.DriverResult(
        event="result",
        subscribers=len(probes),
        complete=complete,
        delivered=sum(t.delivered for t in tallies),
        lost=sum(p.tally.lost(last_id(p)) for p in probes) if last_id else 0,
        expected=sum(last_id(p) for p in probes) if last_id else 0,
        duplicated=sum(t.duplicated for t in tallies),
        reordered=sum(t.reordered for t in tallies),
        gap_notices=sum(t.gap_notices for t in tallies),
        measured=recorder.measured,
        unmeasurable=recorder.unmeasurable,
        histogram=encode(recorder.samples.histogram()),
        app_bytes_in=app_in + sum(p.bytes_in for p in probes),
        app_bytes_out=app_out + sum(p.bytes_out for p in probes),
        tcp_bytes_in=tcp_in if tcp_ok else None,
        tcp_bytes_out=tcp_out if tcp_ok else None,
        tcp_segments_out=segments[0] if segments else None,
        tcp_segments_in=segments[1] if segments else None,
        polls=sum(getattr(p, "polls", 0) for p in probes),
        errors=errors[:5],
        error_count=len(errors),
        reconnects=churn.reconnects if churn else 0,
        reconnect_failures=churn.failures[:5] if churn else [],
        reconnect_failure_count=len(churn.failures) if churn else 0,
        timeline=recorder.timeline.as_json(),
    )
    if published is not None:
        result["published"] = published
    ipc.emit(result)


class Chat:
    """Members publish into their own room through their own transport, open loop: over the
    socket for WebSocket (`{"op": "publish"}`), over a POST on the member's own keep-alive
    connection for SSE and long polling. Every member receives its room, its own messages
    included, so the cost of client-to-server traffic shows in the same figures.

    With `acknowledged`, each message waits for its acknowledgement, as an edit in a shared
    document does: the WebSocket frame carries an `ack` number the server echoes, a POST is
    acknowledged by its 201; the time from the scheduled send to the acknowledgement is kept."""

    def __init__(
        self,
        args: argparse.Namespace,
        probes: list[Probe],
        recorder: LatencyRecorder,
        command: dict[str, Any],
    ) -> None:
        self.args = args
        self.probes = probes
        self.recorder = recorder
        self.member_rate = float(command["member_rate"])
        self.warmup = float(command["warmup"])
        self.duration = float(command["duration"])
        self.size = int(command["payload_bytes"])
        self.drain_seconds = float(command["drain_seconds"])
        self.posts: dict[int, PublishConnection] = {}
        self.room_last: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.published = 0
        self.lag = new_histogram()
        self.acknowledged = bool(command.get("acknowledged"))
        self.acknowledgement = new_histogram()
        self.awaiting: dict[int, int] = {}
        """Scheduled send time (ns) of each measured WebSocket publish, by its `ack` number."""

    async def connect_posts(self) -> None:
        if self.args.transport == "ws":
            return
        loop = asyncio.get_running_loop()
        probe = self.probes[0]
        for index in range(len(self.probes)):
            _, conn = await loop.create_connection(
                PublishConnection,
                probe.host,
                probe.port,
                ssl=probe.tls,
                server_hostname=probe.host if probe.tls else None,
            )
            self.posts[index] = conn

    def send(self, index: int, seq: int, scheduled_ns: int, measured: bool) -> None:
        probe = self.probes[index]
        if measured:
            record_us(self.lag, (time.time_ns() - scheduled_ns) / 1000)
        body = payload(seq, scheduled_ns, self.size)
        if isinstance(probe, WSProbe):
            op = b'{"op":"publish",'
            if self.acknowledged:
                op += b'"ack":%d,' % seq
                if measured:
                    self.awaiting[seq] = scheduled_ns
            probe.publish(op + body[1:])  # body is {"data": ...}
            return
        request = http.build_request(
            "POST",
            events_path(probe.room),
            probe.netloc,
            {"content-type": "application/json"},
            body,
        )
        self.posts[index].request(request).add_done_callback(
            functools.partial(self.answered, probe.room, scheduled_ns if measured else None)
        )

    def answered(
        self, room: str, scheduled_ns: int | None, future: asyncio.Future[tuple[int, bytes]]
    ) -> None:
        try:
            status, body = future.result()
        except ConnectionError as exc:
            self.errors[str(exc)] = self.errors.get(str(exc), 0) + 1
            return
        if status == 201 and self.acknowledged and scheduled_ns is not None:
            record_us(self.acknowledgement, (time.time_ns() - scheduled_ns) / 1000)
        if status == 201:
            self.published += 1
            event_id = jsonc.loads_fast(body)["id"]
            self.room_last[room] = max(self.room_last.get(room, 0), event_id)
        else:
            self.errors[f"HTTP {status}"] = self.errors.get(f"HTTP {status}", 0) + 1

    def acked(self, number: int, received_ns: int) -> None:
        scheduled_ns = self.awaiting.pop(number, None)
        if scheduled_ns is not None:
            record_us(self.acknowledgement, (received_ns - scheduled_ns) / 1000)

    def last_id(self, probe: Probe) -> int:
        return self.room_last.get(probe.room, 0)

    async def run(self) -> None:
        await self.connect_posts()
        if self.acknowledged:
            for probe in self.probes:
                probe.on_ack = self.acked
        members = len(self.probes)
        schedule = Schedule(members * self.member_rate, self.warmup, self.duration)
        warmup_count, total = schedule.warmup_count, schedule.total
        async for seq, scheduled_ns in schedule:
            self.send(seq % members, seq, scheduled_ns, seq >= warmup_count)
        measured_ended = time.time_ns()
        measured_started = schedule.measured_started_ns
        await asyncio.sleep(0.5)  # the last answers and acks
        for probe in self.probes:
            if isinstance(probe, WSProbe):
                self.published += probe.acks
                self.room_last[probe.room] = max(self.room_last.get(probe.room, 0), probe.acked_id)
        complete = await drain(self.probes, self.last_id, self.drain_seconds)
        measured = total - warmup_count
        refused = sum(p.replies_refused for p in self.probes)
        if refused:
            self.errors["refused over the socket"] = refused
        if self.awaiting:
            self.errors["never acknowledged"] = len(self.awaiting)
        tcp, app = [0, 0], [0, 0]
        for conn in self.posts.values():
            counted = conn.wire_bytes() or (0, 0)
            tcp = [tcp[0] + counted[0], tcp[1] + counted[1]]
            app = [app[0] + conn.bytes_out, app[1] + conn.bytes_in]
        published = ipc.Published(
            published=self.published,
            warmup=warmup_count,
            measured=measured,
            last_id=max(self.room_last.values(), default=0),
            achieved_rate=round(measured / max(1e-9, (measured_ended - measured_started) / 1e9), 3),
            lag=summary(self.lag),
            lag_histogram=encode(self.lag),
            errors=self.errors,
        )
        if self.acknowledged:
            published["acknowledgement_histogram"] = encode(self.acknowledgement)
        report(self.probes, self.recorder, self.last_id, complete, None, (tcp, app), published)
        for conn in self.posts.values():
            if conn.transport is not None:
                conn.transport.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.driver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--transport", choices=list(ALL_PROBES), required=True)
    p.add_argument("--url", required=True, help="server base URL (loopback)")
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

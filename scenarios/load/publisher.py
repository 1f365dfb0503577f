"""The open-loop publisher: events at a fixed schedule, whatever the server does.

    python -m scenarios.load.publisher --url http://127.0.0.1:8000 --room r --rate 50 \
        --warmup 1 --duration 5 --payload-bytes 90

Event `seq` is due at start + seq/rate. Its `data` carries that *scheduled* time (`t`, ns), so a
server that makes the publisher wait cannot hide the wait from the latency it is measured by
(no coordinated omission). Requests go over a few keep-alive connections; when all are busy the
next event waits, and that lag behind schedule is recorded too. Reports `measuring` when the
warmup ends and `result` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram

from clients.aio.probe import client_tls, tcp_bytes
from clients.stamped import binary_payload, payload
from core.decoding import BINARY_MEDIA_TYPE
from core.urls import events_path
from core.wire import http
from scenarios import ipc
from scenarios.measure import encode, new_histogram, record_us, summary


class PublishConnection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.reader = http.ResponseReader()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[tuple[int, bytes]]] = deque()
        self.status = 0
        self.body: list[bytes] = []
        self.bytes_in = 0
        self.bytes_out = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        for part in self.reader.feed(data):
            if isinstance(part, http.Head):
                self.status, self.body = part.status, []
            elif isinstance(part, http.Body):
                self.body.append(part.data)
            elif self.waiting:
                self.waiting.popleft().set_result((self.status, b"".join(self.body)))

    def connection_lost(self, exc: Exception | None) -> None:
        while self.waiting:
            self.waiting.popleft().set_exception(ConnectionError(f"connection lost: {exc}"))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Write the request now; the future resolves with (status, body)."""
        assert self.transport is not None
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.bytes_out += len(data)
        self.transport.write(data)
        return future

    def wire_bytes(self) -> tuple[int, int] | None:
        sock = self.transport.get_extra_info("socket") if self.transport else None
        return tcp_bytes(sock) if sock is not None else None


SPIN_NS = 500_000


async def until(due_ns: int) -> None:
    """Wait for `due_ns`: sleep most of the way, then spin the last half millisecond, because
    a timer wakes up to a millisecond late and that lateness would count as latency."""
    remaining = due_ns - time.time_ns()
    if remaining > SPIN_NS:
        await asyncio.sleep((remaining - SPIN_NS) / 1e9)
    while time.time_ns() < due_ns:
        pass


@dataclass
class Schedule:
    """An open-loop schedule: event `seq` is due at start + seq/rate, whatever happens. The
    first `warmup_count` events are not measured; `measuring` is announced when the rest
    begin."""

    rate: float
    warmup_seconds: float
    duration_seconds: float
    measured_started_ns: int = 0

    @property
    def warmup_count(self) -> int:
        return int(self.warmup_seconds * self.rate)

    @property
    def total(self) -> int:
        return self.warmup_count + max(1, int(self.duration_seconds * self.rate))

    async def __aiter__(self) -> AsyncIterator[tuple[int, int]]:
        """(seq, scheduled time in ns), each yielded at its scheduled time."""
        interval_ns = int(1e9 / self.rate)
        start_ns = time.time_ns() + 20_000_000
        for seq in range(self.total):
            scheduled_ns = start_ns + seq * interval_ns
            await until(scheduled_ns)
            if seq == self.warmup_count:
                self.measured_started_ns = time.time_ns()
                ipc.emit(ipc.Measuring(event="measuring", seq=seq))
            yield seq, scheduled_ns


async def main(args: argparse.Namespace) -> None:
    parts = urlsplit(args.url)
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[PublishConnection] = asyncio.Queue()
    tls = client_tls(args.tls_ca) if parts.scheme == "https" else None
    for _ in range(args.connections):
        _, conn = await loop.create_connection(
            PublishConnection,
            parts.hostname,
            parts.port or (443 if tls else 80),
            ssl=tls,
            server_hostname=parts.hostname if tls else None,
        )
        idle.put_nowait(conn)

    schedule = Schedule(args.rate, args.warmup, args.duration)
    warmup_count = schedule.warmup_count
    lag = new_histogram()
    ids: list[int] = []
    errors: dict[str, int] = {}
    target = events_path(args.room)
    headers = {"content-type": BINARY_MEDIA_TYPE if args.binary else "application/json"}
    make_body = binary_payload if args.binary else payload
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"
    in_flight: set[asyncio.Task[None]] = set()
    measured_ended_ns = 0

    async def finish(conn: PublishConnection, seq: int, answer: asyncio.Future[Any]) -> None:
        nonlocal measured_ended_ns
        try:
            status, body = await answer
        except ConnectionError as exc:
            errors[str(exc)] = errors.get(str(exc), 0) + 1
            return
        idle.put_nowait(conn)
        if args.ids_by_sequence and status in (201, 202):
            ids.append(seq + 1)
        elif status == 201:
            ids.append(json.loads(body)["id"])
        else:
            key = f"HTTP {status}"
            errors[key] = errors.get(key, 0) + 1
            return
        if seq >= warmup_count:
            measured_ended_ns = time.time_ns()

    async def send_when_free(seq: int, scheduled_ns: int) -> None:
        conn = await idle.get()
        await finish(conn, seq, send_now(conn, seq, scheduled_ns))

    def send_now(conn: PublishConnection, seq: int, scheduled_ns: int) -> asyncio.Future[Any]:
        if seq >= warmup_count:
            record_us(lag, (time.time_ns() - scheduled_ns) / 1000)
        body = make_body(seq, scheduled_ns, args.payload_bytes)
        return conn.request(http.build_request("POST", target, parts.netloc, headers, body))

    async for seq, scheduled_ns in schedule:
        if idle.empty():  # every connection is busy: this event waits, and the lag shows it
            task = asyncio.create_task(send_when_free(seq, scheduled_ns))
        else:
            conn = idle.get_nowait()
            task = asyncio.create_task(finish(conn, seq, send_now(conn, seq, scheduled_ns)))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)

    ipc.emit(result(ids, schedule, measured_ended_ns, lag, errors))


def result(
    ids: list[int],
    schedule: Schedule,
    measured_ended_ns: int,
    lag: HdrHistogram,
    errors: dict[str, int],
) -> ipc.PublisherResult:
    """What was published, and at what rate once the warm-up was over."""
    measured = len(ids) - min(schedule.warmup_count, len(ids))
    elapsed = max(1e-9, (measured_ended_ns - schedule.measured_started_ns) / 1e9)
    return ipc.PublisherResult(
        event="result",
        published=len(ids),
        first_id=min(ids) if ids else None,
        last_id=max(ids) if ids else None,
        warmup=schedule.warmup_count,
        measured=measured,
        achieved_rate=round(measured / elapsed, 3) if measured > 1 else None,
        lag=summary(lag),
        lag_histogram=encode(lag),
        errors=errors,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.publisher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--rate", type=float, required=True, help="events per second")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds not measured")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    p.add_argument("--payload-bytes", type=int, default=90, help="size of each event's data")
    p.add_argument(
        "--binary",
        action="store_true",
        help="publish binary events (random bytes, application/octet-stream) instead of JSON",
    )
    p.add_argument(
        "--ids-by-sequence",
        action="store_true",
        help="the server does not number events (Nchan: 201 or 202, no id): event N of the "
        "sequence, from 0, is id N + 1, as the subscribers count it",
    )
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--tls-ca", metavar="PEM", help="CA to trust for an https:// server")
    p.add_argument("--token", help="JWT sent with every publish (servers with auth on)")
    p.add_argument("--cpus", type=str, default="")
    return p


def run() -> None:
    args = parser().parse_args()
    if not 0 < args.rate <= 100_000:
        raise SystemExit(f"expected --rate in (0, 100000] events/s, got {args.rate}")
    ipc.pin({int(c) for c in args.cpus.split(",") if c})
    ipc.use_fast_loop()
    asyncio.run(main(args))


if __name__ == "__main__":
    run()

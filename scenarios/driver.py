"""The lean measuring driver: N subscribers of one transport in one process.

    python -m scenarios.driver --transport sse --url http://127.0.0.1:8000 --room r \
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
import json
import time
from typing import Any

from clients.aio.probe import PROBES, Probe, Recorder, Tally
from scenarios import ipc
from scenarios.measure import encode, new_histogram, record_us


class LatencyRecorder(Recorder):
    def __init__(self, measure_from_seq: int, drop_every: int = 0) -> None:
        self.measure_from_seq = measure_from_seq
        self.drop_every = drop_every
        self.seen = 0
        self.histogram = new_histogram()
        self.measured = 0
        self.unmeasurable = 0

    def record(self, tally: Tally, event_id: int, data: Any, received_ns: int) -> None:
        self.seen += 1
        if self.drop_every and self.seen % self.drop_every == 0:
            return  # fault injection: proves that loss is seen, never used in a benchmark
        if not tally.see(event_id):
            return
        try:
            seq, scheduled_ns = data["seq"], data["t"]
        except (TypeError, KeyError):
            self.unmeasurable += 1
            return
        if seq >= self.measure_from_seq:
            record_us(self.histogram, (received_ns - scheduled_ns) / 1000)
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


async def drain(probes: list[Probe], last_id: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(p.tally.last_id >= last_id and not p.tally.missing for p in probes if not p.error):
            return True
        await asyncio.sleep(0.01)
    return False


async def main(args: argparse.Namespace) -> None:
    recorder = LatencyRecorder(args.measure_from_seq, args.drop_every)
    cls = PROBES[args.transport]
    options: dict[str, Any] = {}
    if args.transport == "ws":
        options["compression"] = args.compression
    probes = [cls(args.url, args.room, recorder, **options) for _ in range(args.subscribers)]
    started = time.monotonic()
    connected, errors = await connect_all(probes, args.connect_concurrency, args.patience)
    ipc.emit(
        "ready",
        connected=connected,
        failed=len(errors),
        errors=errors[:5],
        seconds=round(time.monotonic() - started, 3),
    )
    commands = await ipc.commands()
    while line := await commands.readline():
        command = json.loads(line)
        if command["cmd"] == "drain":
            complete = await drain(probes, command["last_id"], command["seconds"])
            report(probes, recorder, command["last_id"], complete)
            break
        if command["cmd"] == "stop":
            report(probes, recorder, 0, True)
            break
    for probe in probes:
        probe.close()


def report(probes: list[Probe], recorder: LatencyRecorder, last_id: int, complete: bool) -> None:
    tcp_in = tcp_out = 0
    tcp_ok = True
    for probe in probes:
        counted = probe.wire_bytes()
        if counted is None:
            tcp_ok = False
        else:
            tcp_out += counted[0]
            tcp_in += counted[1]
    tallies = [p.tally for p in probes]
    errors = [p.error for p in probes if p.error]
    ipc.emit(
        "result",
        subscribers=len(probes),
        complete=complete,
        delivered=sum(t.delivered for t in tallies),
        lost=sum(t.lost(last_id) for t in tallies) if last_id else 0,
        duplicated=sum(t.duplicated for t in tallies),
        reordered=sum(t.reordered for t in tallies),
        gap_notices=sum(t.gap_notices for t in tallies),
        measured=recorder.measured,
        unmeasurable=recorder.unmeasurable,
        histogram=encode(recorder.histogram),
        app_bytes_in=sum(p.bytes_in for p in probes),
        app_bytes_out=sum(p.bytes_out for p in probes),
        tcp_bytes_in=tcp_in if tcp_ok else None,
        tcp_bytes_out=tcp_out if tcp_ok else None,
        polls=sum(getattr(p, "polls", 0) for p in probes),
        errors=errors[:5],
        error_count=len(errors),
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.driver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--transport", choices=list(PROBES), required=True)
    p.add_argument("--url", required=True, help="server base URL (loopback)")
    p.add_argument("--room", required=True)
    p.add_argument("--subscribers", type=int, required=True)
    p.add_argument("--measure-from-seq", type=int, default=0)
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--patience", type=float, default=30.0, help="seconds to connect one")
    p.add_argument("--compression", action="store_true", help="WebSocket permessage-deflate")
    p.add_argument("--drop-every", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cpus", type=str, default="", help="comma-separated CPUs to pin to")
    return p


def run() -> None:
    args = parser().parse_args()
    ipc.pin({int(c) for c in args.cpus.split(",") if c})
    ipc.raise_open_files_limit()
    ipc.use_fast_loop()
    asyncio.run(main(args))


if __name__ == "__main__":
    run()

"""What the driver keeps of every delivery and reports at the end: raw latency samples, a
timeline of deliveries and reconnects bucket by bucket, the drain that waits for the last
event, and the result line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from clients.aio.probe import Probe, Recorder, Tally
from clients.stamped import schedule_of
from scenarios import ipc
from scenarios.measure import Samples, encode


class Retired(Protocol):
    """What subscribers that were dropped and replaced (the driver's churn) leave to count:
    their bytes and segments, and how their reconnects went."""

    reconnects: int
    failures: list[str]
    retired_tcp: list[int]
    retired_app: list[int]
    retired_segments: list[int] | None


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
        self.offset_ns = 0
        """Added to a receive time to read it on the publisher's clock (`scenarios.load.clock`)."""

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
        latency_us = (received_ns + self.offset_ns - scheduled_ns) // 1000
        self.timeline.deliver(received_ns, latency_us)
        if seq >= self.measure_from_seq:
            self.samples.add(latency_us)
            self.measured += 1


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


def report(
    probes: list[Probe],
    recorder: LatencyRecorder,
    last_id: LastId | None,
    complete: bool,
    churn: Retired | None,
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

"""Counters every server keeps; `/status` reads them (Prometheus export builds on the same)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateWindow:
    """Events counted per second over the last `seconds`; clock passed in, so it stays pure."""

    seconds: int = 60
    _slots: list[int] = field(default_factory=list)
    _slot_second: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._slots = [0] * self.seconds
        self._slot_second = [-1] * self.seconds

    def add(self, now_s: float, count: int = 1) -> None:
        second = int(now_s)
        index = second % self.seconds
        if self._slot_second[index] != second:
            self._slot_second[index] = second
            self._slots[index] = 0
        self._slots[index] += count

    def total(self, now_s: float) -> int:
        """Events in the last `seconds` whole seconds, the current one included."""
        oldest = int(now_s) - self.seconds + 1
        return sum(n for n, s in zip(self._slots, self._slot_second, strict=True) if s >= oldest)


@dataclass(slots=True)
class LatencySample:
    """Delivery latency inside the server (write time − publish time), sampled: one delivery
    in `every` is kept, the newest `size` of them, so the cost stays flat at any load."""

    every: int = 8
    size: int = 4096
    _seen: int = 0
    _values: deque[float] = field(default_factory=deque)

    def offer(self, publish_ns: int, now_ns: int, count: int = 1) -> None:
        """`count` deliveries of one event, all written by `now_ns`."""
        kept = (self._seen + count) // self.every - self._seen // self.every
        self._seen += count
        if kept:
            latency_ms = (now_ns - publish_ns) / 1e6
            for _ in range(min(kept, self.size)):
                if len(self._values) >= self.size:
                    self._values.popleft()
                self._values.append(latency_ms)

    def percentiles_ms(self) -> dict[str, float | int | None]:
        values = sorted(self._values)
        if not values:
            return {"p50": None, "p99": None, "samples": 0}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))], 3)

        return {"p50": pick(0.50), "p99": pick(0.99), "samples": len(values)}


LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                     0.25, 0.5, 1.0, 2.5)  # fmt: skip
"""Upper bounds of the in-server delivery latency histogram (seconds), Prometheus style."""


@dataclass(slots=True)
class LatencyHistogram:
    """Every delivery counted into fixed buckets: what a Prometheus histogram exports."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=list)
    total_s: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float, count: int = 1) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += count
        self.total_s += seconds * count
        self.count += count

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, cumulative count) pairs ending with +Inf, as Prometheus wants them."""
        running, out = 0, []
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(slots=True)
class Stats:
    published: int = 0
    delivered: int = 0
    delivered_direct: int = 0
    """Of `delivered`, those written by the fan-out's fast path (`fanout = "direct"`)."""
    dropped_subscribers: int = 0
    reclaimed_rooms: int = 0
    connections_opened: int = 0
    connections_closed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    published_window: RateWindow = field(default_factory=RateWindow)
    errors_window: RateWindow = field(default_factory=RateWindow)
    delivery_latency: LatencySample = field(default_factory=LatencySample)
    latency_histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    auth_failures: Counter[str] = field(default_factory=Counter)
    """By reason: missing, expired, bad_signature, wrong_audience, no_right, origin…"""
    rate_limited: Counter[str] = field(default_factory=Counter)
    """By what was limited: publish, ws_message."""

    def count_delivery(self, published_ns: int, now_ns: int, count: int = 1) -> None:
        """An event written to `count` subscribers: the count, and its latency inside the
        server."""
        self.delivered += count
        self.delivery_latency.offer(published_ns, now_ns, count)
        self.latency_histogram.observe((now_ns - published_ns) / 1e9, count)

    def count_direct(self, published_ns: int, now_ns: int, count: int) -> None:
        """An event the fan-out's fast path wrote to `count` subscribers by `now_ns`."""
        self.count_delivery(published_ns, now_ns, count)
        self.delivered_direct += count

    @property
    def connections(self) -> int:
        return self.connections_opened - self.connections_closed

"""`/metrics` in the Prometheus text format, names prefixed `rtbench_`.

A collector reads the hub's counters at scrape time, so serving events costs nothing extra;
each app has its own registry, so several servers can live in one process (tests).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from servers.hub import Hub


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub, stats = self.hub, self.hub.stats
        labels = ["transport"]
        connections = GaugeMetricFamily(
            "rtbench_connections",
            "Open subscriber connections",
            labels=["transport", "namespace"],
        )
        for name, space in sorted(hub.spaces.items()):
            connections.add_metric([hub.transport, name], space.connections)
        yield connections
        limit = GaugeMetricFamily(
            "rtbench_connections_limit",
            "Subscriber connections the server accepts (limits.max_connections)",
            labels=labels,
        )
        limit.add_metric([hub.transport], hub.limits.max_connections)
        yield limit
        broker_up = GaugeMetricFamily(
            "rtbench_broker_up",
            "1 while the broker answers (Redis connected, or the memory broker), else 0",
            labels=["transport", "broker"],
        )
        broker_up.add_metric([hub.transport, hub.broker.kind],
                             1.0 if hub.broker.health().get("ok") else 0.0)  # fmt: skip
        yield broker_up
        for name, help_text, value in (
            ("rtbench_events_published", "Events accepted by the broker", stats.published),
            ("rtbench_events_delivered", "Events written to subscribers", stats.delivered),
            (
                "rtbench_events_delivered_direct",
                "Events written by the fan-out's fast path, without a per-subscriber task",
                stats.delivered_direct,
            ),
            ("rtbench_subscribers_dropped", "Subscribers dropped as too slow",
             stats.dropped_subscribers),
            ("rtbench_connections_opened", "Subscriber connections opened",
             stats.connections_opened),
        ):  # fmt: skip
            counter = CounterMetricFamily(name, help_text, labels=labels)
            counter.add_metric([hub.transport], value)
            yield counter
        errors = CounterMetricFamily(
            "rtbench_errors", "Refused requests and frames, by kind", labels=["transport", "kind"]
        )
        for kind, count in sorted(stats.errors.items()):
            errors.add_metric([hub.transport, kind], count)
        yield errors
        closes = CounterMetricFamily(
            "rtbench_disconnects", "Closed connections, by reason", labels=["transport", "reason"]
        )
        for reason, count in sorted(stats.closes.items()):
            closes.add_metric([hub.transport, reason], count)
        yield closes
        for name, help_text, counts in (
            ("rtbench_auth_failures", "Refused tokens, rights and origins, by reason",
             stats.auth_failures),
            ("rtbench_rate_limited", "Requests and frames over a rate limit, by what",
             stats.rate_limited),
        ):  # fmt: skip
            label = "reason" if name == "rtbench_auth_failures" else "limited"
            family = CounterMetricFamily(name, help_text, labels=["transport", label])
            for key, count in sorted(counts.items()):
                family.add_metric([hub.transport, key], count)
            yield family
        memory = hub.budget.status()
        for name, help_text, key in (
            ("rtbench_memory_budget_bytes", "The resume buffers' memory budget", "max_bytes"),
            ("rtbench_memory_held_bytes", "Bytes held by resume buffers, all forms", "held_bytes"),
            ("rtbench_memory_rooms", "Rooms charged to the memory budget", "rooms"),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=labels)
            gauge.add_metric([hub.transport], memory[key])
            yield gauge
        for name, help_text, key in (
            ("rtbench_memory_evicted_events", "Buffered events evicted over the budget",
             "evicted_events"),
            ("rtbench_memory_refused_rooms", "New rooms refused: the budget was spent",
             "refused_rooms"),
        ):  # fmt: skip
            counter = CounterMetricFamily(name, help_text, labels=labels)
            counter.add_metric([hub.transport], memory[key])
            yield counter
        histogram = stats.latency_histogram
        delivery = HistogramMetricFamily(
            "rtbench_delivery_latency_seconds",
            "Time from the broker accepting an event to its write to a subscriber",
            labels=["transport"],
        )
        delivery.add_metric([hub.transport], histogram.cumulative(), histogram.total_s)
        yield delivery
        latency = stats.delivery_latency.percentiles_ms()
        quantiles = GaugeMetricFamily(
            "rtbench_delivery_latency_quantile_seconds",
            "Delivery latency inside the server (sampled window), by quantile",
            labels=["transport", "quantile"],
        )
        for key, quantile in (("p50", "0.5"), ("p99", "0.99")):
            milliseconds = latency[key]
            if milliseconds is not None:
                quantiles.add_metric([hub.transport, quantile], milliseconds / 1000)
        yield quantiles


def registry_for(hub: Hub) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return bytes(generate_latest(registry))

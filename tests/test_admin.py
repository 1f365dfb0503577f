"""Admin endpoints on every server: /healthz, /status, /metrics."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clients.aio import Publisher, subscribe
from core import ConfigError, ServerConfig
from processes.server import ServerProcess
from tests.support import collect

ROOT = Path(__file__).resolve().parent.parent


async def test_healthz_status_and_metrics(transport: str, server: ServerProcess, room: str) -> None:
    async with Publisher(server.url) as publisher, subscribe(transport, server.url, room) as sub:
        for n in range(20):
            await publisher.publish(room, n)
        await collect(sub, 20)
        status = await publisher.status()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            health = await client.get("/healthz")
            metrics = await client.get("/metrics")
    assert health.status_code == 200 and health.text == "ok"
    assert status["transport"] == transport and status["version"]
    # A long-poll client holds a request only while it polls; the others hold a stream.
    held = 0 if transport == "longpoll" else 1
    assert status["connections"]["by_room"].get(room, 0) == held  # type: ignore[union-attr]
    assert status["events"]["published"] >= 20 and status["events"]["delivered"] >= 20  # type: ignore[index,operator]
    assert status["events"]["per_minute"] >= 20  # type: ignore[index,operator]
    latency = status["delivery_latency_ms"]
    assert latency["samples"] > 0 and 0 <= latency["p50"] <= latency["p99"]  # type: ignore[index,operator]
    assert status["broker"] == {"kind": "memory", "ok": True, "rooms": status["broker"]["rooms"]}  # type: ignore[index]
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert {
        "rtbench_connections",
        "rtbench_events_published",
        "rtbench_events_delivered",
        "rtbench_delivery_latency_seconds",
    } <= set(families)
    [published] = families["rtbench_events_published"].samples
    assert published.labels == {"transport": transport} and published.value >= 20
    latency_family = families["rtbench_delivery_latency_seconds"]
    assert latency_family.type == "histogram"
    count = next(s for s in latency_family.samples if s.name.endswith("_count"))
    infinite = next(s for s in latency_family.samples if s.labels.get("le") == "+Inf")
    assert count.value == infinite.value >= 20
    connections = families["rtbench_connections"].samples
    assert {s.labels["namespace"] for s in connections} == {"default"}


def test_grafana_dashboard_uses_only_metrics_the_servers_export(server: ServerProcess) -> None:
    """docs/grafana-dashboard.json must not drift from /metrics."""
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(rtbench_[a-z_]+)", target["expr"])
    }
    exported = set()
    for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text):
        exported |= {sample.name for sample in family.samples} | {family.name}
        if family.type == "counter":  # a counter with no sample yet still has its _total name
            exported.add(f"{family.name}_total")
    exported |= {f"{name}_bucket" for name in exported}
    assert used and used <= exported, used - exported


async def test_freed_memory_is_handed_back_on_schedule(tmp_path: Path) -> None:
    """`memory_trim_seconds` collects garbage and trims the C allocator's free memory on its
    period; 0 never."""
    counts = {}
    for every in (0.2, 0.0):
        config = tmp_path / f"trim-{every}.toml"
        config.write_text(f"memory_trim_seconds = {every}\n")
        with ServerProcess("sse", config=config) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                await asyncio.sleep(1.1)
                memory = (await client.get("/status")).json()["memory"]
                counts[every] = memory["trims"]
                if every:
                    assert memory["last_trim_ms"] > 0  # the collection and the trim took time
    assert counts[0.2] >= 3 and counts[0.0] == 0, counts


def test_a_negative_trim_period_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected memory_trim_seconds >= 0"):
        ServerConfig(memory_trim_seconds=-1)

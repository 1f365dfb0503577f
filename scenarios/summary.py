"""A terminal table of a run's headline figures (the full report is a separate program)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from record import describe_lock

STYLE = {"ok": "green", "degraded": "yellow", "failed": "red"}


def _fmt(value: Any, scale: float = 1.0, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value / scale:,.{digits}f}"


def _load(step: dict[str, Any]) -> str:
    p = step["params"]
    if step["scenario"] == "delay":
        return f"through the delay proxy, RTT {p['rtt_ms']:g} ms"
    if step["scenario"] == "proxy_idle":
        return f"idle streams through nginx, {p['read_timeout_seconds']:g} s read timeout"
    if step["scenario"] == "browser":
        over = ", HTTP/2" if p.get("http2") else ""
        return f"headless Chromium{over}, {p['subscribers']} sub × {p['rate']:g}/s"
    if step["scenario"] in ("broadcast", "baseline", "churn", "cluster", "proxy", "storm", "soak"):
        text = f"{p['subscribers']:,} sub × {p['rate']:g}/s, {p['payload_bytes']} B"
        if step["scenario"] == "proxy":
            text += f", through nginx {p['nginx']}"
        if step["scenario"] == "storm":
            text += f", all reconnect within {p['storm_within_seconds']:g} s"
        if step["scenario"] == "cluster":
            nodes = f"{p['nodes']} node" + ("s" if p["nodes"] > 1 else "")
            text += f", {nodes} on {p['broker']}" + (", nginx" if p["lb"] else "")
        if step["scenario"] == "churn":
            text += f", {p['churn_per_second']:g} drops/s"
        return text + _knobs(p)
    if step["scenario"] in ("locust_chat", "cluster_locust"):
        text = (
            f"Locust chat {p['users']} users, {p['rooms']} rooms, "
            f"1 msg/{p['member_interval']:g}s each"
        )
        if p.get("locust_workers"):
            text += f", master + {p['locust_workers']} workers"
        if step["scenario"] == "cluster_locust":
            text += f", {p['nodes']} nodes on {p['broker']}" + (", nginx" if p["lb"] else "")
        return text
    if step["scenario"] == "chat":
        return f"chat {p['rooms']} rooms × {p['members_per_room']}, {p['member_rate']:g}/s each"
    if step["scenario"] == "knee":
        return f"{p['subscribers']:,} sub, rising rate"
    return f"{p['connections']:,} idle" + _knobs(p)


def _knobs(p: dict[str, Any]) -> str:
    names = {"compression": "deflate", "tls": "TLS", "auth": "JWT", "ratelimit": "rate limits"}
    return "".join(f", {label}" for key, label in names.items() if p.get(key))


def print_summary(results: dict[str, Any], console: Console) -> None:
    broadcast = Table(
        title="Broadcast — latency = receive time − scheduled send time (open loop), ms",
        title_justify="left",
    )
    columns = (
        "transport",
        "load",
        "status",
        "achieved/s",
        "p50",
        "p99",
        "p99.9",
        "max",
        "lost",
        "B↓/msg",
        "B↑/msg",
        "server µs/msg",
        "driver µs/msg",
    )
    for name in columns:
        broadcast.add_column(name, justify="left" if name in ("transport", "load") else "right")
    idle = Table(title="Idle connections — server memory", title_justify="left")
    for name in (
        "transport",
        "load",
        "status",
        "connected",
        "RSS before MiB",
        "RSS after MiB",
        "KiB/conn",
        "server µs/conn",
    ):
        idle.add_column(name, justify="left" if name in ("transport", "load") else "right")
    for step in results["steps"]:
        status = step.get("status", "failed")
        mark = f"[{STYLE.get(status, 'red')}]{status}[/]"
        if step["scenario"] == "knee" and status != "failed":
            continue  # its own table below
        table = idle if step["scenario"] == "idle" else broadcast
        name = step["transport"] + (" (null server)" if step["scenario"] == "baseline" else "")
        head = (name, _load(step), mark)
        if status == "failed":
            table.add_row(*head, f"[red]{step.get('error', '')[:70]}[/]")
        elif step["scenario"] == "proxy_idle":
            streams = ", ".join(
                f"{s['nginx']}/{'heartbeat' if s['heartbeat'] else 'silent'}: "
                + ("refused" if s["handshake_status"] not in (101, 200)
                   else "open" if s["closed_after_seconds"] is None
                   else f"closed at {s['closed_after_seconds']:g} s")
                for s in step["streams"]
            )  # fmt: skip
            table.add_row(*head, streams)
        elif step["scenario"] == "delay":
            table.add_row(
                *head,
                f"first event {step['time_to_first_event_median_ms']} ms, burst rest "
                f"{step['burst_rest_median_ms']} ms, resume {step['resume_median_ms']} ms",
            )
        elif step["scenario"] == "browser":
            limit = step["connection_limit"]
            table.add_row(
                *head,
                f"p50 {_fmt(step['latency_us']['p50'], 1000, 2)} ms, browser "
                f"{step['latency']['browser_cpu_us_per_message']} µs/msg, "
                f"{limit['receiving']} of {limit['streams']} streams of one origin receive",
            )
        elif "latency_us" not in step:
            table.add_row(*head, step.get("note", ""))
        elif table is broadcast:
            lat = step["latency_us"]
            b = step.get("bytes_per_message") or {"down": None, "up": None}
            broadcast.add_row(
                *head,
                _fmt(step["achieved_rate"], digits=1),
                *(_fmt(lat[k], 1000, 2) for k in ("p50", "p99", "p99_9", "max")),
                f"{step['lost']:,}",
                _fmt(b["down"], digits=0),
                _fmt(b["up"], digits=0),
                _fmt(step["server_cpu_us_per_message"], digits=1),
                _fmt(step["driver_cpu_us_per_message"], digits=1),
            )
        else:
            mib = 1024 * 1024
            idle.add_row(
                *head,
                f"{step['connected']:,}",
                _fmt(step["server_rss_before_bytes"], mib, 1),
                _fmt(step["server_rss_after_bytes"], mib, 1),
                _fmt(step["rss_per_connection_bytes"], 1024, 1),
                _fmt(step.get("server_cpu_us_per_connection"), digits=0),
            )
    knees = Table(
        title="Knee — highest offered rate with p99 under the bound and no loss",
        title_justify="left",
    )
    for name in (
        "transport",
        "subscribers",
        "bound p99 ms",
        "max rate/s",
        "deliveries/s",
        "stopped because",
    ):
        knees.add_column(
            name, justify="left" if name in ("transport", "stopped because") else "right"
        )
    for step in results["steps"]:
        if step["scenario"] == "knee" and step.get("status") != "failed":
            p = step["params"]
            knees.add_row(
                step["transport"],
                f"{p['subscribers']:,}",
                f"{p['p99_bound_ms']:g}",
                _fmt(step["max_sustainable_rate"]),
                _fmt(step["max_sustainable_deliveries_per_second"]),
                step["stopped_because"],
            )
    if broadcast.row_count:
        console.print(broadcast)
    if knees.row_count:
        console.print(knees)
    if idle.row_count:
        console.print(idle)
    lock = results["software"].get("lock")
    style = "yellow" if lock is not None and lock["matches"] is False else "dim"
    console.print(f"[{style}]Environment: {escape(describe_lock(results['software']))}[/]")

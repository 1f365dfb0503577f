"""What each security knob costs, against the same broadcast without it."""

from __future__ import annotations

from record import (
    TRANSPORTS,
    DeliveryStep,
    RecordedRun,
)
from record.display import ms, num, us
from report.charts import plain
from report.model import Section, Table
from report.selection import NAMES

KNOBS = {"auth": "JWT at every handshake", "ratelimit": "rate limits checked", "tls": "TLS"}


def security_section(run: RecordedRun) -> Section | None:
    """Each security knob against the same broadcast without it, in the same run."""
    rows = []
    for t in TRANSPORTS:
        for knob, label in KNOBS.items():
            by_load: dict[int, list[DeliveryStep]] = {}
            for step in run.deliveries("broadcast", t):
                p = step["params"]
                others = [k for k in ("compression", *KNOBS) if k != knob and p.get(k)]
                if p.get(knob) and not others and step["status"] != "failed":
                    by_load.setdefault(int(p["subscribers"]), []).append(step)
            for subscribers, steps in sorted(by_load.items()):
                steps.sort(key=lambda s: s["latency_us"]["p50"] or 0)
                step = steps[(len(steps) - 1) // 2]  # the median repeat, as plain() picks
                base = plain(run, "broadcast", t, subscribers)
                if base is None:
                    continue
                cpu, base_cpu = step["server_cpu_us_per_message"], base["server_cpu_us_per_message"]
                rows.append(
                    [
                        NAMES[t],
                        f"{label} ({subscribers} subscribers)",
                        f"{ms(base['latency_us']['p50'])} → {ms(step['latency_us']['p50'])}",
                        f"{ms(base['latency_us']['p99'])} → {ms(step['latency_us']['p99'])}",
                        f"{us(base_cpu)} → {us(cpu)}",
                        "–" if cpu is None or base_cpu is None else f"{cpu - base_cpu:+.1f} µs",
                    ]
                )
        idle = {
            bool(s["params"].get("auth")): s
            for s in run.idles(t)
            if s.get("server_cpu_us_per_connection") is not None and not s["params"].get("tls")
        }
        if True in idle and False in idle:
            off, on = idle[False], idle[True]
            a, b = off["server_cpu_us_per_connection"], on["server_cpu_us_per_connection"]
            rows.append(
                [
                    NAMES[t],
                    f"JWT per connection ({on['connected']:,} idle)",
                    "",
                    "",
                    f"{num(a, ' µs/conn')} → {num(b, ' µs/conn')}",
                    "–" if a is None or b is None else f"{b - a:+.0f} µs/conn",
                ]
            )
    if not rows:
        return None
    section = Section("What security costs")
    section.blocks.append(
        "Each knob on vs off, same run, same load. `JWT`: the server verifies an HS256 token at "
        "every handshake (for long polling, every poll). `rate limits`: token buckets are "
        "consulted on every publish and client frame, set far above the load, so this is the "
        "cost of checking, not of refusing. `TLS`: HTTPS/WSS with a test CA. Server CPU is per "
        "delivered message (per connection for the idle rows), the median repeat when the "
        "profile repeats; /proc counts CPU in 10 ms ticks and runs on a shared VM vary, so "
        "differences of a few µs/msg are within noise (compare the plain steps' repeats)."
    )
    section.blocks.append(
        Table(["transport", "knob", "p50 off → on", "p99 off → on", "server CPU", "cost"], rows)
    )
    return section

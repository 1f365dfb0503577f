"""The report's content, built once and rendered twice: Markdown and self-contained HTML."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from record import (
    PEERS,
    TRANSPORTS,
    WS_PEERS,
    RecordedRun,
    StepResult,
    Utilisation,
    describe_lock,
)
from report import claims, question1, readings, selection, stats, verdicts
from report.charts import SERIES, plain
from report.selection import NAMES, through


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path
    caption: str


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Image] = field(default_factory=list)


def ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.2f} ms"


def num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def us(value: float | None) -> str:
    return num(value, " µs", 1)


# -- the comparison ---------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def core_use(steps: list[StepResult], side: Literal["server_core", "driver_core"]) -> str:
    """A side's core utilisation over repeats, max of them (saturation is about the worst)."""
    values = [v for s in steps if (v := s.get("utilisation", Utilisation()).get(side)) is not None]
    return pct(max(values)) if values else "–"


def headline_load(run: RecordedRun) -> selection.Load | None:
    present = [t for t in TRANSPORTS if selection.repeats(run, "broadcast", t)]
    return selection.comparison_load(run, present) if present else None


def capacity(run: RecordedRun, transport: str, subscribers: int) -> str:
    knees = [k for k in run.of("knee", transport) if k["params"]["subscribers"] == subscribers]
    if not knees:
        return "not run"
    best = max(knees, key=lambda k: k.get("max_sustainable_deliveries_per_second") or 0)
    return capacity_text(best)


def capacity_text(knee: StepResult) -> str:
    """`4,000/s`, or `≥ 16,000/s (load-generator bound)` when the sweep stopped before the
    server did: a lower bound, not a capacity to rank."""
    value = knee.get("max_sustainable_deliveries_per_second")
    if not value:
        return "none"
    if not knee.get("capacity_is_lower_bound"):
        return f"{value:,.0f}/s"
    bound_by = knee.get("bound_by")
    label = {"the load generator": "load-generator bound", "the sweep's maximum":
             "the sweep's maximum"}.get(str(bound_by), "a lower bound")  # fmt: skip
    return f"≥ {value:,.0f}/s ({label})"


def headline(run: RecordedRun) -> Table | None:
    load = headline_load(run)
    if load is None:
        return None
    rows = []
    for scenario, t in [
        *(("broadcast", t) for t in SERIES),
        *(("baseline", t) for t in TRANSPORTS),
    ]:
        steps = selection.repeats(run, scenario, t, load)
        if not steps:
            continue
        idle = (
            max(run.of("idle", t), key=lambda s: s["connected"], default=None)
            if scenario == "broadcast"
            else None
        )
        flag = "; ".join(sorted({f for s in steps if (f := selection.saturated(s))}))
        status = ", ".join(sorted({s["status"] for s in steps}))
        rows.append(
            [
                NAMES[t] if scenario == "broadcast" else f"null server ({NAMES[t]}): the floor",
                selection.fmt_ms(selection.spread_of(steps, selection.p50)),
                selection.fmt_ms(selection.spread_of(steps, selection.p99)),
                selection.fmt_bytes(selection.spread_of(steps, selection.wire)),
                selection.fmt_us(selection.spread_of(steps, selection.cpu)),
                f"{core_use(steps, 'server_core')} / {core_use(steps, 'driver_core')}",
                num((idle["rss_per_connection_bytes"] or 0) / 1024, " KiB", 1) if idle else "–",
                num(idle.get("server_cpu_us_per_connection"), " µs", 0) if idle else "–",
                capacity(run, t, load[0]) if scenario == "broadcast" else "–",
                f"{sum(s['lost'] for s in steps)} of {sum(s['expected'] for s in steps):,}",
                status + (f" — **saturated**: {flag}" if flag else ""),
            ]
        )
    return Table(
        [
            f"transport ({selection.at_text(load)}, n = repeats)",
            "p50 [interval]",
            "p99 [interval]",
            "wire bytes/msg (down + up)",
            "server CPU/msg",
            "server / driver core (max)",
            "RSS/idle conn",
            "server CPU/accepted conn",
            f"capacity (deliveries/s, p99 ≤ bound, {load[0]} subs)",
            "lost",
            "status",
        ],
        rows,
    )


def server_share(run: RecordedRun) -> Table | None:
    """Each transport next to its null server at the same load: the server's own share."""
    load = headline_load(run)
    if load is None:
        return None
    rows = []
    for t in TRANSPORTS:
        ours = selection.repeats(run, "broadcast", t, load)
        null = selection.repeats(run, "baseline", t, load)
        if not ours or not null:
            continue
        row = [NAMES[t]]
        for get, formatter, unit in (
            (selection.p50, selection.fmt_ms, 1000.0),
            (selection.cpu, selection.fmt_us, 1.0),
        ):
            a, b = selection.spread_of(ours, get), selection.spread_of(null, get)
            share = "–" if a is None or b is None else f"{(a.median - b.median) / unit:,.2f}"
            row += [formatter(a), formatter(b), share]
        a, b = selection.spread_of(ours, selection.cpu), selection.spread_of(null, selection.cpu)
        row.append("–" if a is None or b is None or not b.median else f"{a.median / b.median:.0%}")
        rows.append(row)
    if not rows:
        return None
    return Table(
        [
            f"transport ({selection.at_text(load)})",
            "p50",
            "p50, null server",
            "server share of p50 (ms)",
            "server CPU/msg",
            "null server CPU/msg",
            "server share (µs/msg)",
            "server CPU as a share of the floor's",
        ],
        rows,
    )


def fanout_steps(
    run: RecordedRun, transport: str, load: selection.Load, fanout: str, server: str = "uvicorn"
) -> list[StepResult]:
    """Every repeat of a broadcast at `load` by this fan-out and ASGI server, otherwise plain."""
    plain = {"fanout": "direct", "server": "uvicorn"}
    return [
        s
        for s in run.of("broadcast", transport)
        if s["params"].get("fanout", "direct") == fanout
        and s["params"].get("server", "uvicorn") == server
        and selection.load_of(s) == load
        and not selection.variant({**s, "params": {**s["params"], **plain}})
    ]


def fanout_table(run: RecordedRun) -> Table | None:
    """Where both fan-out paths ran: each next to the floors (null server, WebSocket peers), and
    the same app under granian where it ran."""
    loads = sorted(
        {selection.load_of(s) for s in run.of("broadcast") if s["params"].get("fanout") == "asgi"}
    )
    rows = []
    for load in loads:
        for t in TRANSPORTS:
            direct = fanout_steps(run, t, load, "direct")
            if not direct or not fanout_steps(run, t, load, "asgi"):
                continue
            floor = selection.spread_of(selection.repeats(run, "baseline", t, load), selection.cpu)
            candidates = [
                (f"{NAMES[t]}, {f}", fanout_steps(run, t, load, f)) for f in ("direct", "asgi")
            ]
            candidates.append(
                (f"{NAMES[t]}, granian", fanout_steps(run, t, load, "asgi", "granian"))
            )
            if t == "ws":
                candidates += [(NAMES[p], selection.repeats(run, "broadcast", p, load))
                               for p in WS_PEERS]  # fmt: skip
            for label, steps in candidates:
                if not steps:
                    continue
                cpu = selection.spread_of(steps, selection.cpu)
                rows.append([
                    label,
                    selection.at_text(load),
                    selection.fmt_us(cpu),
                    "–" if cpu is None or floor is None or not floor.median
                    else f"{cpu.median / floor.median:.0%}",
                    selection.fmt_ms(selection.spread_of(steps, selection.p50)),
                    selection.fmt_ms(selection.spread_of(steps, selection.p99)),
                    core_use(steps, "server_core"),
                    core_use(steps, "driver_core"),
                    f"{sum(s['lost'] for s in steps)} of {sum(s['expected'] for s in steps):,}",
                ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["server", "load", "server CPU/msg", "of its null server's", "p50", "p99",
         "server core (max)", "driver core (max; past 70 % its latency is the driver's)", "lost"],
        rows,
    )  # fmt: skip


def breakdown_table(run: RecordedRun) -> Table | None:
    """py-spy's split of a delivery's server CPU by layer (`scenarios.tools.breakdown`)."""
    rows = run.breakdown()
    if not rows:
        return None
    layers = list(rows[0]["layers"])
    return Table(
        ["server", "load", "server core", "server CPU/msg (sampled)", *layers],
        [
            [
                f"{NAMES.get(r['transport'], r['transport'])}, {r['fanout']}",
                f"{r['subscribers']:,} × {r['rate']:g}/s",
                pct(r.get("server_core")),
                us(r["server_cpu_us_per_message"]),
                *(f"{us(v['us_per_message'])} ({v['share']:.0%})" for v in r["layers"].values()),
            ]
            for r in rows
        ],
    )


def sweep(run: RecordedRun) -> Table | None:
    """Each offered-load point of every knee step: where capacity stops, and why."""
    rows = []
    for step in run.of("knee"):
        subscribers = step["params"]["subscribers"]
        for point in step["points"]:
            use = point.get("utilisation") or {}
            rows.append(
                [
                    NAMES[step["transport"]],
                    f"{point['rate'] * subscribers:,.0f}",
                    f"{num(point['achieved_rate'], '/s', 1)} of {point['rate']:g}/s",
                    ms(point["latency_us"]["p50"]),
                    ms(point["latency_us"]["p99"]),
                    f"{pct(use.get('server_core'))} / {pct(use.get('driver_core'))}",
                    point["status"] + (" — saturated" if use.get("saturated_because") else ""),
                ]
            )
        bound = step["params"]["p99_bound_ms"]
        rows.append(
            [
                NAMES[step["transport"]],
                f"**capacity {capacity_text(step)}**",
                "",
                "",
                f"bound {bound:g} ms",
                "",
                f"stopped: {step['stopped_because']}",
            ]
        )
    if not rows:
        return None
    return Table(
        [
            "transport",
            "offered deliveries/s",
            "publish rate",
            "p50",
            "p99",
            "server / driver core",
            "status",
        ],
        rows,
    )


def wire_table(run: RecordedRun) -> Table | None:
    """Where each delivered message's bytes go, at the headline load: payload, envelope,
    framing, HTTP headers and handshakes, and the TCP/IP headers of every segment both ways
    (ACKs included); with Chromium's request headers beside the lean client's when run."""
    load = headline_load(run)
    if load is None:
        return None
    rows = []
    for t in TRANSPORTS:
        variants = [("lean client", selection.repeats(run, "broadcast", t, load))]
        browser = [
            s for s in run.of("broadcast", t)
            if s["params"].get("browser_headers") and selection.load_of(s) == load
        ]  # fmt: skip
        if browser:
            variants.append(("Chromium's headers + cookie", browser))
        for label, steps in variants:
            if not steps:
                continue

            def median(get: selection.Getter, steps: list[StepResult] = steps) -> str:
                spread = selection.spread_of(steps, get)
                return "–" if spread is None else f"{spread.median:,.1f}"

            def part(key: str) -> selection.Getter:
                return lambda one: (one["bytes_per_message"].get("down_split") or {}).get(key)

            def headers(s: StepResult) -> float | None:
                b = s["bytes_per_message"]
                down, up = b.get("segments_down"), b.get("segments_up")
                if down is None or up is None:
                    return None
                return float((down + up) * b["ip_tcp_header_bytes_per_segment"])

            def total(s: StepResult) -> float | None:
                wire, ip = selection.wire(s), headers(s)
                return None if wire is None or ip is None else wire + ip

            rows.append(
                [
                    NAMES[t],
                    label,
                    median(part("payload")),
                    median(part("envelope")),
                    median(part("framing")),
                    median(part("http_headers_and_handshakes")),
                    median(lambda s: s["bytes_per_message"]["up"]),
                    median(lambda s: s["bytes_per_message"].get("segments_down")),
                    median(lambda s: s["bytes_per_message"].get("segments_up")),
                    median(headers),
                    median(total),
                ]
            )  # fmt: skip
    if not rows:
        return None
    return Table(
        [
            f"transport ({selection.at_text(load)})",
            "client",
            "payload",
            "envelope",
            "framing",
            "HTTP headers + handshakes",
            "up (TCP payload)",
            "segments down",
            "segments up",
            "TCP/IP headers",
            "all bytes",
        ],
        rows,
    )


def driver_cpu(step: StepResult) -> float | None:
    return step.get("driver_cpu_us_per_message")


def http2_table(run: RecordedRun) -> Table | None:
    """The same app under hypercorn over TLS: HTTP/1.1 against HTTP/2, one connection per
    subscriber or many subscribers multiplexed on one."""
    rows = []
    for t in TRANSPORTS:
        for protocol, steps in selection.protocol_steps(run, t).items():
            flag = "; ".join(sorted({f for s in steps if (f := selection.saturated(s))}))
            status = ", ".join(sorted({s["status"] for s in steps}))

            def median(get: selection.Getter, steps: list[StepResult] = steps) -> str:
                spread = selection.spread_of(steps, get)
                return "–" if spread is None else f"{spread.median:,.0f}"

            rows.append([
                NAMES[t],
                protocol,
                median(lambda s: s["bytes_per_message"].get("down")),
                median(selection.up),
                selection.fmt_bytes(selection.spread_of(steps, selection.wire)),
                selection.fmt_us(selection.spread_of(steps, selection.cpu)),
                selection.fmt_ms(selection.spread_of(steps, selection.p50)),
                selection.fmt_ms(selection.spread_of(steps, selection.p99)),
                status + (f" — **saturated**: {flag}" if flag else ""),
            ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["transport", "protocol", "bytes down/msg", "bytes up/msg", "total", "server CPU/msg",
         "p50", "p99", "status"],
        rows,
    )  # fmt: skip


def soak_table(run: RecordedRun) -> Table | None:
    rows = []
    for step in run.of("soak"):
        figures = step.get("soak") or {}
        if not figures:
            continue
        p = step["params"]
        slope = figures.get("rss_slope_mib_per_hour")
        heap = figures.get("python_blocks_slope_share_per_hour")
        freed = figures.get("cyclic_gc_freed_per_hour")
        rows.append([
            NAMES[step["transport"]],
            f"{p['subscribers']:,} × {p['rate']:g}/s, {p['churn_per_second']:g} drops/s",
            f"{p['duration_seconds'] / 60:g} min",
            f"{step['delivered']:,}",
            f"{step['lost']} of {step['expected']:,}",
            f"{step.get('reconnects', 0):,}",
            "–" if slope is None else f"{slope:+.2f}",
            f"{figures.get('rss_first_mib')} → {figures.get('rss_last_mib')} MiB",
            "–" if heap is None else f"{heap:+.2%} ({figures.get('python_blocks_first'):,} → "
            f"{figures.get('python_blocks_last'):,})",
            "–" if freed is None else f"{freed:,}",
            f"{figures.get('fds_min')}–{figures.get('fds_max')}",
            step["status"],
        ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["transport", "load", "length", "delivered", "lost", "reconnects",
         "RSS slope after warm-up (MiB/h)", "RSS after warm-up → end",
         "Python's blocks: slope per hour (after warm-up → end)",
         "objects freed by the cyclic GC per hour", "open fds (range)",
         "status"],
        rows,
    )  # fmt: skip


def binary_table(run: RecordedRun) -> Table | None:
    """The binary payload sweep: what each transport puts on the wire and spends per message
    when the data is bytes (binary frames on a WebSocket, base64 in JSON on SSE and polls)."""
    rows: list[tuple[int, int, list[str]]] = []
    for order, t in enumerate(SERIES):
        for size, steps in selection.binary_steps(run, t).items():
            spread = selection.spread_of(steps, selection.wire)
            extra = selection.overhead(steps, size)
            flag = "; ".join(sorted({f for s in steps if (f := selection.saturated(s))}))
            status = ", ".join(sorted({s["status"] for s in steps}))
            rows.append((size, order, [
                    selection.size_text(size),
                    NAMES[t],
                    selection.fmt_bytes(spread),
                    "–" if extra is None else f"{extra:+.1%}",
                    selection.fmt_us(selection.spread_of(steps, selection.cpu)),
                    selection.fmt_us(selection.spread_of(steps, driver_cpu)),
                    selection.fmt_ms(selection.spread_of(steps, selection.p50)),
                    selection.fmt_ms(selection.spread_of(steps, selection.p99)),
                    f"{sum(s['lost'] for s in steps)} of {sum(s['expected'] for s in steps):,}",
                    status + (f" — **saturated**: {flag}" if flag else ""),
                ]))  # fmt: skip
    if not rows:
        return None
    some = next(iter(selection.binary_steps(run, "ws").values()), [])
    load = some[0]["params"] if some else {}
    at = f"{load['subscribers']:,} subscribers × {load['rate']:g} msg/s" if load else ""
    return Table(
        [
            f"payload ({at})",
            "transport",
            "wire bytes/msg (down + up)",
            "over the payload",
            "server CPU/msg",
            "client CPU/msg (decoding)",
            "p50",
            "p99",
            "lost",
            "status",
        ],
        [row for _, _, row in sorted(rows, key=lambda r: r[:2])],
    )


def browser_section(run: RecordedRun) -> Section | None:
    """The browser scenario: latency and cost in Chromium, the per-origin connection limit,
    cross-origin reads and EventSource's own reconnection."""
    present = [t for t in TRANSPORTS if run.of("browser", t)]
    if not present:
        return None
    first = run.of("browser", present[0])[0]
    kinds = [
        (t, h2) for t in present for h2 in (False, True) if selection.browser_steps(run, t, h2)
    ]

    def label(t: str, h2: bool) -> str:
        return NAMES[t] + (" over HTTP/2" if h2 else "")

    section = Section("In a real browser")
    section.blocks.append(
        f"Headless Chromium {first.get('chromium_version', '')} (Debian's build, driven by "
        "Playwright, pinned to the driver core), subscribing with the web platform's own "
        "clients: a `fetch` loop for long polling, `EventSource`, `WebSocket`. Latency is read "
        "with the page's clock (`performance.timeOrigin + performance.now()`, this machine's "
        "wall clock, coarsened by Chromium to 100 µs) against the publisher's scheduled send "
        "time. The browser's CPU is every Chromium process's, from `/proc`, minus its idle "
        "rate measured just before. Medians [min–max] over the repeats."
    )
    rows = []
    for t, h2 in kinds:
        steps = selection.browser_steps(run, t, h2)
        lat = [s["latency"] for s in steps if s.get("latency")]
        load = f"{lat[0]['subscribers']} × {lat[0]['rate']:g}/s" if lat else "–"
        rows.append([
            label(t, h2),
            load,
            selection.fmt_ms(selection.spread_of(steps, selection.p50)),
            selection.fmt_ms(selection.spread_of(steps, selection.p99)),
            selection.fmt_us(stats.spread([x["browser_cpu_us_per_message"] for x in lat])),
            f"{sum(x['lost'] for x in lat)} of {sum(x['expected'] for x in lat):,}",
        ])  # fmt: skip
    section.blocks.append(
        Table(
            [
                "transport",
                "subscribers × rate (one page)",
                "p50",
                "p99",
                "browser CPU/msg (above idle)",
                "lost",
            ],
            rows,
        )
    )
    rows = []
    for t, h2 in kinds:
        limit = selection.browser_steps(run, t, h2)[0].get("connection_limit") or {}
        if not limit:
            continue
        stall = limit.get("stall_ms") or []
        after = limit.get("after_close_ms") or []
        rows.append([
            label(t, h2),
            f"{limit['receiving']} of {limit['streams']}",
            str(limit["stalled"]),
            f"{max(stall):,.0f} ms" if stall else "–",
            f"{max(after):,.0f} ms" if after else "–",
        ])  # fmt: skip
    if rows:
        section.blocks.append(
            f"One page opens {first['connection_limit']['streams']} subscribers to one origin "
            "over HTTP/1.1 (Chromium keeps at most six connections per origin) and events are "
            f"published for 2 s; then {first['connection_limit']['closed']} receiving "
            "subscribers close and publishing goes on for 2 s. A fetch loop's requests queue "
            "for a connection and share them; a stream holds its connection for good. Over "
            "HTTP/2 (hypercorn, TLS; the protocol Chromium reports in Resource Timing: "
            f"{protocols(run)}) every subscriber of the origin is a stream of one connection."
        )
        section.blocks.append(
            Table(
                [
                    "transport",
                    "receiving",
                    "stalled",
                    "stalled for (until two closed)",
                    "first event after the close",
                ],
                rows,
            )
        )
    rows = []
    for t in present:
        plain_steps = selection.browser_steps(run, t)
        found = (plain_steps[0].get("cross_origin") or {}) if plain_steps else {}
        if found:
            rows.append([
                NAMES[t],
                selection.outcome_text(found["default"]) if "default" in found else "not run",
                selection.outcome_text(found.get("no_origin_check") or {}),
                selection.outcome_text(found.get("origin_checked") or {}),
            ])  # fmt: skip
    if rows:
        section.blocks.append(
            "Cross-site WebSocket hijacking, measured: a page of another origin (another port "
            "of 127.0.0.1) subscribes to the server as it ships (it refuses an Origin that is "
            'not its own), to one configured with `allowed_origins = ["*"]` (the check off, '
            "on purpose: the hole), and to one whose `allowed_origins` names another site; "
            "none sends CORS headers; three events are published to each."
        )
        section.blocks.append(
            Table(
                ["transport", "as it ships", 'allowed_origins = ["*"]', "another site allowed"],
                rows,
            )
        )
    reconnection = selection.browser_reconnection(run)
    if reconnection:
        lines = selection.recovery_code(run)
        rows = [
            [f"EventSource, retry: {retry} ms", str(f["reconnects"]),
             selection.fmt(f["reconnect"], 1, " ms", 0), f"{f['lost']} of {f['expected']:,}", "0"]
            for retry, f in reconnection.items()
        ]  # fmt: skip
        rows += [[f"{NAMES[t]} (the demo's code)", "–", "–", "–", str(n)] for t, n in lines.items()]
        section.blocks.append(
            "EventSource's own reconnection: the server ends every stream after 2 s "
            "(`heartbeat.stream_max_seconds`); the browser reconnects after the server's "
            "`retry:` and sends `Last-Event-ID` by itself. The fetch loop and the WebSocket need "
            "application code for the same: the demo's lines that back off, retry and carry the "
            "cursor are counted."
        )
        section.blocks.append(
            Table(
                [
                    "client",
                    "reconnects",
                    "reconnected after (median [min–max])",
                    "lost",
                    "lines of application code",
                ],
                rows,
            )
        )
    return section


def protocols(run: RecordedRun) -> str:
    found = sorted({str(s.get("protocol")) for s in run.of("browser") if s["params"].get("http2")})
    return ", ".join(found) or "not run"


def proxy_section(run: RecordedRun) -> Section | None:
    found = selection.proxied(run)
    idle = run.of("proxy_idle")
    if not found and not idle:
        return None
    section = Section("Behind a proxy: nginx as a distribution leaves it, and tuned")
    section.blocks.append(
        "Each transport's subscribers through a real nginx; the publisher posts to the server "
        "directly. **defaults**: nginx's own defaults as a distribution's example reverse proxy "
        "leaves them (HTTP/1.0 to the upstream, no `Upgrade`/`Connection` forwarding, "
        "`proxy_buffering on`, `proxy_read_timeout 60s`). **tuned**: the cluster's "
        "configuration (upgrade forwarded, buffering off, read timeout above the heartbeat). "
        "Our SSE server sends `X-Accel-Buffering: no`, which turns nginx's buffering off for "
        "its streams; the *buffered* rows are the same server without that header."
    )
    if found:
        rows = []
        for (t, flavour, unbuffered), step in sorted(found.items()):
            use = step.get("utilisation") or {}
            rows.append(
                [
                    NAMES[t],
                    flavour + ("" if unbuffered else ", SSE buffered"),
                    str(step.get("handshake_status")),
                    through(step),
                    num(step.get("achieved_rate"), "/s", 1) if step.get("handshake_passed") else "",
                    pct(use.get("server_core")) if use else "",
                ]
            )
        section.blocks.append(
            Table(
                [
                    "transport",
                    "nginx",
                    "subscribe answered",
                    "delivery",
                    "publish rate",
                    "server core (nginx included)",
                ],
                rows,
            )
        )
    if idle:
        rows = []
        for step in idle:
            for stream in step["streams"]:
                closed = stream["closed_after_seconds"]
                passed = stream["handshake_status"] in (101, 200)
                rows.append(
                    [
                        NAMES[step["transport"]],
                        stream["nginx"],
                        f"every {step['heartbeat_seconds']:g} s" if stream["heartbeat"] else "off",
                        f"{step['read_timeout_seconds']:g} s",
                        f"refused ({stream['handshake_status']})"
                        if not passed
                        else f"closed after {closed:g} s"
                        if closed is not None
                        else f"still open after {step['watched_seconds']:g} s",
                    ]
                )
        section.blocks.append(
            "An idle stream (nothing published) watched past the proxy's read timeout:"
        )
        section.blocks.append(
            Table(["transport", "nginx", "server heartbeat", "read timeout", "idle stream"], rows)
        )
    return section


def delay_table(run: RecordedRun) -> Table | None:
    found = selection.delayed(run)
    if not found:
        return None
    rows = []
    for (t, rtt), step in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        first = step.get("time_to_first_event_ms") or []
        resumed = step.get("resume_ms") or []
        by_place = step.get("burst_latency_ms_by_place") or []
        rows.append(
            [
                NAMES[t],
                f"{rtt:g} ms",
                f"{num(step.get('time_to_first_event_median_ms'), ' ms', 1)}"
                + (f" [{min(first):.1f}–{max(first):.1f}]" if first else ""),
                num(by_place[0] if by_place else None, " ms", 1),
                num(step.get("burst_rest_median_ms"), " ms", 1),
                num(max((v for v in by_place if v is not None), default=None), " ms", 1),
                f"{num(step.get('resume_median_ms'), ' ms', 1)}"
                + (f" [{min(resumed):.1f}–{max(resumed):.1f}]" if resumed else ""),
            ]
        )
    return Table(
        ["transport", "RTT", "time to first event [range]", "burst: event 1",
         "events 2–10 (median)", "slowest of the burst", "resume after a drop [range]"],
        rows,
    )  # fmt: skip


def storm_table(run: RecordedRun) -> Table | None:
    rows = []
    for step in run.of("storm"):
        storm = step.get("storm") or {}
        recovered = storm.get("recovery_seconds")
        rows.append(
            [
                NAMES[step["transport"]],
                f"{step['params']['subscribers']:,} within {storm.get('within_seconds', 0):g} s",
                f"{step['reconnects']:,} ({len(step.get('reconnect_failures') or [])} failed)",
                f"{step['lost']} of {step['expected']:,}",
                ms(storm.get("p99_before_us")),
                ms(storm.get("p99_worst_us")),
                "not within the step" if recovered is None else f"{recovered:g} s",
                step["status"]
                + (
                    f" — **saturated**: {selection.saturated(step)}"
                    if selection.saturated(step)
                    else ""
                ),
            ]
        )
    if not rows:
        return None
    return Table(
        ["transport", "subscribers reconnecting", "reconnects", "lost", "p99 before",
         "worst p99 (100 ms)", "p99 back to its level after", "status"],
        rows,
    )  # fmt: skip


def every_step(run: RecordedRun) -> Table:
    """Every step that ran or failed, so nothing measured is out of sight."""
    rows = []
    for step in run.data["steps"]:
        use = step.get("utilisation", Utilisation())
        latency = step.get("latency_us")
        note = step.get("error") or step.get("degraded_because") or ""
        if use.get("saturated_because"):
            note = "; ".join(x for x in (note, f"saturated: {use['saturated_because']}") if x)
        if step["scenario"] == "knee":
            note = f"capacity {capacity_text(step)}; "
            note += step.get("stopped_because", "")
        if step["scenario"] == "idle":
            note = (
                f"{step.get('connected', 0):,} held; "
                f"{num((step.get('rss_per_connection_bytes') or 0) / 1024, ' KiB/conn', 1)}"
            )
        rows.append(
            [
                f"`{step['id']}`",
                step["status"],
                num(step.get("achieved_rate"), "/s", 1) if "achieved_rate" in step else "",
                ms(latency["p50"]) if latency else "",
                ms(latency["p99"]) if latency else "",
                us(step.get("server_cpu_us_per_message")) if "server_cpu_us_per_message" in step
                else "",
                f"{pct(use.get('server_core'))} / {pct(use.get('driver_core'))}" if use else "",
                note,
            ]
        )  # fmt: skip
    return Table(
        ["step", "status", "publish rate", "p50", "p99", "server CPU/msg", "cores", "note"],
        rows,
    )


def noise_note(run: RecordedRun) -> str | None:
    """The run-to-run noise this run measured at its headline load."""
    load = headline_load(run)
    if load is None:
        return None
    parts = []
    for t in SERIES:
        steps = selection.repeats(run, "broadcast", t, load)
        p50s = selection.spread_of(steps, selection.p50)
        if p50s is not None and p50s.n >= 2:
            parts.append(f"{NAMES[t]} ± {p50s.half_width:.0%} ({p50s.n} repeats)")
    if not parts:
        return None
    return (
        "Run-to-run noise of p50 at the headline load (interval half-width): "
        + "; ".join(parts)
        + "."
    )


# -- reference peers --------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def peers_section(run: RecordedRun) -> Section | None:
    """Our WebSocket server next to the bare websockets server and python-socketio, same load."""
    loads = sorted(
        {
            selection.load_of(s)
            for t in PEERS
            for s in run.of("broadcast", t)
            if not selection.variant(s)
        }
    )
    if not loads:
        return None
    section = Section("Reference peers")
    section.blocks.append(
        "The same broadcast, the same driver and publisher, against servers people would choose "
        "instead: `websockets`' own asyncio server with `websockets.broadcast` (no ASGI, no "
        "framework: the floor for WebSocket fan-out in Python) and python-socketio under "
        "uvicorn, reached over its WebSocket transport and over Engine.IO long polling. Peers "
        "keep no resume buffer and no per-connection queue; our servers do (see "
        "docs/socketio.md). Each figure is the median over the repeats, with [min–max]; CPU "
        "ratios divide our WebSocket server's median CPU per delivered message by the peer's."
    )
    for load in loads:
        rows = []
        ours = selection.spread_of(selection.repeats(run, "broadcast", "ws", load), selection.cpu)
        for t in ("ws", *PEERS):
            steps = selection.repeats(run, "broadcast", t, load)
            if not steps:
                continue
            cpu = selection.spread_of(steps, selection.cpu)
            achieved = selection.spread_of(steps, lambda s: s["achieved_rate"])
            rows.append(
                [
                    NAMES[t],
                    ", ".join(sorted({s["status"] for s in steps})),
                    f"{num(achieved.median if achieved else None, '/s', 1)} of "
                    f"{num(steps[0]['nominal_rate'], '/s')}",
                    selection.fmt_ms(selection.spread_of(steps, selection.p50)),
                    selection.fmt_ms(selection.spread_of(steps, selection.p99)),
                    f"{num(median_of(steps, 'down'))} + {num(median_of(steps, 'up'))}",
                    selection.fmt_us(cpu),
                    str(len(steps)),
                    "–"
                    if t == "ws"
                    else ratio(ours.median if ours else None, cpu.median if cpu else None),
                ]
            )
        section.blocks.append(
            Table(
                [
                    f"server ({load[0]:,} subscribers × {load[1]:g} msg/s)",
                    "status",
                    "publish rate achieved",
                    "p50",
                    "p99",
                    "bytes/msg (down + up)",
                    "server CPU/msg",
                    "repeats",
                    "our WS CPU ÷ this",
                ],
                rows,
            )
        )
    return section


def median_of(steps: list[StepResult], direction: Literal["down", "up"]) -> float | None:
    """The median bytes per delivered message one way, over the repeats."""
    spread = selection.spread_of(steps, lambda s: s["bytes_per_message"].get(direction))
    return None if spread is None else spread.median


# -- scale-out --------------------------------------------------------------------------------


def cluster_section(run: RecordedRun) -> Section | None:
    steps = [s for s in run.of("cluster") if s["status"] != "failed"]
    if not steps:
        return None
    rows = []
    for t in SERIES:
        mine = [s for s in steps if s["transport"] == t]
        if not mine:
            continue
        load = mine[0]["params"]["subscribers"]
        single = plain(run, "broadcast", t, load)
        one_redis = next(
            (s for s in mine if s["params"]["nodes"] == 1 and s["params"]["broker"] == "redis"),
            None,
        )
        for label, step in [("1 node, memory broker", single)] + [
            (
                f"{s['params']['nodes']} node{'s' if s['params']['nodes'] > 1 else ''}, "
                f"{s['params']['broker']}{' + nginx' if s['params']['lb'] else ''}",
                s,
            )
            for s in mine
        ]:
            if step is None:
                continue
            processes = step.get("process_cpu_us_per_message") or {}
            nodes = {k: v for k, v in processes.items() if k.startswith("node")}
            added = ""
            if step is one_redis and single is not None:
                with_redis, without = one_redis["latency_us"]["p50"], single["latency_us"]["p50"]
                added = ms(None if with_redis is None or without is None else with_redis - without)
            rows.append(
                [
                    NAMES[t],
                    label,
                    step["status"]
                    + (f" ({step['lost']:,} lost)" if step["lost"] else "")
                    + (
                        f" ({step['missed_other_nodes']:,} deliveries missed: other nodes' events)"
                        if step.get("missed_other_nodes")
                        else ""
                    ),
                    f"{num(step['achieved_rate'], '/s', 1)}",
                    ms(step["latency_us"]["p50"]),
                    ms(step["latency_us"]["p99"]),
                    added,
                    us(step["server_cpu_us_per_message"]),
                    ", ".join(f"{k} {v:.1f}" for k, v in nodes.items() if v is not None) or "",
                    us(processes.get("redis-server")) if "redis-server" in processes else "",
                    us(processes.get("nginx")) if "nginx" in processes else "",
                ]
            )
    section = Section("Scale-out: a Redis backplane behind nginx")
    section.blocks.append(
        "The same broadcast on one node (memory broker), on one node whose events go through "
        "Redis Pub/Sub (what the backplane adds), and on several nodes on Redis behind nginx "
        "(round robin, no stickiness: the resume cursor lives in the client). Every process "
        "of the cluster shares the server CPUs of the run, so on a 2-core machine a second "
        "node adds no capacity: it shows the cost of the extra hops, not a speed-up. CPU is "
        "µs per delivered message, per process. With the memory broker, nodes do not see "
        "each other's events: the lost count is the failure a backplane exists to fix."
    )
    section.blocks.append(
        Table(
            [
                "transport",
                "setup",
                "status",
                "publish rate",
                "p50",
                "p99",
                "Redis adds (p50)",
                "nodes CPU/msg",
                "per node",
                "redis-server",
                "nginx",
            ],
            rows,
        )
    )
    notes = [s["note"] for s in steps if s.get("note")]
    section.blocks.extend(notes[:3])
    return section


# -- security costs ---------------------------------------------------------------------------

KNOBS = {"auth": "JWT at every handshake", "ratelimit": "rate limits checked", "tls": "TLS"}


def security_section(run: RecordedRun) -> Section | None:
    """Each security knob against the same broadcast without it, in the same run."""
    rows = []
    for t in TRANSPORTS:
        for knob, label in KNOBS.items():
            by_load: dict[int, list[StepResult]] = {}
            for step in run.of("broadcast", t):
                p = step["params"]
                others = [k for k in ("compression", *KNOBS) if k != knob and p.get(k)]
                if p.get(knob) and not others and step["status"] != "failed":
                    by_load.setdefault(p["subscribers"], []).append(step)
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
            for s in run.of("idle", t)
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
                    f"{b - a:+.0f} µs/conn",
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


def question_one(run: RecordedRun, lang: claims.Lang) -> Section:
    """The course's eighteen items in its order, each judged from this run by one rule."""
    judged = question1.judge(run)
    m, pin = run.data["machine"], run.data["pinning"]
    load = readings.headline(run)
    reference = selection.at_text(load) if load else "–"
    if lang == "fr":
        section = Section("Question 1, mesurée")
        where = (
            f"{m['cpu_model']}, {m['cores']} cœurs ; serveurs sur le CPU {pin['server_cpus']}, "
            f"générateur de charge sur le CPU {pin['driver_cpus']}"
        )
        conditions = (
            f"Machine : {where}. Charge de référence : {reference} ; chaque ligne dit où sa "
            "mesure a été prise. n = répétitions (ou essais) par transport. Règle, par paire : "
            "un test U de Mann–Whitney exact et bilatéral sur les valeurs par répétition, "
            "p < 0,05, et des médianes à plus de 10 % l'une de l'autre (mesures comptées : les "
            "10 % seuls). Aucune étape saturée n'est citée (cœur serveur ≤ 80 %, générateur "
            "≤ 70 %), et une p99 demande au moins 1 000 événements par répétition. "
            "Intervalles : min–max sous 5 répétitions, intervalle bootstrap à 95 % de la "
            "médiane à partir de 5 ; une mesure comptée n'en a pas."
        )
    else:
        section = Section("Question 1, measured")
        where = (
            f"{m['cpu_model']}, {m['cores']} cores; servers on CPU {pin['server_cpus']}, the "
            f"load generator on CPU {pin['driver_cpus']}"
        )
        conditions = (
            f"Machine: {where}. Reference load: {reference}; each row says where its figure "
            f"was measured. n = repeats (or trials) per transport. The rule: {claims.RULE}. "
            "No saturated step is cited (server core ≤ 80 %, driver core ≤ 70 %), and a p99 "
            "needs at least 1,000 events per repeat. Intervals: min–max below 5 repeats, the "
            "95 % bootstrap interval of the median from 5; a counted figure has none."
        )
    section.blocks.append(verdicts.answer(judged, lang))
    left = [j.item for j in judged if j.verdict == "not measured"]
    if left:
        names = ", ".join(
            f"{verdicts.NAMES[lang][i.transport]}: {i.fr if lang == 'fr' else i.en} (`{i.claim}`)"
            for i in left
        )
        section.blocks.append(
            f"**Non mesurés par ce profil**, laissés au profil par défaut (`make bench`) : {names}."
            if lang == "fr"
            else f"**Not measured by this profile**, left to the default (`make bench`): {names}."
        )
    section.blocks.append(conditions)
    section.blocks.append("\n".join(f"- {line}" for line in verdicts.LEGEND[lang]))
    section.blocks.append(Table(verdicts.HEADERS[lang], [verdicts.row(j, lang) for j in judged]))
    return section


# -- assembling -------------------------------------------------------------------------------


def build(
    run: RecordedRun, charts: dict[str, Path], lang: claims.Lang = "en"
) -> tuple[str, list[Section]]:
    d = run.data
    m, s = d["machine"], d["software"]
    title = f"rtbench — {d['profile']['name']} run {d['run_id']}"
    sections: list[Section] = []

    intro = Section("The run")
    vm = m.get("virtual_machine")
    sharing = m.get("cpus_sharing_a_core")
    intro.blocks.append(
        f"{d['profile']['description']} Measured on {m['cpu_model']} ({m['cores']} cores, "
        f"{m['memory_bytes'] / 2**30:.0f} GiB, Linux {m['kernel']}"
        + (", a virtual machine" if vm else ", bare metal" if vm is False else "")
        + (
            f"; CPUs {', '.join(sharing)} are hyper-threads of one core"
            if sharing
            else "; no two CPUs share a physical core"
            if sharing is not None
            else ""
        )
        + f"), {d['created']}. Servers ran on CPU {d['pinning']['server_cpus']}, the measuring "
        f"driver and publisher on CPU {d['pinning']['driver_cpus']}"
        + (" — **shared**: figures include contention." if d["pinning"]["shared"] else ".")
    )
    lock = s.get("lock")
    if lock is not None and lock["matches"] is False:
        intro.blocks.append(f"**Environment:** {describe_lock(s)}.")
    failed = [st for st in d["steps"] if st.get("status") == "failed"]
    degraded = [st for st in d["steps"] if st.get("status") == "degraded"]
    saturated = [st for st in d["steps"] if selection.saturated(st)]
    if failed:
        intro.blocks.append(
            f"**{len(failed)} step(s) could not run**: "
            + "; ".join(f"`{st['id']}`: {st.get('error', '')[:120]}" for st in failed)
        )
    if degraded:
        intro.blocks.append(
            f"**{len(degraded)} step(s) ran degraded** (figures shown as measured): "
            + "; ".join(
                f"`{st['id']}`: {st.get('degraded_because') or 'see its row'}" for st in degraded
            )
        )
    if saturated:
        limits = d["settings"].get("saturation") or {}
        intro.blocks.append(
            f"**{len(saturated)} step(s) ran saturated** (server core > "
            f"{limits.get('server', 0.8):.0%} or driver core > {limits.get('driver', 0.7):.0%} "
            "busy): their latency is queueing and their CPU/msg is a core divided by throughput, "
            "so no verdict cites them. They are listed in the last table."
        )
    table = headline(run)
    if table:
        intro.blocks.append(
            "Each figure: the median over the interleaved repeats, [min–max] below 5 repeats, "
            "[95 % bootstrap interval of the median] from 5."
        )
        intro.blocks.append(table)
    noise = noise_note(run)
    if noise:
        intro.blocks.append(noise)
    sections.append(intro)

    sections.append(question_one(run, lang))
    explained = (
        (
            "Bytes on the wire, complete",
            "Per delivered message, medians over repeats. Payload, envelope (the event's id, "
            "room and keys) and framing (SSE lines and chunk header, WebSocket frame header, the "
            "poll response's JSON) are computed with the codecs for a typical event of the step; "
            "HTTP headers and handshakes are what the kernel counted downstream beyond them. "
            "Segments come from `tcpi_segs_in`/`tcpi_segs_out` (pure ACKs included), each "
            "costing the TCP/IP header bytes shown in the results (IPv4 + TCP + timestamps: "
            "52 B; a link layer adds more on a real network).",
            wire_table(run),
        ),
        (
            "HTTP/2",
            "The same app served by hypercorn over TLS (uvicorn has no HTTP/2), the lean driver "
            "speaking HTTP/2 through the `h2` library, negotiated by ALPN as browsers do. HPACK "
            "sends a request's repeated headers as table indexes: what is left of long "
            "polling's HTTP overhead shows in bytes per message. Many SSE streams or polls of one "
            "client can share a connection. WebSocket stays on HTTP/1.1 here; hypercorn offers "
            "RFC 8441 (WebSocket over an HTTP/2 stream, `SETTINGS_ENABLE_CONNECT_PROTOCOL`), "
            "uvicorn does not. Bytes are the kernel's TCP counts, so TLS records are included "
            "on every row alike. Medians [interval] over repeats.",
            http2_table(run),
        ),
        (
            "Binary payloads",
            "Random bytes published as binary events (`application/octet-stream`): a WebSocket "
            "subscriber receives each as one binary frame (an 8-byte id, the room, the bytes); "
            "SSE and long polling can carry only text, so the same bytes travel as base64 inside "
            "the event's JSON, a third larger, and the client decodes them. Medians [interval] "
            "over repeats; the bare websockets peer broadcasts the same binary frames. One "
            "driver process reads every subscriber in turn, so where its CPU per message is "
            "high (base64 and JSON of large events) latency includes waiting for it.",
            binary_table(run),
        ),
        (
            "At a distance: round-trip time through a delay proxy",
            "Each subscriber through `scenarios.load.delayproxy`, which holds every chunk for half "
            "the RTT in each direction (and the client's first bytes for the TCP handshake's round "
            "trip); the publisher posts to the server directly. Medians over the step's repeats. "
            "Time to first event counts the connection, the subscribe request or upgrade and the "
            "answer; a burst is ten events published back to back — a long poll answers with "
            "what it holds and pays a round trip to ask for the rest; resume is a reconnection "
            "with a cursor after a drop, an event having been published meanwhile.",
            delay_table(run),
        ),
        (
            "Reconnect storm",
            "Every subscriber drops its connection and resumes with its cursor (`after` / "
            "`Last-Event-ID`) within the given time, while the publisher goes on. p99 is taken "
            "per 100 ms; recovery is the time from the storm's start until p99 stays within "
            "what the second before showed (its worst 100 ms, or 20 % / 5 ms above its median), "
            "three buckets running. A saturated step was already queueing before the storm.",
            storm_table(run),
        ),
        (
            "Soak",
            "A long broadcast while subscribers drop and resume, the server's resident memory and "
            "open file descriptors sampled every few seconds. After the warm-up, the RSS slope "
            "is a least-squares fit; a server that leaks shows a slope that does not go away "
            "with a longer run, and fds that climb.",
            soak_table(run),
        ),
        (
            "The floor: each transport's null server",
            "The same load against a null server of the same transport (no framework, no "
            "queues, one write per socket): what the driver, the publisher and the kernel "
            "account for. The server's own share is ours minus the null server's.",
            server_share(run),
        ),
        (
            "The fan-out path: direct or through ASGI",
            "`direct` (the servers' default): each event is framed once and written to every "
            "ready socket as it is published. `asgi`: each event goes through the "
            "subscriber's queue, a task wake-up and ASGI `send`, the path every ASGI server "
            "offers. The same load, the same driver; the null server of the transport and the "
            "WebSocket peers (bare websockets, picows) are the floors.",
            fanout_table(run),
        ),
        (
            "Where a delivery's server CPU goes",
            "From `python -m scenarios.tools.breakdown` (py-spy with native frames, sampling the "
            "server through a broadcast): each sample charged to the innermost layer it is "
            "in, times the CPU per delivery of an unsampled window at the same load (py-spy "
            "stops the server to sample it); samples of the loop waiting in `epoll_wait` are "
            "idle time, left out. `kernel write` is "
            "the socket write itself; `ASGI and HTTP` includes the publish request and, for "
            "long polling, every poll request.",
            breakdown_table(run),
        ),
        (
            "Capacity: offered-load sweep",
            "The offered rate doubles until p99 leaves the bound, an event is lost, the "
            "publisher falls behind, or the driver core saturates. Capacity is the highest "
            "offered load that passed.",
            sweep(run),
        ),
    )
    for title_text, intro_text, found in explained:
        if found is not None:
            sections.append(Section(title_text, [intro_text, found]))
    for extra in (
        browser_section(run),
        proxy_section(run),
        peers_section(run),
        security_section(run),
        cluster_section(run),
    ):
        if extra is not None:
            sections.append(extra)

    captions = {
        "latency-cdf": "Latency distribution at the comparison fan-out (100 subscribers when "
        "the run has it), with the null-server baseline: the gap between a transport and its "
        "dotted line is the server's own share.",
        "latency-vs-subscribers": "How latency grows with fan-out at a fixed publish rate.",
        "wire-bytes": "Bytes on the wire per delivered message, from the kernel's TCP counters.",
        "server-cpu": "Server CPU per delivered message; hatched: the null server (kernel floor).",
        "driver-cpu": "What the measuring driver spends per message: when it approaches the "
        "server's, the harness is part of what is measured.",
        "rss-per-connection": "Server memory per idle subscriber connection.",
        "knee": "p99 as the offered load doubles until it leaves the bound or loses events.",
        "churn-timeline": "Deliveries through forced drops: every subscriber resumes by id.",
        "soak": "The server's RSS and open file descriptors through the soak.",
    }
    figures = Section("Charts")
    for name, path in charts.items():
        figures.blocks.append(Image(path, captions.get(name, name)))
    sections.append(figures)

    read = Section("How to read this")
    read.blocks += [
        "**Latency** is the time from the publisher's *scheduled* send time to the subscriber "
        "reading the event (open loop: a slow server cannot hide its delay by slowing the "
        "publisher). Percentiles come from every raw sample (HdrHistogram, 3 digits).",
        "**Bytes per message** count everything on the client sockets (HTTP headers, chunk and "
        "frame overhead, polls, handshakes) divided by delivered messages.",
        "**CPU per message** is the process's time on a CPU over the measured phase, in "
        "nanoseconds from the scheduler (`/proc/<pid>/task/*/schedstat`), divided by measured "
        "deliveries. **Core utilisation** is the CPU seconds of the processes pinned to a "
        "side's core(s) ÷ wall seconds of the measured window; past the run's thresholds a "
        "step is *saturated*. **The null server** shows what the driver, publisher and kernel "
        "account for by themselves.",
        "**Status**: *ok* means nothing lost, duplicated or left undelivered, and the publisher "
        "achieved at least 95 % of its nominal rate; *degraded* names what was not so (the "
        "publisher's achieved rate, losses, errors, an undrained queue).",
    ]
    sections.append(read)

    again = Section("How to reproduce")
    packages = ", ".join(f"{k} {v}" for k, v in s["packages"].items() if v)
    again.blocks += [
        f"Command: `{d.get('command', 'python -m scenarios.run')}` (or `make bench "
        f"PROFILE={d['profile']['name']}`), git commit `{s['git'].get('commit')}`"
        + (" (with uncommitted changes)" if s["git"].get("dirty") else "")
        + ".",
        f"Python {s['python']}; {packages}. Broker: {d['settings']['broker']}; driver: "
        f"{d['settings']['driver']}.",
        f"Environment: {describe_lock(s)}. `make install` recreates it; `results.json` "
        "lists every installed distribution (`software.distributions`).",
    ]
    sections.append(again)
    steps = Section("Every step of the run")
    steps.blocks.append(every_step(run))
    sections.append(steps)
    return title, sections


# -- rendering --------------------------------------------------------------------------------


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += [
                    "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                    for row in block.rows
                ]
            elif isinstance(block, Image):
                lines.append(f"![{block.caption}]({block.path.relative_to(base)})")
                lines.append(f"*{block.caption}*")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 980px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; width: 100%; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.5em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } code { background: #f3f3f3; padding: 0 3px; }
"""


def _inline(text: str) -> str:
    """Escape, then the two Markdown marks the report uses: **bold** and `code`."""
    out, parts = [], html.escape(text).split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def to_html(title: str, sections: list[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{_inline(h)}</th>" for h in block.headers)
                rows = "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                    for row in block.rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif isinstance(block, Image):
                data = base64.b64encode(block.path.read_bytes()).decode()
                body.append(
                    f'<figure><img alt="{html.escape(block.caption)}" '
                    f'src="data:image/png;base64,{data}">'
                    f"<figcaption>{_inline(block.caption)}</figcaption></figure>"
                )
            else:
                body.append(f"<p>{_inline(block)}</p>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )

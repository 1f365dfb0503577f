"""Question 1 in a real browser: latency and CPU, the connection limit, cross-origin reads
and EventSource's reconnection."""

from __future__ import annotations

from record import (
    TRANSPORTS,
    BrowserStep,
    RecordedRun,
)
from report import selection, stats
from report.format import fmt, fmt_ms, fmt_us
from report.model import Block, Section, Table
from report.selection import NAMES


def browser_section(run: RecordedRun) -> Section | None:
    """The browser scenario: latency and cost in Chromium, the per-origin connection limit,
    cross-origin reads and EventSource's own reconnection."""
    present = [t for t in TRANSPORTS if run.browsers(t)]
    if not present:
        return None
    first = run.browsers(present[0])[0]
    kinds = [
        (t, h2) for t in present for h2 in (False, True) if selection.browser_steps(run, t, h2)
    ]

    return Section(
        "In a real browser",
        [
            *latency_blocks(run, kinds, first),
            *limit_blocks(run, kinds, first),
            *cross_origin_blocks(run, present),
            *reconnection_blocks(run),
        ],
    )


def label(transport: str, h2: bool) -> str:
    return NAMES[transport] + (" over HTTP/2" if h2 else "")


def latency_blocks(
    run: RecordedRun, kinds: list[tuple[str, bool]], first: BrowserStep
) -> list[Block]:
    """Latency and the browser's CPU in Chromium, per transport and protocol."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    blocks.append(
        f"Headless Chromium {first.get('chromium_version', '')} (Debian's build, driven by "
        "Playwright, pinned to the driver core), subscribing with the web platform's own "
        "clients: a `fetch` loop for long polling, `EventSource`, `WebSocket`. Latency is read "
        "with the page's clock (`performance.timeOrigin + performance.now()`, this machine's "
        "wall clock, coarsened by Chromium to 100 µs) against the publisher's scheduled send "
        "time. The browser's CPU is every Chromium process's, from `/proc`, minus its idle "
        "rate measured just before. Medians [min–max] over the repeats."
    )
    for t, h2 in kinds:
        steps = selection.browser_steps(run, t, h2)
        lat = [s["latency"] for s in steps if s.get("latency")]
        load = f"{lat[0]['subscribers']} × {lat[0]['rate']:g}/s" if lat else "–"
        rows.append([
            label(t, h2),
            load,
            fmt_ms(selection.spread_of(steps, selection.p50)),
            fmt_ms(selection.spread_of(steps, selection.p99)),
            fmt_us(stats.spread([x["browser_cpu_us_per_message"] for x in lat])),
            f"{sum(x['lost'] for x in lat)} of {sum(x['expected'] for x in lat):,}",
        ])  # fmt: skip
    blocks.append(
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
    return blocks


def limit_blocks(
    run: RecordedRun, kinds: list[tuple[str, bool]], first: BrowserStep
) -> list[Block]:
    """The per-origin connection limit: who receives, who stalls, and after a close."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    for t, h2 in kinds:
        limit = selection.browser_steps(run, t, h2)[0].get("connection_limit")
        if not limit:
            continue
        stall = limit["stall_ms"]
        after = limit["after_close_ms"]
        rows.append([
            label(t, h2),
            f"{limit['receiving']} of {limit['streams']}",
            str(limit["stalled"]),
            f"{max(stall):,.0f} ms" if stall else "–",
            f"{max(after):,.0f} ms" if after else "–",
        ])  # fmt: skip
    if rows:
        blocks.append(
            f"One page opens {first['connection_limit']['streams']} subscribers to one origin "
            "over HTTP/1.1 (Chromium keeps at most six connections per origin) and events are "
            f"published for 2 s; then {first['connection_limit']['closed']} receiving "
            "subscribers close and publishing goes on for 2 s. A fetch loop's requests queue "
            "for a connection and share them; a stream holds its connection for good. Over "
            "HTTP/2 (hypercorn, TLS; the protocol Chromium reports in Resource Timing: "
            f"{protocols(run)}) every subscriber of the origin is a stream of one connection."
        )
        blocks.append(
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
    return blocks


def cross_origin_blocks(run: RecordedRun, present: list[str]) -> list[Block]:
    """What a page of another origin can read, as shipped and configured."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    for t in present:
        plain_steps = selection.browser_steps(run, t)
        found = plain_steps[0].get("cross_origin") if plain_steps else None
        if found:
            rows.append([
                NAMES[t],
                selection.outcome_text(found.get("default")),
                selection.outcome_text(found.get("no_origin_check")),
                selection.outcome_text(found.get("origin_checked")),
            ])  # fmt: skip
    if rows:
        blocks.append(
            "Cross-site WebSocket hijacking, measured: a page of another origin (another port "
            "of 127.0.0.1) subscribes to the server as it ships (it refuses an Origin that is "
            'not its own), to one configured with `allowed_origins = ["*"]` (the check off, '
            "on purpose: the hole), and to one whose `allowed_origins` names another site; "
            "none sends CORS headers; three events are published to each."
        )
        blocks.append(
            Table(
                ["transport", "as it ships", 'allowed_origins = ["*"]', "another site allowed"],
                rows,
            )
        )
    return blocks


def reconnection_blocks(run: RecordedRun) -> list[Block]:
    """EventSource's own reconnection against the code the other clients need."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    reconnection = selection.browser_reconnection(run)
    if reconnection:
        lines = selection.recovery_code(run)
        rows = [
            [f"EventSource, retry: {retry} ms", str(f.reconnects),
             fmt(f.reconnect, 1, " ms", 0), f"{f.lost} of {f.expected:,}", "0"]
            for retry, f in reconnection.items()
        ]  # fmt: skip
        rows += [[f"{NAMES[t]} (the demo's code)", "–", "–", "–", str(n)] for t, n in lines.items()]
        blocks.append(
            "EventSource's own reconnection: the server ends every stream after 2 s "
            "(`heartbeat.stream_max_seconds`); the browser reconnects after the server's "
            "`retry:` and sends `Last-Event-ID` by itself. The fetch loop and the WebSocket need "
            "application code for the same: the demo's lines that back off, retry and carry the "
            "cursor are counted."
        )
        blocks.append(
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
    return blocks


def protocols(run: RecordedRun) -> str:
    found = sorted({s["protocol"] for s in run.browsers() if s["params"].get("http2")})
    return ", ".join(found) or "not run"

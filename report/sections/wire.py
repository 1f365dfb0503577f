"""Bytes on the wire, over HTTP/2, and for binary payloads."""

from __future__ import annotations

from record import (
    TRANSPORTS,
    DeliveryStep,
    RecordedRun,
)
from report import selection
from report.drawing import SERIES
from report.format import fmt_bytes, fmt_ms, fmt_us
from report.model import Section, Table, explained
from report.sections.headline import headline_load
from report.selection import NAMES


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
            s for s in run.deliveries("broadcast", t)
            if s["params"].get("browser_headers") and selection.load_of(s) == load
        ]  # fmt: skip
        if browser:
            variants.append(("Chromium's headers + cookie", browser))
        for label, steps in variants:
            if not steps:
                continue

            def median(get: selection.Getter, steps: list[DeliveryStep] = steps) -> str:
                spread = selection.spread_of(steps, get)
                return "–" if spread is None else f"{spread.median:,.1f}"

            def part(key: str) -> selection.Getter:
                return lambda one: (one["bytes_per_message"].get("down_split") or {}).get(key)

            def headers(s: DeliveryStep) -> float | None:
                b = s["bytes_per_message"]
                down, up = b.get("segments_down"), b.get("segments_up")
                if down is None or up is None:
                    return None
                return float((down + up) * b["ip_tcp_header_bytes_per_segment"])

            def total(s: DeliveryStep) -> float | None:
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


def driver_cpu(step: DeliveryStep) -> float | None:
    return step.get("driver_cpu_us_per_message")


def http2_table(run: RecordedRun) -> Table | None:
    """The same app under hypercorn over TLS: HTTP/1.1 against HTTP/2, one connection per
    subscriber or many subscribers multiplexed on one."""
    rows = []
    for t in TRANSPORTS:
        for protocol, steps in selection.protocol_steps(run, t).items():
            flag = "; ".join(sorted({f for s in steps if (f := selection.saturated(s))}))
            status = ", ".join(sorted({s["status"] for s in steps}))

            def median(get: selection.Getter, steps: list[DeliveryStep] = steps) -> str:
                spread = selection.spread_of(steps, get)
                return "–" if spread is None else f"{spread.median:,.0f}"

            rows.append([
                NAMES[t],
                protocol,
                median(lambda s: s["bytes_per_message"].get("down")),
                median(selection.up),
                fmt_bytes(selection.spread_of(steps, selection.wire)),
                fmt_us(selection.spread_of(steps, selection.cpu)),
                fmt_ms(selection.spread_of(steps, selection.p50)),
                fmt_ms(selection.spread_of(steps, selection.p99)),
                status + (f" — **saturated**: {flag}" if flag else ""),
            ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["transport", "protocol", "bytes down/msg", "bytes up/msg", "total", "server CPU/msg",
         "p50", "p99", "status"],
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
                    fmt_bytes(spread),
        "–" if extra is None else f"{extra:+.1%}",
                    fmt_us(selection.spread_of(steps, selection.cpu)),
                    fmt_us(selection.spread_of(steps, driver_cpu)),
                    fmt_ms(selection.spread_of(steps, selection.p50)),
                    fmt_ms(selection.spread_of(steps, selection.p99)),
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


def wire_section(run: RecordedRun) -> Section | None:
    return explained(
        "Bytes on the wire, complete",
        "Per delivered message, medians over repeats. Payload, envelope (the event's id, "
        "room and keys) and framing (SSE lines and chunk header, WebSocket frame header, the "
        "poll response's JSON) are computed with the codecs for a typical event of the step; "
        "HTTP headers and handshakes are what the kernel counted downstream beyond them. "
        "Segments come from `tcpi_segs_in`/`tcpi_segs_out` (pure ACKs included), each "
        "costing the TCP/IP header bytes shown in the results (IPv4 + TCP + timestamps: "
        "52 B; a link layer adds more on a real network).",
        wire_table(run),
    )


def http2_section(run: RecordedRun) -> Section | None:
    return explained(
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
    )


def binary_section(run: RecordedRun) -> Section | None:
    return explained(
        "Binary payloads",
        "Random bytes published as binary events (`application/octet-stream`): a WebSocket "
        "subscriber receives each as one binary frame (an 8-byte id, the room, the bytes); "
        "SSE and long polling can carry only text, so the same bytes travel as base64 inside "
        "the event's JSON, a third larger, and the client decodes them. Medians [interval] "
        "over repeats; the bare websockets peer broadcasts the same binary frames. One "
        "driver process reads every subscriber in turn, so where its CPU per message is "
        "high (base64 and JSON of large events) latency includes waiting for it.",
        binary_table(run),
    )

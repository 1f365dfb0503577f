"""The report's steps and figures: which steps of a run compare (plain, by load, clean and
unsaturated), the figures read from a step, and how a median with its interval is written.
Question 1's verdicts (`report.question1`) and every table of the report read steps through
these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from record import (
    BrowserStep,
    BytesPerMessage,
    CrossOriginOutcome,
    DelayStep,
    DeliveryStep,
    Params,
    ProxyStep,
    RecordedRun,
    RetryOutcome,
    StepHeader,
    StepResult,
    utilisation_of,
)
from report import stats
from report.stats import Spread

Step = DeliveryStep
AnyStep = TypeVar("AnyStep", DeliveryStep, BrowserStep, StepResult)
Getter = Callable[[Step], float | None]

NAMES = {
    "longpoll": "Long polling",
    "sse": "Server-Sent Events",
    "ws": "WebSocket",
    "bare-ws": "bare websockets (peer)",
    "picows": "picows (peer)",
    "socketio-ws": "Socket.IO, WebSocket (peer)",
    "socketio-polling": "Socket.IO, polling (peer)",
    "nchan-longpoll": "Nchan, long polling (peer)",
    "nchan-sse": "Nchan, EventSource (peer)",
    "nchan-ws": "Nchan, WebSocket (peer)",
}
KNOBS = ("tls", "compression", "auth", "ratelimit", "browser_headers", "binary", "http2")


# -- selecting steps ---------------------------------------------------------------------------


def variant(step: StepHeader) -> bool:
    """TLS, compression, auth, rate-limit or odd payload steps are not the plain comparison."""
    return variant_params(step["params"])


def variant_params(p: Params) -> bool:
    return (
        any(p.get(knob) for knob in KNOBS)
        or p.get("payload_bytes", 90) != 90
        or p.get("server", "uvicorn") != "uvicorn"
        or p.get("fanout", "direct") != "direct"
    )


def saturated(step: StepResult) -> str | None:
    """Why the step ran saturated, or None (runs before schema 2 recorded no utilisation)."""
    return utilisation_of(step).get("saturated_because")


Load = tuple[int, float]
"""(subscribers, publish rate): one broadcast load."""


def load_of(step: Step) -> Load:
    p = step["params"]
    return int(p["subscribers"]), float(p["rate"])


def repeats(
    run: RecordedRun, scenario: str, transport: str, load: Load | None = None
) -> list[Step]:
    """The plain steps of one transport (at one load), every repeat that ran."""
    return [
        s
        for s in run.deliveries(scenario, transport)
        if not variant(s) and (load is None or ("rate" in s["params"] and load_of(s) == load))
    ]


def usable(steps: Sequence[Step]) -> bool:
    """Fit to judge a claim on: ran, nothing lost, no repeat saturated."""
    return bool(steps) and all(s["status"] == "ok" and not saturated(s) for s in steps)


def loads(run: RecordedRun, scenario: str = "broadcast") -> list[Load]:
    """Plain loads of the run, highest offered deliveries first."""
    found = {
        load_of(s) for s in run.deliveries(scenario) if not variant(s) and "rate" in s["params"]
    }
    return sorted(found, key=lambda load: (load[0] * load[1], load[0]), reverse=True)


def comparison_load(
    run: RecordedRun, transports: Sequence[str], scenario: str = "broadcast"
) -> Load | None:
    """The highest load at which every one of `transports` ran unsaturated and clean."""
    for load in loads(run, scenario):
        if all(usable(repeats(run, scenario, t, load)) for t in transports):
            return load
    return None


def spread_of(steps: Sequence[AnyStep], get: Callable[[AnyStep], float | None]) -> Spread | None:
    return stats.spread([v for s in steps if (v := get(s)) is not None])


# -- figures -----------------------------------------------------------------------------------


def p50(step: Step | BrowserStep) -> float | None:
    return step["latency_us"]["p50"]


def p99(step: Step | BrowserStep) -> float | None:
    return step["latency_us"]["p99"]


def cpu(step: Step) -> float | None:
    return step.get("server_cpu_us_per_message")


def wire(step: Step) -> float | None:
    b = step.get("bytes_per_message", BytesPerMessage())
    down = b.get("down")
    return None if down is None else down + (b.get("up") or 0)


def up(step: Step) -> float | None:
    value: float | None = (step.get("bytes_per_message") or {}).get("up")
    return value


def requests_per_message(step: Step) -> float | None:
    delivered: int = step.get("delivered") or 0
    polls: int = step.get("polls") or 0
    return polls / delivered if delivered else None


# -- steps of the real-condition scenarios ----------------------------------------------------


def at_text(load: Load) -> str:
    return f"{load[0]:,} subscribers × {load[1]:g} msg/s"


def protocol_steps(run: RecordedRun, transport: str) -> dict[str, list[Step]]:
    """Broadcast steps served by hypercorn over TLS, by protocol: HTTP/1.1, HTTP/2 with a
    connection per subscriber, HTTP/2 with many subscribers per connection."""
    found: dict[str, list[Step]] = {}
    for step in run.deliveries("broadcast", transport):
        p = step["params"]
        if p.get("server", "uvicorn") != "hypercorn" and not p.get("http2"):
            continue
        if p.get("binary") or p.get("payload_bytes", 90) != 90:
            continue
        per = int(p.get("streams_per_connection") or 1)
        if not p.get("http2"):
            key = "HTTP/1.1 + TLS"
        elif per == 1:
            key = "HTTP/2, a connection per subscriber"
        else:
            key = f"HTTP/2, {per} subscribers per connection"
        found.setdefault(key, []).append(step)
    return found


def browser_steps(run: RecordedRun, transport: str, http2: bool = False) -> list[BrowserStep]:
    """The browser steps of one transport, over HTTP/1.1 or over HTTP/2."""
    return [s for s in run.browsers(transport) if bool(s["params"].get("http2")) == http2]


@dataclass(frozen=True, slots=True)
class Reconnection:
    """EventSource's own reconnection with one `retry:`, over every repeat."""

    reconnects: int
    reconnect: Spread | None
    """Milliseconds from a stream's end to its reopening."""
    lost: int
    expected: int


def browser_reconnection(run: RecordedRun) -> dict[str, Reconnection] | None:
    """The SSE browser steps' EventSource reconnection figures, by `retry:` in ms."""
    found: dict[str, list[RetryOutcome]] = {}
    for step in run.browsers("sse"):
        if "sse_reconnection" in step:
            for retry, outcome in step["sse_reconnection"]["by_retry_ms"].items():
                found.setdefault(retry, []).append(outcome)
    if not found:
        return None
    return {
        retry: Reconnection(
            reconnects=sum(r["reconnects"] for r in runs),
            reconnect=stats.spread([g for r in runs for g in r["reconnect_ms"]]),
            lost=sum(r["lost"] for r in runs),
            expected=sum(r["expected"] for r in runs),
        )
        for retry, runs in sorted(found.items(), key=lambda item: -int(item[0]))
    }


def recovery_code(run: RecordedRun) -> dict[str, int]:
    for step in run.browsers():
        if step["recovery_code_lines"]:
            return step["recovery_code_lines"]
    return {}


def binary_steps(run: RecordedRun, transport: str) -> dict[int, list[Step]]:
    """The binary-payload broadcast steps of one transport, by payload size."""
    found: dict[int, list[Step]] = {}
    for step in run.deliveries("broadcast", transport):
        if step["params"].get("binary"):
            found.setdefault(int(step["params"]["payload_bytes"]), []).append(step)
    return dict(sorted(found.items()))


def size_text(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def overhead(steps: Sequence[Step], size: int) -> float | None:
    """Median wire bytes per message beyond the payload, as a share of the payload."""
    spread = spread_of(steps, wire)
    return None if spread is None else (spread.median - size) / size


def outcome_text(found: CrossOriginOutcome | None) -> str:
    """What one cross-origin page got from one server, in words; `not run` without it."""
    if found is None:
        return "not run"
    outcome = found["outcome"]
    if outcome == "read":
        return f"read {found['events_read']} of {found['events_published']} events"
    return outcome.replace("blocked: ", "blocked (").rstrip() + (
        ")" if outcome.startswith("blocked: ") else ""
    )


def proxied(run: RecordedRun) -> dict[tuple[str, str, bool], ProxyStep]:
    """`proxy` steps by (transport, nginx flavour, SSE buffering header sent)."""
    return {
        (
            s["transport"],
            s["nginx"],
            bool(s["params"].get("sse_proxy_buffering_off", True)),
        ): s
        for s in run.proxies()
    }


def through(step: ProxyStep) -> str:
    """What one subscribe through nginx got: refused, or delivered with its latency."""
    if not step["handshake_passed"]:
        return f"refused ({step['handshake_status']})"
    lost = step.get("lost", 0)
    latency = step.get("latency_us")
    p50_us, p99_us = (None, None) if latency is None else (latency["p50"], latency["p99"])
    p50_text = "–" if p50_us is None else f"{p50_us / 1000:.1f} ms"
    p99_text = "–" if p99_us is None else f"{p99_us / 1000:.1f} ms"
    return f"passes, {lost} lost, p50 {p50_text}, p99 {p99_text}"


def delayed(run: RecordedRun) -> dict[tuple[str, float], DelayStep]:
    """`delay` steps by (transport, RTT ms)."""
    return {(s["transport"], float(s["params"]["rtt_ms"])): s for s in run.delays()}

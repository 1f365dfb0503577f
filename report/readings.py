"""How a claim's figure is read from a run: which steps it may cite (clean and unsaturated,
enough events for a p99), at which load, and the per-repeat values of each figure."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from record import (
    TRANSPORTS,
    ChatStep,
    DeliveryStep,
    RecordedRun,
    StepResult,
    delivers,
    latency_of,
    utilisation_of,
)
from report.claims import P99_EVENTS, Figure, Reading
from report.selection import (
    KNOBS,
    at_text,
    browser_steps,
    load_of,
    loads,
    p99,
    repeats,
    saturated,
    wire,
)


def clean(step: StepResult) -> bool:
    """Ran to the end with nothing lost and no core past its threshold."""
    return step["status"] == "ok" and saturated(step) is None


def cores(steps: Sequence[StepResult]) -> tuple[float | None, float | None, float | None]:
    """The busiest server and driver core over these steps, and the driver's CPU per message."""
    uses = [utilisation_of(s) for s in steps]
    server = [v for u in uses if (v := u.get("server_core")) is not None]
    driver = [v for u in uses if (v := u.get("driver_core")) is not None]
    driver_cpu = [
        v for s in steps if delivers(s) and (v := s.get("driver_cpu_us_per_message")) is not None
    ]
    return (
        max(server) if server else None,
        max(driver) if driver else None,
        statistics.median(driver_cpu) if driver_cpu else None,
    )


def events(step: StepResult) -> int:
    latency = latency_of(step)
    return 0 if latency is None else latency["count"]


def figure_of(
    steps: Sequence[DeliveryStep],
    get: Callable[[DeliveryStep], float | None],
    where: str,
    p99: bool = False,
) -> Reading:
    if not steps:
        return f"no step at {where}"
    unfit = [s["id"] for s in steps if not clean(s)]
    if unfit:
        return f"not clean or saturated: {', '.join(unfit)}"
    if p99:
        short = [s["id"] for s in steps if events(s) < P99_EVENTS]
        if short:
            return f"fewer than {P99_EVENTS:,} events in {', '.join(short)}"
    values = tuple(v for s in steps if (v := get(s)) is not None)
    if len(values) != len(steps):
        return f"a step without this figure at {where}"
    return Figure(values, tuple(s["id"] for s in steps), where, *cores(steps))


# -- loads -------------------------------------------------------------------------------------


def common_loads(run: RecordedRun) -> list[tuple[int, float]]:
    """Plain broadcast loads where every transport ran clean and unsaturated."""
    return [
        load
        for load in loads(run)
        if all(
            (steps := repeats(run, "broadcast", t, load)) and all(clean(s) for s in steps)
            for t in TRANSPORTS
        )
    ]


def headline(run: RecordedRun) -> tuple[int, float] | None:
    """The comparison load: the common load with the most repeats (then the most deliveries)."""
    found = common_loads(run)
    if not found:
        return None
    return max(
        found,
        key=lambda load: (min(len(repeats(run, "broadcast", t, load)) for t in TRANSPORTS),
                          load[0] * load[1]),
    )  # fmt: skip


def widest(run: RecordedRun) -> tuple[int, float] | None:
    """The fan-out load: the common load with the most subscribers."""
    found = common_loads(run)
    return max(found, key=lambda load: (load[0], load[1])) if found else None


def at_load(
    pick: Callable[[RecordedRun], tuple[int, float] | None],
    get: Callable[[DeliveryStep], float | None],
    p99: bool = False,
) -> Callable[[RecordedRun, str], Reading]:
    def read(run: RecordedRun, transport: str) -> Reading:
        load = pick(run)
        if load is None:
            return "no broadcast load where all three transports ran clean and unsaturated"
        steps = repeats(run, "broadcast", transport, load)
        return figure_of(steps, get, at_text(load), p99)

    return read


# -- figures -----------------------------------------------------------------------------------


def p99_ms(step: DeliveryStep) -> float | None:
    value = p99(step)
    return None if value is None else value / 1000


def burst_at_distance(run: RecordedRun, transport: str) -> Reading:
    """Events 2–10 of a burst through the delay proxy at the run's widest round-trip time: a
    long poll answers with what it has and pays a round trip to ask for the rest."""
    steps = [s for s in run.delays() if float(s["params"]["rtt_ms"]) > 0]
    if not steps:
        return "no delay step with a round-trip time"
    rtt = max(float(s["params"]["rtt_ms"]) for s in steps)
    mine = [s for s in steps if s["transport"] == transport and float(s["params"]["rtt_ms"]) == rtt]
    where = f"RTT {rtt:g} ms through the delay proxy"
    if not mine:
        return f"no step at {where}"
    unfit = [s["id"] for s in mine if not clean(s)]
    if unfit:
        return f"not clean or saturated: {', '.join(unfit)}"
    values = tuple(v for s in mine for v in s["burst_rest_ms"] if v is not None)
    if not values:
        return f"no burst measured at {where}"
    return Figure(values, tuple(s["id"] for s in mine), f"{where}, {len(values)} bursts",
                  *cores(mine))  # fmt: skip


def browser_code(run: RecordedRun, transport: str) -> Reading:
    """Lines of browser code the demo page needs to reconnect and resume a subscription;
    EventSource's are none, provided Chromium's own reconnection lost nothing."""
    steps = browser_steps(run, transport)
    where = "headless Chromium, the demo page's subscription code"
    if not steps:
        return "no browser step"
    step = steps[0]
    if saturated(step) is not None:
        return f"saturated: {step['id']}"
    if transport == "sse":
        retries = (
            list(step["sse_reconnection"]["by_retry_ms"].values())
            if "sse_reconnection" in step
            else []
        )
        if not retries:
            return "EventSource's reconnection was not measured"
        failed = [r for r in retries if r["lost"] or not r["reconnects"]]
        if failed:
            return "EventSource lost events or did not reconnect by itself"
        return Figure((0.0,), (step["id"],), where, *cores([step]))
    lines = step["recovery_code_lines"].get(transport)
    if lines is None:
        return "lines of recovery code not counted"
    return Figure((float(lines),), (step["id"],), where, *cores([step]))


def proxy_steps(run: RecordedRun, transport: str, nginx: str) -> list[DeliveryStep]:
    """Subscriptions through nginx (defaults or tuned), the SSE server sending its usual
    `X-Accel-Buffering: no`."""
    return [
        s
        for s in run.deliveries("proxy", transport)
        if s["params"]["nginx"] == nginx and s["params"].get("sse_proxy_buffering_off", True)
    ]


def delivered_share(step: DeliveryStep) -> float:
    """The share of events a subscriber behind the proxy received (0 when refused)."""
    if not step.get("handshake_passed"):
        return 0.0
    expected = step.get("expected") or 0
    return (step.get("delivered") or 0) / expected if expected else 0.0


def delivered_all(step: StepResult) -> bool:
    """Every event reached every subscriber: through nginx (its handshake passed) or in
    Chromium."""
    if step["result"] == "browser":
        return step["status"] == "ok" and not step["latency"]["lost"]
    return delivers(step) and delivered_share(step) == 1


def through_default_proxy(run: RecordedRun, transport: str) -> Reading:
    steps = proxy_steps(run, transport, "defaults")
    return figure_of(steps, delivered_share, "nginx with a distribution's defaults")


def kept_by_default_proxy(run: RecordedRun, transport: str) -> Reading:
    """The share of events nginx's defaults kept from the subscriber: what its author must
    configure a proxy for."""
    steps = proxy_steps(run, transport, "defaults")
    return figure_of(
        steps, lambda s: 1 - delivered_share(s), "nginx with a distribution's defaults"
    )


def events_per_cpu_ms(step: DeliveryStep) -> float | None:
    """Events delivered per ms of CPU of the server and nginx (0 when nginx refused)."""
    if not step.get("handshake_passed"):
        return 0.0
    cpu = step.get("server_cpu_us_per_message")
    return None if not cpu else 1000 / cpu


def notifications(run: RecordedRun, transport: str) -> Reading:
    steps = proxy_steps(run, transport, "defaults")
    where = "nginx defaults"
    if steps:
        where += f", {at_text(load_of(steps[0]))}"
    return figure_of(steps, events_per_cpu_ms, where)


def paths_delivering_all(run: RecordedRun, transport: str) -> Reading:
    """Of nginx's defaults, nginx tuned and Chromium: how many delivered every event."""
    paths: dict[str, Sequence[StepResult]] = {
        "nginx defaults": proxy_steps(run, transport, "defaults"),
        "nginx tuned": proxy_steps(run, transport, "tuned"),
        "Chromium": browser_steps(run, transport),
    }
    absent = [name for name, steps in paths.items() if not steps]
    if absent:
        return f"no step for {', '.join(absent)}"
    cited = [s for steps in paths.values() for s in steps]
    # A path that lost events is this figure's finding; a saturated one says nothing.
    hot = [s["id"] for s in cited if saturated(s) is not None]
    if hot:
        return f"saturated: {', '.join(hot)}"
    passed = 0
    for steps in paths.values():
        passed += all(delivered_all(s) for s in steps)
    return Figure((float(passed),), tuple(s["id"] for s in cited),
                  "of nginx defaults, nginx tuned, Chromium", *cores(cited))  # fmt: skip


def foreign_reads(run: RecordedRun, transport: str) -> Reading:
    """Events a page of another origin read, the server checking no Origin (Chromium)."""
    steps = browser_steps(run, transport)
    if not steps:
        return "no browser step"
    if saturated(steps[0]) is not None:
        return f"saturated: {steps[0]['id']}"
    found = steps[0].get("cross_origin", {}).get("no_origin_check")
    if found is None:
        return "the cross-origin page was not run"
    return Figure((float(found["events_read"]),), (steps[0]["id"],),
                  f"of {found['events_published']} published, a foreign page in Chromium",
                  *cores(steps[:1]))  # fmt: skip


def binary_overhead(run: RecordedRun, transport: str) -> Reading:
    """Wire bytes per binary event over its payload, at the run's largest binary payload."""
    binary = [s for s in run.deliveries("broadcast") if s["params"].get("binary")]
    if not binary:
        return "no binary step"
    size = max(int(s["params"]["payload_bytes"]) for s in binary)
    mine = [
        s
        for s in binary
        if s["transport"] == transport and int(s["params"]["payload_bytes"]) == size
    ]

    def ratio(step: DeliveryStep) -> float | None:
        total = wire(step)
        return None if total is None else total / size

    return figure_of(mine, ratio, f"binary events of {size // 1024} KiB")


def chat_steps(run: RecordedRun, transport: str, workload: str) -> list[ChatStep]:
    """The chat steps of one workload: "chat" (many rooms, a message every few seconds per
    member) or "games" (a few players, many updates a second each)."""
    # The workload sets its own payload: only the server's knobs (TLS, auth...) make a variant.
    return [
        s
        for s in run.chats(transport)
        if s["params"].get("workload", "chat") == workload
        and not any(s["params"].get(knob) for knob in KNOBS)
    ]


def chat_where(steps: Sequence[DeliveryStep], workload: str) -> str:
    if not steps:
        return workload
    p = steps[0]["params"]
    return (f"{workload}, {p['rooms']} rooms × {p['members_per_room']} members, "
            f"each publishing {p['member_rate']:g}/s")  # fmt: skip


def upstream_per_message(step: DeliveryStep) -> float | None:
    """Every byte the members sent, handshakes and polls included, per message they sent."""
    total = (step.get("bytes_per_message") or {}).get("total_up")
    published = step.get("published") or 0
    return None if total is None or not published else total / published


def client_upstream(run: RecordedRun, transport: str) -> Reading:
    """What a client's own messages cost on the wire, where each member sends many: the games
    workload (in a chat at 0.5 messages/s the connections' handshakes would outweigh them)."""
    steps = chat_steps(run, transport, "games")
    return figure_of(steps, upstream_per_message, chat_where(steps, "games"))


def acknowledgement_p99(run: RecordedRun, transport: str) -> Reading:
    """p99 from an edit's scheduled send to its acknowledgement: what an editor waits for."""
    steps = chat_steps(run, transport, "collaboration")
    where = chat_where(steps, "collaboration")
    found = [s["acknowledgement_us"] for s in steps if "acknowledgement_us" in s]
    if len(found) != len(steps):
        return f"no acknowledgement measured at {where}"
    short = [s["id"] for s, a in zip(steps, found, strict=True) if a["count"] < P99_EVENTS]
    if short:
        return f"fewer than {P99_EVENTS:,} acknowledgements in {', '.join(short)}"

    def p99_of(step: DeliveryStep) -> float | None:
        value = step["acknowledgement_us"]["p99"] if step["result"] == "chat" else None
        return None if value is None else value / 1000

    return figure_of(steps, p99_of, where)


def conversation_p99(workload: str) -> Callable[[RecordedRun, str], Reading]:
    def read(run: RecordedRun, transport: str) -> Reading:
        steps = chat_steps(run, transport, workload)
        return figure_of(steps, p99_ms, chat_where(steps, workload), p99=True)

    return read

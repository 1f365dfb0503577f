"""Where a delivery's cost goes: the floor of each transport's null server, the fan-out
path, py-spy's breakdown, and the capacity sweep."""

from __future__ import annotations

from record import (
    TRANSPORTS,
    WS_PEERS,
    DeliveryStep,
    RecordedRun,
)
from record.display import ms, num, pct, us
from report import selection
from report.format import core_use, fmt_ms, fmt_us
from report.model import Section, Table, explained
from report.sections.headline import capacity_text, headline_load
from report.selection import NAMES
from report.stats import Spread


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
            (selection.p50, fmt_ms, 1000.0),
            (selection.cpu, fmt_us, 1.0),
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
) -> list[DeliveryStep]:
    """Every repeat of a broadcast at `load` by this fan-out and ASGI server, otherwise plain."""
    plain = {"fanout": "direct", "server": "uvicorn"}
    return [
        s
        for s in run.deliveries("broadcast", transport)
        if s["params"].get("fanout", "direct") == fanout
        and s["params"].get("server", "uvicorn") == server
        and selection.load_of(s) == load
        and not selection.variant_params({**s["params"], **plain})
    ]


def share(cpu: Spread | None, of: Spread | None) -> str:
    """`cpu`'s median as a share of `of`'s."""
    return "–" if cpu is None or of is None or not of.median else f"{cpu.median / of.median:.0%}"


def fanout_table(run: RecordedRun) -> Table | None:
    """Where both fan-out paths ran: each next to the floors (null server, WebSocket peers), the
    same app under granian, and the textbook Starlette server (what a first attempt costs),
    where they ran."""
    loads = sorted(
        {
            selection.load_of(s)
            for s in run.deliveries("broadcast")
            if s["params"].get("fanout") == "asgi"
        }
    )
    rows = []
    for load in loads:
        for t in TRANSPORTS:
            direct = fanout_steps(run, t, load, "direct")
            if not direct or not fanout_steps(run, t, load, "asgi"):
                continue
            floor = selection.spread_of(selection.repeats(run, "baseline", t, load), selection.cpu)
            textbook = fanout_steps(run, t, load, "direct", "textbook")
            reference = selection.spread_of(textbook, selection.cpu)
            candidates = [
                (f"{NAMES[t]}, {f}", fanout_steps(run, t, load, f)) for f in ("direct", "asgi")
            ]
            candidates.append(
                (f"{NAMES[t]}, granian", fanout_steps(run, t, load, "asgi", "granian"))
            )
            candidates.append((f"{NAMES[t]}, textbook Starlette", textbook))
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
                    fmt_us(cpu),
        share(cpu, floor),
                    share(cpu, reference),
                    fmt_ms(selection.spread_of(steps, selection.p50)),
                    fmt_ms(selection.spread_of(steps, selection.p99)),
                    core_use(steps, "server_core"),
                    core_use(steps, "driver_core"),
                    f"{sum(s['lost'] for s in steps)} of {sum(s['expected'] for s in steps):,}",
                ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["server", "load", "server CPU/msg", "of its null server's", "of the textbook's", "p50",
         "p99",
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
    for step in run.knees():
        subscribers = int(step["params"]["subscribers"])
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


def floor_section(run: RecordedRun) -> Section | None:
    return explained(
        "The floor: each transport's null server",
        "The same load against a null server of the same transport (no framework, no "
        "queues, one write per socket): what the driver, the publisher and the kernel "
        "account for. The server's own share is ours minus the null server's.",
        server_share(run),
    )


def fanout_section(run: RecordedRun) -> Section | None:
    return explained(
        "The fan-out path: direct or through ASGI",
        "`direct` (the servers' default): each event is framed once and written to every "
        "ready socket as it is published. `asgi`: each event goes through the "
        "subscriber's queue, a task wake-up and ASGI `send`, the path every ASGI server "
        "offers. The same load, the same driver; the null server of the transport and the "
        "WebSocket peers (bare websockets, picows) are the floors. *textbook Starlette* "
        "(`scenarios/load/textbook.py`) is the transport as a tutorial writes it, on the "
        "same uvicorn: routes, an `asyncio.Queue` per subscriber, `json.dumps` per event "
        "and subscriber: what a first attempt costs.",
        fanout_table(run),
    )


def breakdown_section(run: RecordedRun) -> Section | None:
    return explained(
        "Where a delivery's server CPU goes",
        "From `python -m scenarios.tools.breakdown` (py-spy with native frames, sampling the "
        "server through a broadcast): each sample charged to the innermost layer it is "
        "in, times the CPU per delivery of an unsampled window at the same load (py-spy "
        "stops the server to sample it); samples of the loop waiting in `epoll_wait` are "
        "idle time, left out. `kernel write` is "
        "the socket write itself; `ASGI and HTTP` includes the publish request and, for "
        "long polling, every poll request.",
        breakdown_table(run),
    )


def sweep_section(run: RecordedRun) -> Section | None:
    return explained(
        "Capacity: offered-load sweep",
        "The offered rate doubles until p99 leaves the bound, an event is lost, the "
        "publisher falls behind, or the driver core saturates. Capacity is the highest "
        "offered load that passed.",
        sweep(run),
    )

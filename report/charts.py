"""Charts from a run, one consistent style: a colour per transport, units on every axis, the
run's machine and commit in every caption."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from record import (
    PEERS,
    TRANSPORTS,
    BytesPerMessage,
    DeliveryStep,
    RecordedRun,
    StepResult,
    delivers,
)
from report import selection, stats, timelines
from report.drawing import COLORS, SERIES, finish, plt
from report.selection import NAMES

REFERENCE_SUBSCRIBERS = 100
"""The fan-out of the reference figures (100 subscribers); the report compares there when it can."""


def comparison_load(run: RecordedRun, scenario: str = "broadcast") -> int | None:
    """The fan-out to compare transports at: the headline load's (the highest where all
    transports ran unsaturated), else the reference one if the run has it, else the smallest."""
    present = [t for t in TRANSPORTS if run.deliveries(scenario, t)]
    load = selection.comparison_load(run, present, scenario) if present else None
    if load is not None:
        return load[0]
    counts = sorted(
        {
            int(s["params"]["subscribers"])
            for s in run.deliveries(scenario)
            if not selection.variant(s)
        }
    )
    if REFERENCE_SUBSCRIBERS in counts:
        return REFERENCE_SUBSCRIBERS
    return counts[0] if counts else None


def plain(
    run: RecordedRun, scenario: str, transport: str, subscribers: int | None
) -> DeliveryStep | None:
    """The plain step at this load; with repeats, the one whose p50 is the median."""
    steps = [
        s
        for s in run.deliveries(scenario, transport)
        if not selection.variant(s) and s["params"]["subscribers"] == subscribers
    ]
    steps.sort(key=lambda s: s["latency_us"]["p50"] or 0)
    return steps[(len(steps) - 1) // 2] if steps else None


def latency_cdf(run: RecordedRun, path: Path) -> Path | None:
    subscribers = comparison_load(run)
    if subscribers is None:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    for transport in SERIES:
        for scenario, style, label in (
            ("broadcast", "-." if transport in PEERS else "-", NAMES[transport]),
            ("baseline", ":", f"null server ({transport})"),
        ):
            step = plain(run, scenario, transport, subscribers)
            histogram = run.histogram(step) if step else None
            if not histogram or not histogram.get_total_count():
                continue
            xs, ys, total, seen = [], [], histogram.get_total_count(), 0
            for item in histogram.get_recorded_iterator():
                seen += item.count_added_in_this_iter_step
                xs.append(item.value_iterated_to / 1000)
                ys.append(seen / total)
            color = COLORS["null"] if scenario == "baseline" else COLORS[transport]
            ax.plot(xs, ys, style, color=color, label=label, linewidth=1.8)
            if scenario == "broadcast":
                for q, marker in ((50, "o"), (99, "^")):
                    ax.plot(
                        histogram.get_value_at_percentile(q) / 1000,
                        q / 100,
                        marker,
                        color=color,
                        markersize=6,
                    )
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency (ms, log scale): receive time − scheduled send time")
    ax.set_ylabel("fraction of deliveries")
    ax.set_title(f"Latency CDF, broadcast to {subscribers} subscribers")
    ax.text(
        0.01,
        0.97,
        "● p50   ▲ p99   dotted: null server (harness + kernel)",
        transform=ax.transAxes,
        fontsize=8,
        va="top",
        color="#444444",
    )
    ax.legend(loc="lower right")
    return finish(fig, run, path)


def latency_vs_subscribers(run: RecordedRun, path: Path) -> Path | None:
    """Median over repeats, with the repeats' range as an error bar."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    for transport in SERIES:
        by_load: dict[int, list[DeliveryStep]] = {}
        for step in run.deliveries("broadcast", transport):
            if not selection.variant(step):
                by_load.setdefault(int(step["params"]["subscribers"]), []).append(step)
        if not by_load:
            continue
        xs = sorted(by_load)
        peer = transport in PEERS
        for key, get, style in (
            ("p50", selection.p50, "-.o" if peer else "-o"),
            ("p99", selection.p99, ":^" if peer else "--^"),
        ):
            values = [[(get(s) or 0) / 1000 for s in by_load[x]] for x in xs]
            medians = [statistics.median(v) for v in values]
            errors = [
                [m - min(v) for m, v in zip(medians, values, strict=True)],
                [max(v) - m for m, v in zip(medians, values, strict=True)],
            ]
            ax.errorbar(
                xs,
                medians,
                yerr=errors,
                fmt=style,
                color=COLORS[transport],
                capsize=3,
                label=f"{NAMES[transport]} {key}",
            )
            hot = [
                (x, m)
                for x, m in zip(xs, medians, strict=True)
                if any(selection.saturated(st) for st in by_load[x])
            ]
            if hot:
                ax.plot(
                    [x for x, _ in hot], [m for _, m in hot], "o", markersize=11,
                    markerfacecolor="white", markeredgecolor=COLORS[transport], zorder=0,
                )  # fmt: skip
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers in the room (log scale)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("p50 and p99 vs fan-out (bars: range of repeats; ringed: saturated)")
    ax.legend(ncol=3, fontsize=8)
    return finish(fig, run, path)


def _bars(
    run: RecordedRun,
    path: Path,
    title: str,
    ylabel: str,
    value: Callable[[StepResult], float | None],
    scenario: str = "broadcast",
    group_key: str = "subscribers",
    baseline: bool = False,
) -> Path | None:
    """One bar per transport and group, from `value` of each step of `scenario` (None: the
    step has no such figure)."""
    groups = sorted(
        {int(s["params"][group_key]) for s in run.of(scenario) if not selection.variant(s)}
    )
    if not groups:
        return None
    present = {s["transport"] for s in run.of(scenario) if not selection.variant(s)}
    nulls = ["null-longpoll", "null-sse", "null-ws"] if baseline else []
    series = [t for t in SERIES if t in present] + nulls
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    width = 0.8 / len(series)
    drawn = False
    for i, name in enumerate(series):
        is_null = name.startswith("null-")
        transport = name.removeprefix("null-")
        for j, group in enumerate(groups):
            steps = [
                s
                for s in run.of("baseline" if is_null else scenario, transport)
                if not selection.variant(s) and s["params"][group_key] == group
            ]
            spread = stats.spread([v for st in steps if (v := value(st)) is not None])
            if spread is None:
                continue
            figure = spread.median
            hollow = any(selection.saturated(st) for st in steps)
            bar = ax.bar(
                j + (i - (len(series) - 1) / 2) * width,
                figure,
                width * 0.95,
                yerr=[[figure - spread.low], [spread.high - figure]],
                capsize=2,
                error_kw={"elinewidth": 0.8, "ecolor": "#333333"},
                fill=not hollow,
                color=COLORS["null"] if is_null else COLORS[transport],
                hatch="//" if is_null else ".." if transport in PEERS else None,
                edgecolor="white",
                label=(f"null server ({transport})" if is_null else NAMES[transport])
                if j == 0
                else None,
            )
            ax.bar_label(bar, fmt="%.0f" if figure >= 10 else "%.1f", fontsize=7, padding=1)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks(range(len(groups)), [f"{g:,} {group_key}" for g in groups])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.text(
        0.01, 0.98, "bars: median of repeats; whiskers: interval; hollow: saturated",
        transform=ax.transAxes, fontsize=7, va="top", color="#444444",
    )  # fmt: skip
    ax.legend(fontsize=7, ncol=2 if len(series) > 4 else 1)
    return finish(fig, run, path)


def server_cpu(run: RecordedRun, path: Path) -> Path | None:
    return _bars(
        run,
        path,
        "Server CPU per delivered message (user + system)",
        "µs of server CPU per delivered message",
        lambda s: s.get("server_cpu_us_per_message") if delivers(s) else None,
        baseline=True,
    )


def driver_cpu(run: RecordedRun, path: Path) -> Path | None:
    return _bars(
        run,
        path,
        "Measuring driver CPU per delivered message (what the harness costs)",
        "µs of driver CPU per delivered message",
        lambda s: s.get("driver_cpu_us_per_message") if delivers(s) else None,
        baseline=True,
    )


def rss_per_connection(run: RecordedRun, path: Path) -> Path | None:
    return _bars(
        run,
        path,
        "Server memory per idle connection",
        "KiB of server RSS per connection",
        lambda s: (s["rss_per_connection_bytes"] or 0) / 1024 if s["result"] == "idle" else None,
        scenario="idle",
        group_key="connections",
    )


def wire_bytes(run: RecordedRun, path: Path) -> Path | None:
    subscribers = comparison_load(run)
    rows: list[tuple[str, int, float, float]] = []
    """(transport, payload, bytes down, bytes up) per delivered message."""
    for t in SERIES:
        step = plain(run, "broadcast", t, subscribers)
        b = step["bytes_per_message"] if step is not None else BytesPerMessage()
        down, payload = b.get("down"), b.get("payload")
        if down and payload is not None:
            rows.append((t, payload, down, b.get("up") or 0.0))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (transport, payload, down, up) in enumerate(rows):
        overhead = max(0.0, down - payload)
        ax.barh(
            i,
            payload,
            color=COLORS[transport],
            alpha=0.45,
            label="payload (data)" if i == 0 else None,
        )
        ax.barh(
            i,
            overhead,
            left=payload,
            color=COLORS[transport],
            label="protocol overhead down" if i == 0 else None,
        )
        ax.barh(
            i,
            up,
            left=payload + overhead,
            color="#555555",
            label="client → server" if i == 0 else None,
        )
        ax.text(
            payload + overhead + up + 3,
            i,
            f"{down:.0f} B down + {up:.0f} B up",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(rows)), [NAMES[row[0]] for row in rows])
    ax.set_xlabel(
        "bytes on the wire per delivered message (TCP payload, headers and framing included)"
    )
    ax.set_title(
        f"Wire bytes per delivered message, broadcast to {subscribers}, {rows[0][1]} B payload"
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    ax.set_xlim(0, max(down + up for _, _, down, up in rows) * 1.45)
    return finish(fig, run, path)


def knee(run: RecordedRun, path: Path) -> Path | None:
    steps = run.knees()
    if not steps:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    loads = sorted({int(step["params"]["subscribers"]) for step in steps})
    for step in steps:
        transport = step["transport"]
        points = step["points"]
        subscribers = int(step["params"]["subscribers"])
        dashed = loads.index(subscribers) % 2 == 1
        xs = [p["rate"] * subscribers for p in points]
        ys = [(p["latency_us"]["p99"] or 0) / 1000 for p in points]
        ax.plot(
            xs,
            ys,
            "--s" if dashed else "-o",
            color=COLORS[transport],
            label=f"{NAMES[transport]}, {step['params']['subscribers']} subscribers",
        )
        hot = [
            (x, y)
            for x, y, pt in zip(xs, ys, points, strict=True)
            if pt.get("utilisation", {}).get("saturated_because")
        ]
        if hot:
            ax.plot(
                [x for x, _ in hot], [y for _, y in hot], "o", markersize=8,
                markerfacecolor="white", markeredgecolor=COLORS[transport],
            )  # fmt: skip
        if step["max_sustainable_rate"]:
            knee_x = step["max_sustainable_rate"] * subscribers
            knee_y = next((y for x, y in zip(xs, ys, strict=True) if x == knee_x), None)
            if knee_y is not None:
                ax.plot(knee_x, knee_y, "*", color=COLORS[transport], markersize=15)
    bound = float(steps[0]["params"]["p99_bound_ms"])
    ax.axhline(bound, color="#999999", linestyle=":", label=f"p99 bound {bound:g} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered deliveries per second (publish rate × subscribers, log scale)")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.set_title("p99 vs offered load; ★ capacity (p99 under the bound, no loss); ○ saturated")
    ax.legend(fontsize=8)
    return finish(fig, run, path)


CHARTS: dict[str, Callable[[RecordedRun, Path], Path | None]] = {
    "latency-cdf": latency_cdf,
    "latency-vs-subscribers": latency_vs_subscribers,
    "wire-bytes": wire_bytes,
    "server-cpu": server_cpu,
    "driver-cpu": driver_cpu,
    "rss-per-connection": rss_per_connection,
    "knee": knee,
    "churn-timeline": timelines.churn_timeline,
    "soak": timelines.soak,
}


def draw_all(run: RecordedRun, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    drawn = {}
    for name, draw in CHARTS.items():
        path = draw(run, folder / f"{name}.png")
        if path is not None:
            drawn[name] = path
    return drawn

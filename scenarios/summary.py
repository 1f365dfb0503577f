"""A terminal table of a run's headline figures (the full report is a separate program).

Each kind says in words what load a step offered (`Kind.load`) and, when its figures are not
the broadcast table's columns, what it found (`Kind.summary`); idle connections and the
capacity sweep have tables of their own."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from record import DeliveryStep, IdleStep, KneeStep, Results, StepResult, delivers, describe_lock
from record.display import num
from scenarios.kinds import KINDS

STYLE = {"ok": "green", "degraded": "yellow", "failed": "red"}
BROADCAST = ("transport", "load", "status", "achieved/s", "p50", "p99", "p99.9", "max", "lost",
             "B↓/msg", "B↑/msg", "server µs/msg", "driver µs/msg")  # fmt: skip
IDLE = ("transport", "load", "status", "connected", "RSS before MiB", "RSS after MiB",
        "KiB/conn", "server µs/conn")  # fmt: skip
KNEE = ("transport", "subscribers", "bound p99 ms", "max rate/s", "deliveries/s",
        "stopped because")  # fmt: skip
WORDS = ("transport", "load", "stopped because")


def number(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return num(None if value is None else value / scale, digits=digits)


def table(title: str, columns: tuple[str, ...]) -> Table:
    made = Table(title=title, title_justify="left")
    for name in columns:
        made.add_column(name, justify="left" if name in WORDS else "right")
    return made


def load_of(step: StepResult) -> str:
    kind = KINDS.get(step["scenario"])
    return kind.load(step["params"]) if kind is not None and kind.load else step["scenario"]


def broadcast_row(step: DeliveryStep) -> list[str]:
    lat = step["latency_us"]
    wire = step.get("bytes_per_message") or {"down": None, "up": None}
    return [
        number(step.get("achieved_rate"), digits=1),
        *(number(lat[k], 1000, 2) for k in ("p50", "p99", "p99_9", "max")),
        f"{step.get('lost', 0):,}",
        number(wire.get("down"), digits=0),
        number(wire.get("up"), digits=0),
        number(step.get("server_cpu_us_per_message"), digits=1),
        number(step.get("driver_cpu_us_per_message"), digits=1),
    ]


def idle_row(step: IdleStep) -> list[str]:
    mib = 1024 * 1024
    return [
        f"{step['connected']:,}",
        number(step["server_rss_before_bytes"], mib, 1),
        number(step["server_rss_after_bytes"], mib, 1),
        number(step["rss_per_connection_bytes"], 1024, 1),
        number(step.get("server_cpu_us_per_connection"), digits=0),
    ]


def knee_row(step: KneeStep) -> list[str]:
    p = step["params"]
    return [
        step["transport"],
        f"{p['subscribers']:,}",
        f"{p['p99_bound_ms']:g}",
        number(step["max_sustainable_rate"]),
        number(step["max_sustainable_deliveries_per_second"]),
        step["stopped_because"],
    ]


def print_summary(results: Results, console: Console) -> None:
    broadcast = table(
        "Broadcast — latency = receive time − scheduled send time (open loop), ms", BROADCAST
    )
    idle = table("Idle connections — server memory", IDLE)
    knees = table("Knee — highest offered rate with p99 under the bound and no loss", KNEE)
    for step in results["steps"]:
        if step["result"] == "knee":
            knees.add_row(*knee_row(step))
            continue
        status = step["status"]
        into = idle if step["scenario"] == "idle" else broadcast
        name = step["transport"] + (" (null server)" if step["scenario"] == "baseline" else "")
        head = (name, load_of(step), f"[{STYLE.get(status, 'red')}]{status}[/]")
        kind = KINDS.get(step["scenario"])
        if step["result"] == "failed":
            into.add_row(*head, f"[red]{step['error'][:70]}[/]")
        elif kind is not None and kind.summary is not None:
            into.add_row(*head, kind.summary(step))
        elif step["result"] == "idle":
            into.add_row(*head, *idle_row(step))
        elif delivers(step) and "latency_us" in step:
            into.add_row(*head, *broadcast_row(step))
        else:
            into.add_row(*head, str(step.get("note", "")))
    for shown in (broadcast, knees, idle):
        if shown.row_count:
            console.print(shown)
    lock = results["software"].get("lock")
    style = "yellow" if lock is not None and lock["matches"] is False else "dim"
    console.print(f"[{style}]Environment: {escape(describe_lock(results['software']))}[/]")

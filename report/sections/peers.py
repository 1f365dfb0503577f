"""Our servers beside the reference peers, at the same load."""

from __future__ import annotations

from record import (
    PEERS,
    RecordedRun,
)
from record.display import num
from report import selection
from report.format import fmt_ms, fmt_us, median_of, ratio
from report.model import Section, Table
from report.selection import NAMES


def peers_section(run: RecordedRun) -> Section | None:
    """Our WebSocket server next to the bare websockets server and python-socketio, same load."""
    loads = sorted(
        {
            selection.load_of(s)
            for t in PEERS
            for s in run.deliveries("broadcast", t)
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
                    fmt_ms(selection.spread_of(steps, selection.p50)),
                    fmt_ms(selection.spread_of(steps, selection.p99)),
                    f"{num(median_of(steps, 'down'))} + {num(median_of(steps, 'up'))}",
                    fmt_us(cpu),
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

"""Our servers beside the reference peers, at the same load."""

from __future__ import annotations

from record import (
    PEER_TRANSPORTS,
    PEERS,
    TRANSPORTS,
    RecordedRun,
)
from record.display import num
from report import selection
from report.format import fmt_ms, fmt_us, median_of, ratio
from report.model import Section, Table
from report.selection import NAMES
from report.stats import Spread


def peers_section(run: RecordedRun) -> Section | None:
    """Our servers next to the bare websockets server, picows, python-socketio and Nchan, at
    the same load."""
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
        "instead: `websockets`' own asyncio server with `websockets.broadcast` and picows (no "
        "ASGI, no framework: the floors for WebSocket fan-out in Python), python-socketio under "
        "uvicorn, reached over its WebSocket transport and over Engine.IO long polling, and "
        "Nchan, nginx's pub/sub module in C, on its long polling, EventSource and WebSocket "
        "(the production server's floor for all three). The Python peers keep no resume buffer "
        "and no per-connection queue; our servers and Nchan do (see docs/socketio.md). Each "
        "figure is the median over the repeats, with [min–max]; the CPU ratio divides our "
        "server's median CPU per delivered message, on the peer's transport, by the peer's."
    )
    for load in loads:
        rows = []
        ours = {
            transport: selection.spread_of(
                selection.repeats(run, "broadcast", transport, load), selection.cpu
            )
            for transport in TRANSPORTS
        }
        for t in (*TRANSPORTS, *PEERS):
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
                    "–" if t in TRANSPORTS else same_transport_ratio(ours[PEER_TRANSPORTS[t]], cpu),
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
                    "our CPU ÷ this (same transport)",
                ],
                rows,
            )
        )
    return section


def same_transport_ratio(ours: Spread | None, theirs: Spread | None) -> str:
    return ratio(ours.median if ours else None, theirs.median if theirs else None)

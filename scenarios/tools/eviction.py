"""What a publish costs while the memory budget is spent, by how many rooms the server holds.

    python -m scenarios.tools.eviction [--rooms 100 1000 10000] [--publishes 20000] [--repeats 5]

Over its budget, every publish evicts (core/budget.py). Eviction must cost what it evicts,
not what the server holds: with 10,000 rooms of one event each (a room flood), a publish that
read every room to find one it may take from would be 100 times dearer than with 100.

On one in-memory broker, with no network and no server, publishes go round-robin to rooms
that each hold one event, with the budget spent: each publish evicts the published room's
older event, the only room then holding two.

One JSON line per room count: the median over repeats of the time per publish (and the
spread), with the events evicted per publish, which must be 1. Pin it to a core
(`taskset -c 0`) for stable figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from core.broker import MemoryBroker
from core.budget import ROOM_COST, event_cost
from core.config import Limits
from core.events import Event

DATA = {"text": "x" * 48}


def filled(rooms: int) -> MemoryBroker:
    """A broker with `rooms` rooms of one event each, and a budget of exactly what they hold."""
    names = [f"room-{n}" for n in range(rooms)]
    held = sum(ROOM_COST + event_cost(Event(1, name, DATA, 0)) for name in names)
    broker = MemoryBroker(Limits(memory_budget_bytes=held, max_rooms=rooms))
    for name in names:
        run(broker.publish(name, DATA))
    return broker


def run(coroutine: Any) -> Any:
    """Drive a broker call that never awaits (MemoryBroker's do not) without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("expected a broker call that completes without awaiting, got a suspension")


def publish_cost(rooms: int, publishes: int) -> tuple[float, int]:
    """Seconds per publish and the events evicted, for one fresh broker."""
    broker = filled(rooms)
    before = broker.budget.evicted_events
    names = [f"room-{n % rooms}" for n in range(publishes)]
    start = time.perf_counter()
    for name in names:
        run(broker.publish(name, DATA))
    elapsed = time.perf_counter() - start
    return elapsed / publishes, broker.budget.evicted_events - before


def measure(rooms: int, publishes: int, repeats: int) -> dict[str, Any]:
    costs: list[float] = []
    evicted = 0
    for _ in range(repeats):
        cost, evicted = publish_cost(rooms, publishes)
        costs.append(cost)
    return {
        "rooms": rooms,
        "publishes": publishes,
        "repeats": repeats,
        "us_per_publish": round(statistics.median(costs) * 1e6, 2),
        "spread_us": [round(min(costs) * 1e6, 2), round(max(costs) * 1e6, 2)],
        "evicted_per_publish": round(evicted / publishes, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scenarios.tools.eviction",
        description="Time a publish on a broker over its memory budget, by rooms held.",
    )
    parser.add_argument("--rooms", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--publishes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    for rooms in args.rooms:
        if rooms < 1:
            parser.error(f"expected rooms >= 1, got {rooms}")
    for rooms in args.rooms:
        print(json.dumps(measure(rooms, args.publishes, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

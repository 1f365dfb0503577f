"""A step's subscribers over several driver processes: how they are split, and how the
processes' results merge into one, raw histograms included."""

from __future__ import annotations

from typing import Any

from scenarios import ipc
from scenarios.measure import encode, merge


def split(total: int, parts: int) -> list[int]:
    """`total` subscribers over `parts` driver processes, as evenly as possible."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge_driver_results(results: list[ipc.DriverResult]) -> ipc.DriverResult:
    """One driver result from several processes: counts add up, histograms merge (raw samples,
    not percentiles), timelines add bucket by bucket."""
    if len(results) == 1:
        return results[0]
    merged: dict[str, Any] = {}
    each: list[dict[str, Any]] = [dict(r) for r in results]
    for key, value in each[0].items():
        values = [r[key] for r in each]
        if key == "histogram":
            merged[key] = encode(merge(values))
        elif key == "timeline":
            merged[key] = {
                **value,
                "delivered": add_series([v["delivered"] for v in values]),
                "reconnects": add_series([v["reconnects"] for v in values]),
            }
            if "p99_us" in value:  # percentiles do not add: the worst process stands
                merged[key]["p99_us"] = worst_series([v["p99_us"] for v in values])
        elif key == "complete":
            merged[key] = all(values)
        elif key.startswith("tcp_") or isinstance(value, int | float):
            merged[key] = None if any(v is None for v in values) else sum(values)
        elif isinstance(value, list):
            merged[key] = [item for v in values for item in v][:5]
        else:
            merged[key] = value
    return ipc.parse(ipc.DriverResult, merged)


def worst_series(series: list[list[int | None]]) -> list[int | None]:
    length = max(map(len, series), default=0)
    worst: list[int | None] = []
    for i in range(length):
        present = [v for s in series if i < len(s) and (v := s[i]) is not None]
        worst.append(max(present) if present else None)
    return worst


def add_series(series: list[list[int]]) -> list[int]:
    length = max(map(len, series), default=0)
    return [sum(s[i] for s in series if i < len(s)) for i in range(length)]

"""Pass/fail limits on a run's figures, for CI: `p99_ms>50` fails the run when any step's p99
latency is over 50 ms. The run (`--fail-if`, a profile's `[thresholds]`) checks them and exits
1 on a crossing; the report writes one JUnit test case per threshold. Both read them here.

A threshold is checked on every step that delivered events (each repeat on its own, as each is
a measurement); a step that failed is already a failure of the run, and is not checked again. A
figure the step did not measure (a remote server's CPU) crosses the threshold: a limit nobody
could check is not met."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypedDict

from record.steps import DELIVERING, StepResult


def _latency_ms(key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(step: dict[str, Any]) -> float | None:
        value = (step.get("latency_us") or {}).get(key)
        return None if value is None else value / 1000

    return read


def _key(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda step: step.get(name)


def _bytes_down(step: dict[str, Any]) -> float | None:
    return (step.get("bytes_per_message") or {}).get("down")


def _server_rss_mib(step: dict[str, Any]) -> float | None:
    rss = step.get("server_rss_bytes")
    return None if rss is None else rss / 2**20


def _delivered_share(step: dict[str, Any]) -> float | None:
    expected = step.get("expected")
    return None if not expected else step.get("delivered", 0) / expected


FIGURES: dict[str, tuple[str, Callable[[dict[str, Any]], float | None]]] = {
    "p50_ms": ("latency p50 (ms)", _latency_ms("p50")),
    "p99_ms": ("latency p99 (ms)", _latency_ms("p99")),
    "p999_ms": ("latency p99.9 (ms)", _latency_ms("p99_9")),
    "max_ms": ("latency max (ms)", _latency_ms("max")),
    "lost": ("events lost", _key("lost")),
    "duplicated": ("events delivered twice", _key("duplicated")),
    "reordered": ("events out of order", _key("reordered")),
    "delivered_share": ("delivered ÷ expected", _delivered_share),
    "achieved_rate": ("events published per second", _key("achieved_rate")),
    "bytes_down": ("wire bytes per message, server to subscriber", _bytes_down),
    "server_cpu_us": ("server CPU µs per delivery", _key("server_cpu_us_per_message")),
    "server_rss_mib": ("server RSS (MiB)", _server_rss_mib),
}
"""What a threshold can name: its meaning, and how a step's record gives it."""

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
SHAPE = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Threshold:
    """`figure operator limit`: the run fails when a step's figure makes it true."""

    figure: str
    operator: str
    limit: float

    @property
    def expression(self) -> str:
        return f"{self.figure}{self.operator}{self.limit:g}"

    def crossed_by(self, value: float | None) -> bool:
        return value is None or OPERATORS[self.operator](value, self.limit)


def parse(text: str) -> Threshold:
    """`p99_ms>50` → Threshold; ValueError, saying what was expected, otherwise."""
    found = SHAPE.match(text)
    if found is None:
        raise ValueError(
            f"expected a threshold like 'p99_ms>50' (a figure, one of > >= < <=, a number), "
            f"got {text!r}"
        )
    figure, op, limit = found.groups()
    if figure not in FIGURES:
        raise ValueError(f"expected a figure among {', '.join(FIGURES)}, got {figure!r}")
    return Threshold(figure, op, float(limit))


class CrossingRecord(TypedDict):
    step: str
    value: float | None
    """The step's figure; None: the step did not measure it."""


class ThresholdRecord(TypedDict):
    """A threshold as the results file keeps it: what it said and every step that crossed it."""

    expression: str
    meaning: str
    checked_steps: int
    crossed: list[CrossingRecord]


def check(thresholds: Iterable[Threshold], steps: Iterable[StepResult]) -> list[ThresholdRecord]:
    """Every threshold against every step that delivered events and did not fail."""
    measured = [
        step for step in steps if step.get("result") in DELIVERING and step["status"] != "failed"
    ]
    checked: list[ThresholdRecord] = []
    for threshold in thresholds:
        meaning, read = FIGURES[threshold.figure]
        crossed: list[CrossingRecord] = []
        for step in measured:
            value = read(dict(step))
            if threshold.crossed_by(value):
                shown = None if value is None else round(float(value), 3)
                crossed.append({"step": step["id"], "value": shown})
        checked.append({
            "expression": threshold.expression,
            "meaning": meaning,
            "checked_steps": len(measured),
            "crossed": crossed,
        })  # fmt: skip
    return checked


def held(record: ThresholdRecord) -> bool:
    """No step crossed it, and at least one step was checked against it."""
    return not record["crossed"] and record["checked_steps"] > 0


def outcome(record: ThresholdRecord) -> str:
    """What became of a threshold: held on how many steps, or each step that crossed it."""
    if not record["checked_steps"]:
        return "no step of the run delivered events to check it on"
    if not record["crossed"]:
        return f"held on {record['checked_steps']} step(s)"
    return "crossed by " + ", ".join(
        f"{c['step']} = {'not measured' if c['value'] is None else format(c['value'], 'g')}"
        for c in record["crossed"]
    )


def describe(record: ThresholdRecord) -> str:
    """One line per threshold, as the run prints it."""
    if held(record):
        return f"✓ {record['expression']}: {outcome(record)}"
    if not record["checked_steps"]:
        return f"✗ {record['expression']}: {outcome(record)}"
    return f"✗ {record['expression']} ({record['meaning']}): {outcome(record)}"

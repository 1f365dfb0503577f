"""How the report writes a number: one vocabulary for every table."""

from __future__ import annotations

from typing import Literal

from record import (
    StepResult,
    Utilisation,
)
from report import selection


def ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.2f} ms"


def num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def us(value: float | None) -> str:
    return num(value, " µs", 1)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def core_use(steps: list[StepResult], side: Literal["server_core", "driver_core"]) -> str:
    """A side's core utilisation over repeats, max of them (saturation is about the worst)."""
    values = [v for s in steps if (v := s.get("utilisation", Utilisation()).get(side)) is not None]
    return pct(max(values)) if values else "–"


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def median_of(steps: list[StepResult], direction: Literal["down", "up"]) -> float | None:
    """The median bytes per delivered message one way, over the repeats."""
    spread = selection.spread_of(steps, lambda s: s["bytes_per_message"].get(direction))
    return None if spread is None else spread.median

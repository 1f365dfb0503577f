"""How the report writes what it computes beyond one figure: a spread over repeats, a core's
use, a ratio. Single figures are written by `record.display`."""

from __future__ import annotations

from typing import Literal

from record import (
    DeliveryStep,
    Utilisation,
)
from record.display import MISSING, pct
from report import selection
from report.stats import Spread


def core_use(steps: list[DeliveryStep], side: Literal["server_core", "driver_core"]) -> str:
    """A side's core utilisation over repeats, max of them (saturation is about the worst)."""
    values = [v for s in steps if (v := s.get("utilisation", Utilisation()).get(side)) is not None]
    return pct(max(values)) if values else MISSING


def ratio(a: float | None, b: float | None) -> str:
    return MISSING if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def median_of(steps: list[DeliveryStep], direction: Literal["down", "up"]) -> float | None:
    """The median bytes per delivered message one way, over the repeats."""
    spread = selection.spread_of(steps, lambda s: s["bytes_per_message"].get(direction))
    return None if spread is None else spread.median


def fmt_ms(s: Spread | None) -> str:
    return fmt(s, 1 / 1000, " ms", 2)


def fmt_us(s: Spread | None) -> str:
    return fmt(s, 1, " µs", 1)


def fmt_bytes(s: Spread | None) -> str:
    return fmt(s, 1, " B", 0)


def fmt(s: Spread | None, scale: float, unit: str, digits: int) -> str:
    """`2.61 ms [2.50–2.70]` (the interval, n repeats shown by the table's note)."""
    if s is None:
        return MISSING
    middle = f"{s.median * scale:,.{digits}f}{unit}"
    if s.n < 2:
        return middle + " (1 run)"
    return f"{middle} [{s.low * scale:,.{digits}f}–{s.high * scale:,.{digits}f}]"
